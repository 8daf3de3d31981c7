"""URLs of the vault's web pages (namespace ``vault``)."""

from django.urls import path

from strongroom.vault import views

app_name = "vault"

urlpatterns = [
    path("resources/", views.resource_list, name="resource_list"),
    path("resources/new/", views.resource_create, name="resource_create"),
    path("resources/<uuid:resource_id>/", views.resource_detail, name="resource_detail"),
    path("resources/<uuid:resource_id>/edit/", views.resource_edit, name="resource_edit"),
    path("resources/<uuid:resource_id>/delete/", views.resource_delete, name="resource_delete"),
    path("resources/<uuid:resource_id>/sharing/", views.resource_sharing, name="resource_sharing"),
    path(
        "resources/<uuid:resource_id>/accounts/new/",
        views.account_create,
        name="account_create",
    ),
    path("accounts/<uuid:account_id>/edit/", views.account_edit, name="account_edit"),
    path("accounts/<uuid:account_id>/delete/", views.account_delete, name="account_delete"),
    path(
        "accounts/<uuid:account_id>/password/",
        views.password_retrieve,
        name="password_retrieve",
    ),
    path("accounts/<uuid:account_id>/totp/", views.totp_code, name="totp_code"),
    path("accounts/<uuid:account_id>/history/", views.password_history, name="password_history"),
    path(
        "accounts/<uuid:account_id>/history/<uuid:history_id>/password/",
        views.password_history_retrieve,
        name="password_history_retrieve",
    ),
    path("shares/<uuid:share_id>/revoke/", views.share_revoke, name="share_revoke"),
    path("shares/<uuid:share_id>/level/", views.share_level, name="share_level"),
    path("resource-groups/", views.resource_group_list, name="resource_group_list"),
    path("resource-groups/new/", views.resource_group_create, name="resource_group_create"),
    path(
        "resource-groups/<uuid:group_id>/",
        views.resource_group_detail,
        name="resource_group_detail",
    ),
    path(
        "resource-groups/<uuid:group_id>/edit/",
        views.resource_group_edit,
        name="resource_group_edit",
    ),
    path(
        "resource-groups/<uuid:group_id>/delete/",
        views.resource_group_delete,
        name="resource_group_delete",
    ),
    path(
        "resource-groups/<uuid:group_id>/sharing/",
        views.resource_group_sharing,
        name="resource_group_sharing",
    ),
    path(
        "resource-groups/<uuid:group_id>/resources/add/",
        views.resource_group_add_resource,
        name="resource_group_add_resource",
    ),
    path(
        "resource-groups/<uuid:group_id>/resources/<uuid:resource_id>/remove/",
        views.resource_group_remove_resource,
        name="resource_group_remove_resource",
    ),
    path("import/", views.import_csv, name="import"),
]
