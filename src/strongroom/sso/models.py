from __future__ import annotations

import uuid

from django.db import models

from strongroom.accounts.models import Role
from strongroom.core.models import SealedField


class OidcProvider(models.Model):
    """One OpenID Provider (Entra ID, Google Workspace, Keycloak...) people may sign in with."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    issuer = models.CharField(max_length=500)
    client_id = models.CharField(max_length=300)
    client_secret = SealedField()
    scopes = models.CharField(max_length=300, default="openid email profile")
    username_claim = models.CharField(max_length=100, default="preferred_username")
    allowed_domains = models.JSONField(default=list, blank=True)
    group_claim = models.CharField(max_length=100, blank=True)
    # Claim value -> Strongroom user group name, and claim value -> role.
    group_map = models.JSONField(default=dict, blank=True)
    role_map = models.JSONField(default=dict, blank=True)
    # When set, only people whose group claim holds this value may sign in.
    required_group = models.CharField(max_length=300, blank=True)
    default_role = models.CharField(max_length=20, choices=Role.choices, default=Role.PASSWORD_USER)
    jit = models.BooleanField(default=False)
    trust_mfa = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_oidc_provider"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OidcIdentity(models.Model):
    """Which provider subject is which Strongroom user (the ``sub`` claim, never the name)."""

    provider = models.ForeignKey(OidcProvider, on_delete=models.CASCADE, related_name="identities")
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="oidc_identities"
    )
    last_login = models.DateTimeField(null=True)

    class Meta:
        db_table = "strongroom_oidc_identity"
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="oidc_identity_unique")
        ]
