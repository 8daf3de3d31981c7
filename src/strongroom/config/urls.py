from django.urls import include, path

from strongroom.api.main import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("strongroom.vault.urls")),
    path("", include("strongroom.exports.urls")),
    path("", include("strongroom.storage.urls")),
    path("", include("strongroom.sync.urls")),
    path("", include("strongroom.web.urls")),
    path("metrics", include("strongroom.ops.urls")),
]
