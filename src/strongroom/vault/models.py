"""The vault: resources, their accounts and password history, resource groups, shares."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from strongroom.core.models import SealedField


class AccessLevel(models.IntegerChoices):
    VIEW = 1, "view"
    MODIFY = 2, "modify"
    MANAGE = 3, "manage"


class Resource(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=500)
    resource_type = models.CharField(max_length=100, blank=True)
    host = models.CharField(max_length=1000, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    description = models.TextField(blank=True)
    department = models.CharField(max_length=300, blank=True)
    location = models.CharField(max_length=300, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_resources"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strongroom_resource"
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["resource_type"])]


class Account(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="accounts")
    username = models.CharField(max_length=500)
    password = SealedField()
    notes = SealedField()
    totp_seed = SealedField()
    password_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strongroom_account"
        ordering = ["username", "id"]
        # A search that tests resources one by one (vault.search.resources_matching_row_q)
        # reads each one's usernames from this index alone, not from the wide account rows.
        indexes = [models.Index(fields=["resource", "username"], name="account_resource_username")]


class PasswordHistory(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="history")
    password = SealedField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_password_history"
        ordering = ["-created_at"]


class ResourceGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_resource_groups"
    )
    resources = models.ManyToManyField(Resource, related_name="resource_groups", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_resource_group"
        ordering = ["name", "id"]


class Share(models.Model):
    """Access granted on a resource or a resource group to a user or a user group."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.ForeignKey(
        Resource, on_delete=models.CASCADE, null=True, blank=True, related_name="shares"
    )
    resource_group = models.ForeignKey(
        ResourceGroup, on_delete=models.CASCADE, null=True, blank=True, related_name="shares"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="shares",
    )
    user_group = models.ForeignKey(
        "accounts.UserGroup",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="shares",
    )
    level = models.PositiveSmallIntegerField(choices=AccessLevel.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_share"
        constraints = [
            models.CheckConstraint(
                condition=(Q(resource__isnull=False) & Q(resource_group__isnull=True))
                | (Q(resource__isnull=True) & Q(resource_group__isnull=False)),
                name="share_exactly_one_target",
            ),
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(user_group__isnull=True))
                | (Q(user__isnull=True) & Q(user_group__isnull=False)),
                name="share_exactly_one_grantee",
            ),
            models.UniqueConstraint(
                fields=["resource", "user"],
                name="share_unique_resource_user",
                condition=Q(resource__isnull=False, user__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["resource", "user_group"],
                name="share_unique_resource_group",
                condition=Q(resource__isnull=False, user_group__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["resource_group", "user"],
                name="share_unique_rgroup_user",
                condition=Q(resource_group__isnull=False, user__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["resource_group", "user_group"],
                name="share_unique_rgroup_group",
                condition=Q(resource_group__isnull=False, user_group__isnull=False),
            ),
        ]


class Visibility(models.Model):
    """Who can see which resource, at which level: the access rules of
    ``vault.selectors`` worked out ahead of time (``vault.visibility``), one row per (user,
    resource) pair the rules give a level. Lists, counts, searches and menus read it instead
    of walking every share of the user on every query; the services rewrite the rows a
    change touches in the change's own transaction. Inactive users keep their rows (the
    selectors refuse inactive users before reading it), so (de)activation rewrites nothing.
    """

    # The unique (user, resource) index serves every read by user; no second one on user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+")
    level = models.PositiveSmallIntegerField(choices=AccessLevel.choices)
    # Copies of the resource's, for the list's type and department menus: read from the
    # (user, type, department) index alone instead of looking up every visible resource.
    resource_type = models.CharField(max_length=100, blank=True)
    department = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "strongroom_visibility"
        constraints = [
            models.UniqueConstraint(fields=["user", "resource"], name="visibility_unique")
        ]
        indexes = [
            models.Index(
                fields=["user", "resource_type", "department"], name="visibility_user_menus"
            )
        ]


class Favourite(models.Model):
    """A resource a user marked to find it quickly. Personal: nobody else sees it. A row
    outlives the user's access (a share revoked and granted again brings the star back), but
    every read joins the access rules, so a favourite never shows what the user cannot see."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_favourite"
        constraints = [
            models.UniqueConstraint(fields=["user", "resource"], name="favourite_unique")
        ]


class Attachment(models.Model):
    """A file kept with an account (a certificate, an SSH key, a licence file). Its content
    is sealed like a password (``content``, see ``vault.attachments``); its name and size
    are descriptive, like the account's username, and stay readable."""

    #: Key rotation re-seals this many rows per transaction (each may be a large file).
    SEALED_BATCH_SIZE = 4

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content = SealedField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_attachment"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="attachment_unique_name")
        ]
