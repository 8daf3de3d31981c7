"""Writes of the password health report: asking for a run, the run itself (the worker
decrypts every password, scores it, finds reuse and breaches, and stores results only), and
the breached-password list (docs/health.md).

What is stored about a password: its zxcvbn score, a reuse label drawn at random for the
run (accounts sharing a password share the label) and how often the breached list saw it.
Never the password and never a hash of it: reuse is found in memory by HMAC-SHA256 under a
random key made for the run and dropped with it, and the breached list is searched by the
first 5 hex digits of the password's SHA-1 (the k-anonymity range), so the full hash is
compared in memory and never sent to the database either.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from random import SystemRandom
from typing import Any

from django.db import transaction
from django.utils import timezone
from zxcvbn import zxcvbn

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm, require_perm
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import (
    AppError,
    ErrorCode,
    PermissionDenied,
    Throttled,
    ValidationFailed,
)
from strongroom.core.secrets import Unsealer
from strongroom.core.validation import text_clean
from strongroom.exposure.models import version_of
from strongroom.health.models import (
    AccountHealth,
    BreachedHash,
    BreachedList,
    HealthRun,
    RunState,
)
from strongroom.vault.models import Account

logger = logging.getLogger(__name__)

SYSTEM = "system"
# zxcvbn's own limit; a longer password can only score higher.
ZXCVBN_MAX_LENGTH = 72
# Someone who is not an administrator may ask for a new run this long after the last one.
REFRESH_INTERVAL = timedelta(minutes=5)
# A queued or running run older than this is taken for lost (a worker killed, a queue
# outage) and no longer stops a new request.
RUN_LOST_AFTER = timedelta(hours=1)
BATCH = 2000
PREFIX_BATCH = 500
MAX_BREACHED_HASHES = 20_000_000
MAX_LIST_NAME = 300


def _sees_everything(actor: Any) -> bool:
    return bool(actor is not None and has_perm(actor, Perm.USERS_MANAGE))


# --------------------------------------------------------------------------- asking for a run


def health_run_request(*, actor: User | None, client_ip: str | None = None) -> HealthRun:
    """Queue a run over the whole vault (the worker computes it; ``tasks.health_run``). A
    run already queued or running is returned instead of a second one. Anyone signed in
    may ask (everyone's report comes from the one run); someone who is not an
    administrator at most once per ``REFRESH_INTERVAL``. ``actor=None``: the system."""
    if actor is not None and not (actor.is_authenticated and actor.is_active):
        raise PermissionDenied("sign in to refresh the password health report")
    now = timezone.now()
    with transaction.atomic():
        pending = (
            HealthRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING])
            .order_by("-requested_at")
            .first()
        )
        if pending is not None and pending.requested_at > now - RUN_LOST_AFTER:
            return pending
        if pending is not None:
            HealthRun.objects.filter(
                state__in=[RunState.QUEUED, RunState.RUNNING],
                requested_at__lte=now - RUN_LOST_AFTER,
            ).update(state=RunState.FAILED, finished_at=now, problem=ErrorCode.WORKER_LOST.value)
        if actor is not None and not _sees_everything(actor):
            last = HealthRun.objects.filter(state=RunState.DONE).order_by("-finished_at").first()
            if last is not None and last.finished_at and last.finished_at > now - REFRESH_INTERVAL:
                wait = int((last.finished_at + REFRESH_INTERVAL - now).total_seconds()) + 1
                raise Throttled(
                    f"the report was computed less than {REFRESH_INTERVAL.seconds // 60} minutes "
                    f"ago; try again in {wait} seconds",
                    retry_after=wait,
                )
        run = HealthRun(
            requested_by=actor,
            requested_by_name=actor.username if actor is not None else SYSTEM,
            requested_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.HEALTH_RUN_REQUEST,
            object_type="health_run",
            object_id=str(run.pk),
            client_ip=client_ip,
        )
        run.save(force_insert=True)
        transaction.on_commit(lambda: _enqueue(run.pk))
    logger.info("password health run %s requested", run.pk)
    return run


def _enqueue(run_id: Any) -> None:
    from strongroom.health.tasks import health_run

    try:
        health_run(str(run_id))
    except Exception:
        # The queue is down: the run stays queued and a later request replaces it.
        logger.exception("could not queue password health run %s", run_id)


# --------------------------------------------------------------------------- the run


@dataclass
class _Found:
    account_id: Any
    version: int
    score: int | None
    digest: bytes | None
    breached: int | None = None


def _score(password: str, user_inputs: list[str]) -> int:
    text = unicodedata.normalize("NFC", password)[:ZXCVBN_MAX_LENGTH]
    words = [w for w in user_inputs if w]
    return int(zxcvbn(text, user_inputs=words, max_length=ZXCVBN_MAX_LENGTH)["score"])


def _sha1(password: str) -> str:
    # Compared with the breached list in memory; a digest of the password is never stored.
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def _breached_counts(sha1s: dict[bytes, str]) -> dict[bytes, int]:
    """For each password (by its run digest), how often the breached list saw it. Only the
    5-digit prefixes go to the database; the suffixes are compared here."""
    by_prefix: dict[str, list[tuple[bytes, str]]] = {}
    for digest, full in sha1s.items():
        by_prefix.setdefault(full[:5], []).append((digest, full[5:]))
    found: dict[bytes, int] = dict.fromkeys(sha1s, 0)
    prefixes = list(by_prefix)
    for start in range(0, len(prefixes), PREFIX_BATCH):
        chunk = prefixes[start : start + PREFIX_BATCH]
        listed: dict[tuple[str, str], int] = {
            (p, s): c
            for p, s, c in BreachedHash.objects.filter(prefix__in=chunk).values_list(
                "prefix", "suffix", "count"
            )
        }
        for prefix in chunk:
            for digest, suffix in by_prefix[prefix]:
                found[digest] = listed.get((prefix, suffix), 0)
    return found


def _examine() -> tuple[list[_Found], bool]:
    """Every account of the vault, decrypted one at a time and examined in memory."""
    key = secrets.token_bytes(32)  # this run's reuse key: never stored, gone with the run
    unseal = Unsealer(Account).unseal
    check_breached = BreachedHash.objects.exists()
    # zxcvbn is most of a run's time: a password the last run scored at the same version
    # keeps its score (a password is scored again only when it changes).
    known: dict[Any, tuple[int, int | None]] = {}
    last = HealthRun.objects.filter(state=RunState.DONE).order_by("-finished_at").first()
    if last is not None:
        known = {
            account_id: (version, score)
            for account_id, version, score in AccountHealth.objects.filter(
                run=last, score__isnull=False
            ).values_list("account_id", "password_version", "score")
        }
    scores: dict[tuple[bytes, str, str], int] = {}
    sha1s: dict[bytes, str] = {}
    found: list[_Found] = []
    rows = (
        Account.objects.order_by()
        .values_list("pk", "password", "password_changed_at", "username", "resource__name")
        .iterator(chunk_size=BATCH)
    )
    for pk, blob, changed_at, username, resource_name in rows:
        password = unseal(blob, str(pk), "password") if blob is not None else None
        if not password:
            found.append(_Found(pk, version_of(changed_at), None, None))
            continue
        digest = hmac.new(key, password.encode("utf-8"), hashlib.sha256).digest()
        version = version_of(changed_at)
        before = known.get(pk)
        cache_key = (digest, username, resource_name)
        # Version 0 (no recorded change time) could hide a change: such a password is scored.
        unchanged = before is not None and version and before[0] == version
        score = before[1] if unchanged and before else scores.get(cache_key)
        if score is None:
            score = scores[cache_key] = _score(password, [username, resource_name])
        if check_breached and digest not in sha1s:
            sha1s[digest] = _sha1(password)
        found.append(_Found(pk, version, score, digest))
        del password
    del key
    if check_breached:
        counts = _breached_counts(sha1s)
        for item in found:
            if item.digest is not None:
                item.breached = counts[item.digest]
    sha1s.clear()
    return found, check_breached


def _reuse_labels(found: list[_Found]) -> dict[bytes, tuple[int, int]]:
    """Each shared password's (label, size): labels are numbers in a random order, so a
    label says nothing but "same password as the other accounts with this label"."""
    sizes: dict[bytes, int] = {}
    for item in found:
        if item.digest is not None:
            sizes[item.digest] = sizes.get(item.digest, 0) + 1
    shared = [digest for digest, size in sizes.items() if size > 1]
    SystemRandom().shuffle(shared)
    return {digest: (label, sizes[digest]) for label, digest in enumerate(shared, start=1)}


def health_run_compute(*, run_id: Any) -> HealthRun:
    """Compute a queued run (the worker's task; the CLI's ``--here``). A run not queued any
    more (done, failed, or claimed by another worker) is left alone. The run is audited
    (``health.run``) before any password is decrypted: no record, no run."""
    now = timezone.now()
    claimed = HealthRun.objects.filter(pk=run_id, state=RunState.QUEUED).update(
        state=RunState.RUNNING, started_at=now
    )
    run = HealthRun.objects.get(pk=run_id)
    if not claimed:
        return run
    try:
        audit_record(
            actor=None,
            action=AuditAction.HEALTH_RUN,
            object_type="health_run",
            object_id=str(run.pk),
            details={"requested_by": run.requested_by_name},
        )
        found, checked = _examine()
        labels = _reuse_labels(found)
        with transaction.atomic():
            # An account deleted while the run read the vault has no result (and no row to
            # point at).
            existing = set(Account.objects.values_list("pk", flat=True))
            rows = []
            for item in found:
                if item.account_id not in existing:
                    continue
                label, size = labels.get(item.digest, (None, 1)) if item.digest else (None, 1)
                rows.append(
                    AccountHealth(
                        run_id=run.pk,
                        account_id=item.account_id,
                        password_version=item.version,
                        score=item.score,
                        reuse_group=label,
                        reuse_count=size,
                        breached_count=item.breached,
                    )
                )
            AccountHealth.objects.bulk_create(rows, batch_size=BATCH)
            HealthRun.objects.filter(pk=run.pk).update(
                state=RunState.DONE,
                finished_at=timezone.now(),
                account_count=len(found),
                breached_checked=checked,
            )
            # Only the newest finished run is kept: older results say nothing more.
            HealthRun.objects.filter(state__in=[RunState.DONE, RunState.FAILED]).exclude(
                pk=run.pk
            ).delete()
        labels.clear()
    except AppError as exc:
        _failed(run.pk, str(exc.code))
        logger.warning("password health run %s failed: %s", run.pk, exc.code)
    except Exception:
        _failed(run.pk, ErrorCode.INTERNAL.value)
        raise
    run.refresh_from_db()
    logger.info("password health run %s: %d accounts", run.pk, run.account_count)
    return run


def _failed(run_id: Any, problem: str) -> None:
    HealthRun.objects.filter(pk=run_id).update(
        state=RunState.FAILED, finished_at=timezone.now(), problem=problem[:300]
    )


# --------------------------------------------------------------------------- breached list

_HASH_LINE = re.compile(r"([0-9A-Fa-f]{40})(?::([0-9]{1,18}))?")
_NTLM_LINE = re.compile(r"[0-9A-Fa-f]{32}(?::[0-9]+)?")


def _lines(source: Iterable[bytes | str]) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(source, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError:
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    line = raw[3:].decode("ascii", errors="replace")
                else:
                    raise ValidationFailed(
                        f"line {number} is not a line of the breached list: expected SHA1:COUNT "
                        "(40 hexadecimal digits, a colon, a count)",
                        field="file",
                        line=number,
                    ) from None
        else:
            line = raw.removeprefix("\ufeff") if number == 1 else raw
        yield number, line.strip()


def breached_list_parse(source: Iterable[bytes | str]) -> Iterator[tuple[str, str, int]]:
    """(prefix, suffix, count) per line of a Pwned Passwords SHA-1 file: ``SHA1:COUNT`` (the
    official downloader's format; the count may be left out, it is then 1). Blank lines are
    skipped; anything else stops the load with the line's number (never its content)."""
    for number, line in _lines(source):
        if not line:
            continue
        match = _HASH_LINE.fullmatch(line)
        if match is None:
            if _NTLM_LINE.fullmatch(line):
                raise ValidationFailed(
                    f"line {number} holds an NTLM hash (32 digits): load the SHA-1 list",
                    field="file",
                    line=number,
                )
            raise ValidationFailed(
                f"line {number} is not a line of the breached list: expected SHA1:COUNT "
                "(40 hexadecimal digits, a colon, a count)",
                field="file",
                line=number,
            )
        full = match.group(1).upper()
        yield full[:5], full[5:], int(match.group(2) or 1)


def breached_list_load(
    *,
    actor: User,
    source: Iterable[bytes | str],
    name: str,
    client_ip: str | None = None,
) -> BreachedList:
    """Replace the breached list with the file's hashes: all or nothing (a bad line, an
    empty file, too many hashes: nothing changes). Administrators only. The list is public
    data, stored as it is; a later run checks passwords against it."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    clean_name = text_clean("name", name or "", max_length=MAX_LIST_NAME, strip=True) or "list"
    total = 0
    with transaction.atomic():
        BreachedHash.objects.all().delete()
        batch: dict[tuple[str, str], int] = {}

        def flush() -> None:
            BreachedHash.objects.bulk_create(
                [BreachedHash(prefix=p, suffix=s, count=c) for (p, s), c in batch.items()],
                batch_size=BATCH,
                ignore_conflicts=True,
            )
            batch.clear()

        for prefix, suffix, count in breached_list_parse(source):
            total += 1
            if total > MAX_BREACHED_HASHES:
                raise ValidationFailed(
                    f"the list holds more than {MAX_BREACHED_HASHES:,} hashes",
                    field="file",
                    limit=MAX_BREACHED_HASHES,
                )
            key = (prefix, suffix)
            batch[key] = max(count, batch.get(key, 0))
            if len(batch) >= BATCH * 5:
                flush()
        flush()
        if total == 0:
            raise ValidationFailed("the file holds no hashes", field="file")
        stored = BreachedHash.objects.count()
        audit_record(
            actor=actor,
            action=AuditAction.HEALTH_BREACHED_LIST_LOAD,
            object_type="breached_list",
            object_name=clean_name,
            client_ip=client_ip,
            details={"hashes": stored, "lines": total},
        )
        BreachedList.objects.all().delete()
        loaded = BreachedList.objects.create(
            name=clean_name,
            hash_count=stored,
            loaded_at=timezone.now(),
            loaded_by_name=actor.username,
        )
    logger.info("breached list loaded: %d hashes", stored)
    return loaded


def breached_list_clear(*, actor: User, client_ip: str | None = None) -> int:
    """Remove the breached list; the next run checks no breaches. Returns how many hashes
    went."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    with transaction.atomic():
        gone = BreachedHash.objects.count()
        audit_record(
            actor=actor,
            action=AuditAction.HEALTH_BREACHED_LIST_CLEAR,
            object_type="breached_list",
            client_ip=client_ip,
            details={"hashes": gone},
        )
        BreachedHash.objects.all().delete()
        BreachedList.objects.all().delete()
    return gone
