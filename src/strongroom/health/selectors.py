"""Reads of the password health report, always scoped to the reader (docs/health.md).

* Everyone sees **their own report**: the accounts they can retrieve now (view level or
  more, through the vault's access rules, read when the report is read: a revoked share
  hides an account at once), each with its findings. Reuse is counted among those accounts
  only: "used by 2 of your accounts", never "also used somewhere you cannot see".
* Administrators also see **organisation-wide counts** per finding and the same counts per
  owner of the accounts (a username, never an account's name).
* Auditors also see the organisation-wide **counts only**.

Nobody sees a password, a hash of one, or the name of an account they cannot retrieve.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm, require_perm
from strongroom.core.settings_store import setting_get
from strongroom.exposure.models import version_of
from strongroom.health.models import AccountHealth, BreachedList, HealthRun, RunState
from strongroom.vault.models import Account
from strongroom.vault.selectors import resources_visible

WEAK, REUSED, OLD, BREACHED = "weak", "reused", "old", "breached"
FINDINGS = (WEAK, REUSED, OLD, BREACHED)
CHUNK = 5000


@dataclass(frozen=True)
class Policy:
    max_age_days: int
    min_score: int

    def old_before(self, now: datetime) -> datetime | None:
        return None if self.max_age_days == 0 else now - timedelta(days=self.max_age_days)


def policy_get() -> Policy:
    return Policy(
        max_age_days=int(setting_get("password_max_age_days")),
        min_score=int(setting_get("password_min_score")),
    )


@dataclass
class AccountFinding:
    account_id: uuid.UUID
    resource_id: uuid.UUID
    resource_name: str
    username: str
    score: int | None
    weak: bool
    # How many of the reader's accounts share this password (0: none besides this one).
    reused_with: int
    old: bool
    age_days: int | None
    breached: bool
    breached_count: int | None
    # The password changed after the run: score, reuse and breach wait for the next run.
    stale: bool
    # No result yet (the account is newer than the run).
    unchecked: bool

    @property
    def findings(self) -> list[str]:
        found = []
        if self.weak:
            found.append(WEAK)
        if self.reused_with:
            found.append(REUSED)
        if self.old:
            found.append(OLD)
        if self.breached:
            found.append(BREACHED)
        return found


@dataclass
class OwnerCounts:
    owner: str
    accounts: int
    counts: Counter[str]


@dataclass
class HealthReport:
    run: HealthRun | None
    pending: HealthRun | None
    policy: Policy
    breached_list: BreachedList | None
    accounts: list[AccountFinding] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    # Administrators and auditors: the organisation's counts; administrators: per owner.
    org_accounts: int | None = None
    org_counts: Counter[str] | None = None
    owners: list[OwnerCounts] | None = None

    @property
    def scope(self) -> str:
        if self.owners is not None:
            return "organisation"
        return "counts" if self.org_counts is not None else "own"


def sees_organisation(actor: Any) -> bool:
    """Administrators and auditors see the organisation's counts."""
    return has_perm(actor, Perm.USERS_MANAGE) or has_perm(actor, Perm.AUDIT_READ)


def _age_days(changed_at: datetime | None, now: datetime) -> int | None:
    return None if changed_at is None else max(0, (now - changed_at).days)


def _is_old(changed_at: datetime | None, old_before: datetime | None) -> bool:
    return old_before is not None and changed_at is not None and changed_at < old_before


def latest_run() -> HealthRun | None:
    return HealthRun.objects.filter(state=RunState.DONE).order_by("-finished_at").first()


def pending_run() -> HealthRun | None:
    """The newest run not finished, or the newest failed one if it is newer than the last
    good run (so the page can say it failed)."""
    newest = HealthRun.objects.order_by("-requested_at", "-id").first()
    if newest is None or newest.state == RunState.DONE:
        return None
    return newest


def health_report(*, actor: User, now: datetime | None = None) -> HealthReport:
    now = now or timezone.now()
    policy = policy_get()
    old_before = policy.old_before(now)
    report = HealthReport(
        run=latest_run(),
        pending=pending_run(),
        policy=policy,
        breached_list=BreachedList.objects.first(),
    )
    results: dict[uuid.UUID, tuple[int, int | None, int | None, int, int | None]] = {}
    if report.run is not None:
        columns = ("password_version", "score", "reuse_group", "reuse_count", "breached_count")
        for row in AccountHealth.objects.filter(run=report.run).values_list("account_id", *columns):
            results[row[0]] = row[1:]  # type: ignore[assignment]
    # The access gate: accounts on resources the reader can view (and so retrieve) now.
    visible = resources_visible(user=actor).values("pk")
    rows = (
        Account.objects.filter(resource_id__in=visible)
        .exclude(password__isnull=True)
        .values_list("pk", "resource_id", "resource__name", "username", "password_changed_at")
        .order_by("resource__name", "username", "pk")
    )
    groups: Counter[int] = Counter()
    pending: list[tuple[AccountFinding, int | None]] = []
    for pk, rid, rname, username, changed_at in rows.iterator(chunk_size=CHUNK):
        result = results.get(pk)
        unchecked = result is None
        stale = result is not None and result[0] != version_of(changed_at)
        fresh = result is not None and not stale
        score = result[1] if fresh and result else None
        group = result[2] if fresh and result else None
        breached_count = result[4] if fresh and result else None
        if group is not None:
            groups[group] += 1
        pending.append(
            (
                AccountFinding(
                    account_id=pk,
                    resource_id=rid,
                    resource_name=rname,
                    username=username,
                    score=score,
                    weak=score is not None and score < policy.min_score,
                    reused_with=0,
                    old=_is_old(changed_at, old_before),
                    age_days=_age_days(changed_at, now),
                    breached=bool(breached_count),
                    breached_count=breached_count,
                    stale=stale,
                    unchecked=unchecked,
                ),
                group,
            )
        )
    for finding, group in pending:
        if group is not None and groups[group] > 1:
            finding.reused_with = groups[group] - 1
        report.counts.update(finding.findings)
        report.accounts.append(finding)
    if sees_organisation(actor):
        _org_counts(report, results, old_before, per_owner=has_perm(actor, Perm.USERS_MANAGE))
    return report


def _org_counts(
    report: HealthReport,
    results: dict[uuid.UUID, Any],
    old_before: datetime | None,
    *,
    per_owner: bool,
) -> None:
    """Counts over every account of the vault with a password, and per owner for
    administrators. Reuse is counted from the run's labels among the accounts that still
    exist with the password the run saw (as for a reader's own list), so a deleted or
    changed copy of a password ends the other's reuse at once."""
    rows = []
    groups: Counter[int] = Counter()
    accounts = (
        Account.objects.exclude(password__isnull=True)
        .values_list("pk", "password_changed_at", "resource__owner__username")
        .order_by()
    )
    for pk, changed_at, owner in accounts.iterator(chunk_size=CHUNK):
        result = results.get(pk)
        fresh = result if result is not None and result[0] == version_of(changed_at) else None
        if fresh is not None and fresh[2] is not None:
            groups[fresh[2]] += 1
        rows.append((changed_at, owner, fresh))
    total: Counter[str] = Counter()
    owners: dict[str, OwnerCounts] = {}
    for changed_at, owner, fresh in rows:
        found: list[str] = []
        if fresh is not None:
            _version, score, group, _size, breached = fresh
            if score is not None and score < report.policy.min_score:
                found.append(WEAK)
            if group is not None and groups[group] > 1:
                found.append(REUSED)
            if breached:
                found.append(BREACHED)
        if _is_old(changed_at, old_before):
            found.append(OLD)
        total.update(found)
        if per_owner:
            entry = owners.get(owner)
            if entry is None:
                entry = owners[owner] = OwnerCounts(owner=owner, accounts=0, counts=Counter())
            entry.accounts += 1
            entry.counts.update(found)
    report.org_accounts = len(rows)
    report.org_counts = total
    if per_owner:
        report.owners = sorted(
            owners.values(), key=lambda o: (-sum(o.counts.values()), o.owner.casefold())
        )


def breached_list_get(*, actor: User) -> BreachedList | None:
    """The loaded breached list's description (administrators only)."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    return BreachedList.objects.first()
