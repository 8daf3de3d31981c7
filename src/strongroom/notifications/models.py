"""Notifications: short messages to one user about work that finished in the background
(an export, a cloud sync), shown in the web UI's notification area and on its own page."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from strongroom.core.models import SealedField


class Level(models.TextChoices):
    INFO = "info", "Information"
    SUCCESS = "success", "Success"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # A path on this server (validated by notification_post), never an external address.
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # What it is about (Kind): decides whether it also goes out by email.
    kind = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        db_table = "strongroom_notification"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_recent"),
            models.Index(
                fields=["user", "-created_at"],
                condition=models.Q(read_at__isnull=True),
                name="notification_user_unread",
            ),
        ]


class Kind(models.TextChoices):
    """What a notification is about: decides whether it also goes out by email."""

    GENERAL = "", "Other"
    SYNC_LANDED = "sync_landed", "A sync landed"
    SYNC_FAILED = "sync_failed", "A sync failed or a kept copy stopped"
    COPY_PASSPHRASE = "copy_passphrase", "A copy is paused and needs its passphrase"
    REAUTH_NEEDED = "reauth_needed", "A cloud connection needs re-authorisation"
    SHARED_WITH_ME = "shared_with_me", "A resource was shared with me"
    TEAM_EXPORT = "team_export", "Someone of my team exported (administrators)"
    CONFIG_PROBLEM = "config_problem", "A configuration problem (administrators)"
    AUDIT_CHAIN = "audit_chain", "The audit chain failed verification (administrators)"


# The kinds a person may receive by email, and which are on until they turn them off.
EMAIL_KINDS = [k for k in Kind if k != Kind.GENERAL]
ADMIN_KINDS = frozenset({Kind.TEAM_EXPORT, Kind.CONFIG_PROBLEM, Kind.AUDIT_CHAIN})
EMAIL_ON_BY_DEFAULT = frozenset({Kind.CONFIG_PROBLEM, Kind.AUDIT_CHAIN})


class Security(models.TextChoices):
    NONE = "none", "None (plain SMTP, local relays only)"
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "TLS (SMTPS, implicit TLS)"


class EmailSettings(models.Model):
    """The SMTP server notifications are sent through. Exactly one row (pk 1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    enabled = models.BooleanField(default=False)
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(default=587)
    security = models.CharField(max_length=16, choices=Security.choices, default=Security.STARTTLS)
    username = models.CharField(max_length=254, blank=True)
    password = SealedField()
    from_address = models.CharField(max_length=254, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "strongroom_email_settings"


class EmailPreference(models.Model):
    """One person's choice for one kind (no row: the kind's default)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    enabled = models.BooleanField()

    class Meta:
        db_table = "strongroom_email_preference"
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="email_preference_user_kind")
        ]


class OutboxState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
    SKIPPED = "skipped", "Skipped"


class EmailOutbox(models.Model):
    """One email to send, created in the transaction that posts its notification: the
    notification and its email exist together or not at all. Exactly one per notification,
    so a retry can never send a second, different message; its id is the Message-ID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    notification = models.OneToOneField(
        Notification, on_delete=models.CASCADE, related_name="email"
    )
    state = models.CharField(max_length=16, choices=OutboxState.choices, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker holds the row while it talks to the SMTP server; another takes it only after.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strongroom_email_outbox"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="email_outbox_due",
            )
        ]
