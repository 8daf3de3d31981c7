"""The exposure register: which passwords went into which offline copy, and where it went.

* ``OfflineBuild``: one row per build of an offline copy (download or upload): who, which
  format, when, where it was handed out or uploaded, whether it got there.
* ``ExposureSet`` / ``ExposureSetEntry``: what a build held, as the set of (account ID,
  password version) pairs. Sets are content-addressed (``digest``): a rebuild whose accounts
  and passwords did not change (auto-sync after a rename, a note, a re-sync) reuses the set
  and writes no entry rows, so the register costs one row per build in the steady state.
* ``ExposureIncident``: "this device was lost": a user and the date from which their copies
  count; the status of each account (rotate / rotated) is computed when read.

No secret is stored, and no account name: entries name accounts by ID only, so the register
never shows more than the vault's own access rules allow (docs/exposure.md).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def version_of(changed_at: datetime | None) -> int:
    """An account's password version: the time of its last password change in microseconds
    since the epoch (0: never set). The vault sets that time on every password change
    (``account_create``, ``account_update``, the import), and only then."""
    if changed_at is None:
        return 0
    return (changed_at - _EPOCH) // _MICROSECOND


class ExposureSet(models.Model):
    # SHA-256 of the sorted (account ID, version) pairs.
    digest = models.CharField(max_length=64, unique=True)
    entry_count = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "strongroom_exposure_set"


class ExposureSetEntry(models.Model):
    pk = models.CompositePrimaryKey("exposure_set_id", "account_id")
    # The primary key's index (set first) serves lookups by set: no second one.
    exposure_set = models.ForeignKey(
        ExposureSet, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # No foreign key: the register outlives an account deleted from the vault.
    account_id = models.UUIDField()
    # The account's password version: ``password_changed_at`` in microseconds since the
    # epoch (0: no password yet). Every password change sets that time (vault services).
    version = models.BigIntegerField()

    class Meta:
        db_table = "strongroom_exposure_set_entry"
        indexes = [models.Index(fields=["account_id"], name="exposure_entry_account")]


class BuildState(models.TextChoices):
    # Built; not yet known to have arrived (an upload under way, or a worker that died).
    BUILT = "built", "Built"
    DELIVERED = "delivered", "Delivered"
    NOT_DELIVERED = "not_delivered", "Built, not delivered"


class Destination(models.TextChoices):
    DOWNLOAD = "download", "Download"
    STORAGE = "storage", "Cloud storage"


class OfflineBuild(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    username = models.CharField(max_length=150)
    format = models.CharField(max_length=8)
    built_at = models.DateTimeField()
    destination = models.CharField(max_length=16, choices=Destination.choices)
    provider = models.CharField(max_length=32, blank=True)
    # Kept as IDs and text, not foreign keys: the register outlives a removed connection.
    connection_id = models.UUIDField(null=True, blank=True)
    connection_label = models.CharField(max_length=300, blank=True)
    object_name = models.CharField(max_length=1000, blank=True)
    sync_job_id = models.UUIDField(null=True, blank=True)
    sync_copy_id = models.UUIDField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=BuildState.choices, default=BuildState.BUILT)
    delivered_at = models.DateTimeField(null=True, blank=True)
    problem = models.CharField(max_length=300, blank=True)
    entry_count = models.PositiveIntegerField()
    exposure_set = models.ForeignKey(ExposureSet, on_delete=models.PROTECT, related_name="builds")

    class Meta:
        db_table = "strongroom_offline_build"
        ordering = ["-built_at", "-id"]
        indexes = [
            models.Index(fields=["user", "built_at"], name="offline_build_user_at"),
            models.Index(fields=["built_at"], name="offline_build_at"),
        ]


class ExposureIncident(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    subject_name = models.CharField(max_length=150)
    # Copies built from ``since`` up to ``reported_at`` count.
    since = models.DateTimeField()
    reported_at = models.DateTimeField()
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reported_by_name = models.CharField(max_length=150)
    note = models.CharField(max_length=1000, blank=True)

    class Meta:
        db_table = "strongroom_exposure_incident"
        ordering = ["-reported_at", "-id"]
