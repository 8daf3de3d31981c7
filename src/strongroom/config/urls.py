from django.urls import include, path

from strongroom.api.main import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("strongroom.vault.urls")),
    path("", include("strongroom.exports.urls")),
    path("", include("strongroom.exposure.urls")),
    path("", include("strongroom.health.urls")),
    path("", include("strongroom.storage.urls")),
    path("", include("strongroom.sync.urls")),
    path("", include("strongroom.sso.urls")),
    path("", include("strongroom.web.urls")),
    path("metrics", include("strongroom.ops.urls")),
]

# Under /api/ these answer in the API's JSON error shape; elsewhere with the web pages.
handler400 = "strongroom.api.errors.bad_request"
handler403 = "strongroom.api.errors.permission_denied"
handler404 = "strongroom.api.errors.page_not_found"
handler500 = "strongroom.api.errors.server_error"
