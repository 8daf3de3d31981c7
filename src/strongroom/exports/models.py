"""The export / offline-access policy: one row of global settings and the per-subject rules
that override its on/off switch (precedence in ``exports/policy.py`` and docs/exports.md)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from strongroom.accounts.models import Role

DEFAULT_MIN_LENGTH = 12
DEFAULT_MIN_SCORE = 3
DEFAULT_ITERATIONS = 600_000
DEFAULT_MAX_AGE_DAYS = 30
#: Offline copy formats: the encrypted web page and the KeePass (KDBX 4) database.
OFFLINE_FORMATS = ("html", "kdbx")
DEFAULT_KDBX_MEMORY_MIB = 64
DEFAULT_KDBX_ITERATIONS = 3
DEFAULT_KDBX_PARALLELISM = 2
# What an encrypted HTML copy (format 4) carries of the accounts' attachments: files up to
# the first size, while the running total stays within the second; the others are listed by
# name and size only (docs/attachments.md).
DEFAULT_HTML_ATTACHMENT_MAX_BYTES = 1_048_576
DEFAULT_HTML_ATTACHMENTS_TOTAL_BYTES = 16_777_216
HTML_ATTACHMENT_CEILING_BYTES = 26_214_400
HTML_ATTACHMENTS_TOTAL_CEILING_BYTES = 104_857_600


def default_offline_formats() -> list[str]:
    return list(OFFLINE_FORMATS)


class ExportPolicy(models.Model):
    """The global policy. Exactly one row (pk 1), created with the defaults on first read."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    export_enabled = models.BooleanField(default=True)
    plain_text_allowed = models.BooleanField(default=False)
    reason_required = models.BooleanField(default=False)
    passphrase_min_length = models.PositiveSmallIntegerField(default=DEFAULT_MIN_LENGTH)
    passphrase_min_score = models.PositiveSmallIntegerField(default=DEFAULT_MIN_SCORE)
    kdf_iterations = models.PositiveIntegerField(default=DEFAULT_ITERATIONS)
    max_age_days = models.PositiveIntegerField(default=DEFAULT_MAX_AGE_DAYS)
    # Which offline copy formats users may make (a non-empty subset of OFFLINE_FORMATS),
    # and the Argon2id cost of new KeePass copies (docs/offline-kdbx.md).
    offline_formats = models.JSONField(default=default_offline_formats)
    kdbx_memory_mib = models.PositiveIntegerField(default=DEFAULT_KDBX_MEMORY_MIB)
    kdbx_iterations = models.PositiveSmallIntegerField(default=DEFAULT_KDBX_ITERATIONS)
    kdbx_parallelism = models.PositiveSmallIntegerField(default=DEFAULT_KDBX_PARALLELISM)
    html_attachment_max_bytes = models.PositiveIntegerField(
        default=DEFAULT_HTML_ATTACHMENT_MAX_BYTES
    )
    html_attachments_total_bytes = models.PositiveIntegerField(
        default=DEFAULT_HTML_ATTACHMENTS_TOTAL_BYTES
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "strongroom_export_policy"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="export_policy_singleton")]


class ExportRule(models.Model):
    """Export allowed or refused for one user, one user group or one role."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="export_rules",
    )
    user_group = models.ForeignKey(
        "accounts.UserGroup",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="export_rules",
    )
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    allowed = models.BooleanField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_export_rule"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, user_group__isnull=True, role="")
                    | Q(user__isnull=True, user_group__isnull=False, role="")
                    | (Q(user__isnull=True, user_group__isnull=True) & ~Q(role=""))
                ),
                name="export_rule_exactly_one_subject",
            ),
            models.UniqueConstraint(
                fields=["user"], name="export_rule_unique_user", condition=Q(user__isnull=False)
            ),
            models.UniqueConstraint(
                fields=["user_group"],
                name="export_rule_unique_user_group",
                condition=Q(user_group__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["role"], name="export_rule_unique_role", condition=~Q(role="")
            ),
        ]

    @property
    def subject_type(self) -> str:
        if self.user_id is not None:
            return "user"
        if self.user_group_id is not None:
            return "user_group"
        return "role"

    @property
    def subject_name(self) -> str:
        if self.user is not None:
            return self.user.username
        if self.user_group is not None:
            return self.user_group.name
        return Role(self.role).label if self.role in Role.values else self.role
