"""URLs of the vault's web pages (namespace ``vault``)."""

from django.urls import path

from strongroom.vault.views import (
    accounts,
    attachments,
    bulk,
    groups,
    importing,
    resources,
    sharing,
)

app_name = "vault"

urlpatterns = [
    path("resources/", resources.resource_list, name="resource_list"),
    path("resources/new/", resources.resource_create, name="resource_create"),
    path("resources/favourites/", bulk.favourite_list, name="favourite_list"),
    path("resources/recent/", bulk.recent_list, name="recent_list"),
    path("resources/bulk/", bulk.bulk_action, name="bulk_action"),
    path(
        "resources/<uuid:resource_id>/favourite/",
        bulk.favourite_toggle,
        name="favourite_toggle",
    ),
    path("resources/<uuid:resource_id>/", resources.resource_detail, name="resource_detail"),
    path("resources/<uuid:resource_id>/edit/", resources.resource_edit, name="resource_edit"),
    path("resources/<uuid:resource_id>/delete/", resources.resource_delete, name="resource_delete"),
    path(
        "resources/<uuid:resource_id>/sharing/", sharing.resource_sharing, name="resource_sharing"
    ),
    path(
        "resources/<uuid:resource_id>/accounts/new/",
        accounts.account_create,
        name="account_create",
    ),
    path("accounts/<uuid:account_id>/edit/", accounts.account_edit, name="account_edit"),
    path("accounts/<uuid:account_id>/delete/", accounts.account_delete, name="account_delete"),
    path(
        "accounts/<uuid:account_id>/password/",
        accounts.password_retrieve,
        name="password_retrieve",
    ),
    path("accounts/<uuid:account_id>/totp/", accounts.totp_code, name="totp_code"),
    path(
        "accounts/<uuid:account_id>/attachments/",
        attachments.attachment_list,
        name="attachment_list",
    ),
    path(
        "accounts/<uuid:account_id>/attachments/<uuid:attachment_id>/download/",
        attachments.attachment_download,
        name="attachment_download",
    ),
    path(
        "accounts/<uuid:account_id>/attachments/<uuid:attachment_id>/delete/",
        attachments.attachment_delete,
        name="attachment_delete",
    ),
    path("accounts/<uuid:account_id>/history/", accounts.password_history, name="password_history"),
    path(
        "accounts/<uuid:account_id>/history/<uuid:history_id>/password/",
        accounts.password_history_retrieve,
        name="password_history_retrieve",
    ),
    path("shares/<uuid:share_id>/revoke/", sharing.share_revoke, name="share_revoke"),
    path("shares/<uuid:share_id>/level/", sharing.share_level, name="share_level"),
    path("resource-groups/", groups.resource_group_list, name="resource_group_list"),
    path("resource-groups/new/", groups.resource_group_create, name="resource_group_create"),
    path(
        "resource-groups/<uuid:group_id>/",
        groups.resource_group_detail,
        name="resource_group_detail",
    ),
    path(
        "resource-groups/<uuid:group_id>/edit/",
        groups.resource_group_edit,
        name="resource_group_edit",
    ),
    path(
        "resource-groups/<uuid:group_id>/delete/",
        groups.resource_group_delete,
        name="resource_group_delete",
    ),
    path(
        "resource-groups/<uuid:group_id>/sharing/",
        groups.resource_group_sharing,
        name="resource_group_sharing",
    ),
    path(
        "resource-groups/<uuid:group_id>/resources/add/",
        groups.resource_group_add_resource,
        name="resource_group_add_resource",
    ),
    path(
        "resource-groups/<uuid:group_id>/resources/<uuid:resource_id>/remove/",
        groups.resource_group_remove_resource,
        name="resource_group_remove_resource",
    ),
    path("import/", importing.import_csv, name="import"),
]
