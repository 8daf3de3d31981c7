"""The password health report: results only, never a password (docs/health.md).

* ``HealthRun``: one computation by the worker over every account of the vault: who asked,
  when it ran, how it ended.
* ``AccountHealth``: what the run found for one account at one password version: the zxcvbn
  score, the reuse group (a label drawn at random for the run, never derived from the
  password) and its size, and how often the password appears in the breached list. No
  plaintext, no hash of a password, keyed or not.
* ``BreachedHash`` / ``BreachedList``: the breached-password list an administrator loaded
  (public data: SHA-1 hashes of passwords from breaches, as Have I Been Pwned publishes
  them), kept split as k-anonymity prefix and suffix so a lookup sends only a 5-digit
  prefix to the database.

Who sees what is decided when the report is read, through the vault's access rules
(``health.selectors``), so a revoked share hides an account at once.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from strongroom.vault.models import Account


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class HealthRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # "system" for the daily run and the CLI's ``--here`` without a user.
    requested_by_name = models.CharField(max_length=150)
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    account_count = models.PositiveIntegerField(default=0)
    # Whether a breached list was loaded when the run checked the passwords.
    breached_checked = models.BooleanField(default=False)
    problem = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "strongroom_health_run"
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["state", "requested_at"], name="health_run_state_at")]


class AccountHealth(models.Model):
    run = models.ForeignKey(HealthRun, on_delete=models.CASCADE, related_name="+")
    # Deleting an account deletes its result.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    # The password the result is about: ``password_changed_at`` in microseconds since the
    # epoch (exposure.models.version_of). A different current version means "changed
    # since the check": the result is stale and not shown as a finding.
    password_version = models.BigIntegerField()
    # zxcvbn's 0-4; NULL when the account has no password.
    score = models.PositiveSmallIntegerField(null=True)
    # Accounts sharing one password get the same label, drawn at random for this run (NULL:
    # no other account in the vault has this password); reuse_count is the group's size.
    reuse_group = models.PositiveIntegerField(null=True)
    reuse_count = models.PositiveIntegerField(default=1)
    # How many times the breached list saw this password (0: not in it); NULL: no list.
    breached_count = models.BigIntegerField(null=True)

    class Meta:
        db_table = "strongroom_account_health"
        constraints = [
            models.UniqueConstraint(fields=["run", "account"], name="account_health_run_account")
        ]


class BreachedHash(models.Model):
    # The first 5 hex digits of the SHA-1 (upper case) and the other 35, as the Pwned
    # Passwords range API splits them.
    prefix = models.CharField(max_length=5)
    suffix = models.CharField(max_length=35)
    count = models.BigIntegerField()

    class Meta:
        db_table = "strongroom_breached_hash"
        constraints = [
            models.UniqueConstraint(fields=["prefix", "suffix"], name="breached_hash_prefix_suffix")
        ]


class BreachedList(models.Model):
    """The one loaded list's description (at most one row)."""

    name = models.CharField(max_length=300)
    hash_count = models.PositiveIntegerField()
    loaded_at = models.DateTimeField()
    loaded_by_name = models.CharField(max_length=150)

    class Meta:
        db_table = "strongroom_breached_list"
