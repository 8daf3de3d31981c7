from django.urls import path

from strongroom.sso import views

app_name = "sso"

urlpatterns = [
    path("sso/code/", views.sso_code_view, name="code"),
    path("sso/<slug:slug>/start/", views.sso_start_view, name="start"),
    path("sso/<slug:slug>/callback/", views.sso_callback_view, name="callback"),
    path("admin/sign-in-providers/", views.provider_list_view, name="provider_list"),
    path(
        "admin/sign-in-providers/<slug:slug>/", views.provider_detail_view, name="provider_detail"
    ),
    path(
        "admin/sign-in-providers/<slug:slug>/test/", views.provider_test_view, name="provider_test"
    ),
    path(
        "admin/sign-in-providers/<slug:slug>/delete/",
        views.provider_delete_view,
        name="provider_delete",
    ),
]
