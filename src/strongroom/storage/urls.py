"""URLs of the cloud storage pages (namespace ``storage``)."""

from django.urls import path

from strongroom.storage import views

app_name = "storage"

urlpatterns = [
    path("storage/", views.connections, name="connections"),
    path("storage/<str:provider>/connect/", views.connect, name="connect"),
    path("storage/<str:provider>/authorize/", views.oauth_authorize, name="oauth_authorize"),
    path("storage/<str:provider>/oauth/code/", views.oauth_code, name="oauth_code"),
    path("storage/<str:provider>/oauth/callback/", views.oauth_callback, name="oauth_callback"),
    path(
        "storage/connections/<uuid:connection_id>/disconnect/",
        views.disconnect,
        name="disconnect",
    ),
    path("admin/storage/", views.admin_settings, name="admin"),
    path("admin/storage/proxy/", views.admin_proxy, name="admin_proxy"),
    path("admin/storage/<str:provider>/", views.admin_provider, name="admin_provider"),
    path("admin/storage/<str:provider>/test/", views.admin_test, name="admin_test"),
]
