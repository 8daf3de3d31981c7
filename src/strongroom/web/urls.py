"""Pages of the web app and of the apps whose pages it hosts (the vault includes its own
URLs in config/urls.py)."""

from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from strongroom.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("livez", views.livez, name="livez"),
    # /healthz and /readyz are answered by core.middleware.HealthProbeMiddleware.
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True)),
    path("", include("strongroom.accounts.urls")),
    path("audit/", include("strongroom.audit.urls")),
    path("admin/directory/", include("strongroom.directory.urls")),
    path("notifications/", include("strongroom.notifications.urls")),
]
