"""People: users with roles, user groups, TOTP, recovery codes, API tokens, login attempts."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models

from strongroom.core.models import SealedField


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    PASSWORD_ADMIN = "password_admin", "Password Administrator"
    PASSWORD_USER = "password_user", "Password User"
    AUDITOR = "auditor", "Auditor"


class Scope(models.TextChoices):
    """What an API token may do. A token's powers are its scopes *and* its owner's role:
    a scope never grants what the role does not allow."""

    READ = "read", "Read (lists and details, never passwords)"
    RETRIEVE = "retrieve", "Retrieve passwords and exports"
    WRITE = "write", "Change things"
    ADMIN = "admin", "Administration (users, groups, settings, policy)"


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PASSWORD_USER)
    full_name = models.CharField(max_length=300, blank=True)
    totp_secret = SealedField()
    totp_enabled = models.BooleanField(default=False)
    totp_last_step = models.BigIntegerField(default=0)
    must_change_password = models.BooleanField(default=False)

    class Meta:
        db_table = "strongroom_user"
        ordering = ["username"]


class UserGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(User, related_name="user_groups", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_user_group"
        ordering = ["name"]


class RecoveryCode(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=200)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strongroom_recovery_code"


class ApiToken(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A list of Scope values, in Scope's order.
    scopes = models.JSONField(default=list)
    # The re-authentication proof of this token (POST /api/v1/auth/reauth): the SHA-256 of
    # the secret sent back in X-Strongroom-Reauth, and when the password and second factor
    # were checked. Only the holder of both the token and that secret is in "sudo mode".
    reauth_hash = models.CharField(max_length=64, blank=True, default="")
    reauth_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strongroom_api_token"
        ordering = ["-created_at"]


class LoginAttempt(models.Model):
    username = models.CharField(max_length=150, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    succeeded = models.BooleanField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "strongroom_login_attempt"
