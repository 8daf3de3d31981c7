"""Cloud storage: the admin's per-provider settings, the outbound proxy, and each user's
connection to a provider. Secrets live only in sealed columns (``core.models.SealedField``)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from strongroom.core.models import SealedField


class _AdminEdited(models.Model):
    """A settings row an administrator edits: when and by whom it last changed."""

    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True


class ProviderSettings(_AdminEdited):
    """The admin's settings of one provider (registry name), created on first read."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=32, unique=True)
    enabled = models.BooleanField(default=False)
    #: Non-secret settings, e.g. {"endpoints": ["https://minio.example:9000"]} for S3,
    #: {"base_dir": "/srv/sync"} for the local folder, {"app_key": "..."} for Dropbox.
    config = models.JSONField(default=dict, blank=True)
    #: Sealed JSON of admin secrets (Box client secret...).
    secret = SealedField()

    class Meta:
        db_table = "strongroom_storage_provider_settings"


class ProxySettings(_AdminEdited):
    """The outbound HTTP(S) proxy every provider uses. Exactly one row (pk 1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    enabled = models.BooleanField(default=False)
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(default=3128)
    username = models.CharField(max_length=150, blank=True)
    password = SealedField()

    class Meta:
        db_table = "strongroom_storage_proxy_settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="storage_proxy_singleton")]


class StorageConnection(models.Model):
    """One user's connection to one provider."""

    class Status(models.TextChoices):
        CONNECTED = "connected"
        NEEDS_REAUTH = "needs_reauth"
        DISCONNECTED = "disconnected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="storage_connections"
    )
    provider = models.CharField(max_length=32)
    #: Non-secret settings: bucket, region, prefix, endpoint, folder...
    config = models.JSONField(default=dict, blank=True)
    #: Sealed JSON text of the secrets: keys or OAuth tokens. None once disconnected.
    credentials = SealedField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTED)
    status_message = models.CharField(max_length=500, blank=True)
    account_label = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strongroom_storage_connection"
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="storage_connection_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider} connection of user {self.user_id}"

    @property
    def is_connected(self) -> bool:
        return self.status == self.Status.CONNECTED


class OAuthPending(models.Model):
    """One started OAuth authorisation (Dropbox, Box), kept in the database so that any web
    node can finish it: the ``state`` is stored only as its SHA-256 digest, the PKCE
    verifier only sealed. Bound to the user (and, for the web UI, to the session that
    started it), single-use (``used_at`` is set by a conditional update) and expiring."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=32)
    state_digest = models.CharField(max_length=64, unique=True)
    #: SHA-256 of the Django session key that started the flow ("" for the API).
    session_digest = models.CharField(max_length=64, blank=True)
    code_verifier = SealedField()
    redirect_uri = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strongroom_storage_oauth_pending"
        indexes = [models.Index(fields=["user", "provider"], name="storage_oauth_user_provider")]
