"""The directory (LDAP / Active Directory) settings, group mappings and linked accounts."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from strongroom.accounts.models import Role, UserGroup
from strongroom.core.models import SealedField


class Security(models.TextChoices):
    LDAPS = "ldaps", "LDAPS (TLS from the first byte, port 636)"
    STARTTLS = "starttls", "StartTLS (upgrade on port 389)"


class Nesting(models.TextChoices):
    # Active Directory resolves nested groups server-side with LDAP_MATCHING_RULE_IN_CHAIN.
    IN_CHAIN = "in_chain", "Active Directory (LDAP_MATCHING_RULE_IN_CHAIN)"
    # OpenLDAP and others lack that rule: Strongroom walks the member links itself.
    WALK = "walk", "Walk group members (OpenLDAP and other servers)"


class DirectoryConfig(models.Model):
    """The one directory Strongroom signs users in against (a single row)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enabled = models.BooleanField(default=False)
    # One URL per line, tried in order (ldaps://dc1.example.com, ldap://dc2.example.com ...).
    server_urls = models.TextField(blank=True)
    security = models.CharField(max_length=10, choices=Security.choices, default=Security.LDAPS)
    ca_bundle = models.TextField(blank=True)
    bind_dn = models.CharField(max_length=1000, blank=True)
    bind_password = SealedField()
    user_search_base = models.CharField(max_length=1000, blank=True)
    user_filter = models.CharField(max_length=1000, default="(objectClass=inetOrgPerson)")
    username_attribute = models.CharField(max_length=100, default="uid")
    email_attribute = models.CharField(max_length=100, default="mail")
    name_attribute = models.CharField(max_length=100, default="cn")
    group_search_base = models.CharField(max_length=1000, blank=True)
    group_filter = models.CharField(max_length=1000, default="(objectClass=groupOfNames)")
    nesting = models.CharField(max_length=10, choices=Nesting.choices, default=Nesting.WALK)
    # Only members (directly or through nested groups) may sign in; blank: every user found.
    allowed_group_dn = models.CharField(max_length=1000, blank=True)
    jit_create = models.BooleanField(default=False)
    default_role = models.CharField(max_length=20, choices=Role.choices, default=Role.PASSWORD_USER)
    timeout_seconds = models.PositiveSmallIntegerField(default=10)
    updated_at = models.DateTimeField(auto_now=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_result = models.JSONField(default=dict, blank=True)


class GroupMapping(models.Model):
    """Members of a directory group join a Strongroom user group and/or get a role."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group_dn = models.CharField(max_length=1000)
    user_group = models.ForeignKey(UserGroup, null=True, blank=True, on_delete=models.CASCADE)
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)

    class Meta:
        ordering = ["group_dn"]


class DirectoryAccount(models.Model):
    """A Strongroom user whose password lives in the directory."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_account"
    )
    dn = models.CharField(max_length=1000)
    last_seen_at = models.DateTimeField(null=True, blank=True)
