"""One offline copy of a user's scope, whoever asks for it: the download in the Export menu
(``services.export_offline``) and the upload of a sync job (``sync.services``) make the
copy's keys and build its file here, so both follow the same policy in the same way.

* ``copy_keys_make``: the passphrase, already checked against the policy, becomes the copy's
  keys at the policy's cost (PBKDF2 for the encrypted web page, Argon2id for KeePass). The
  caller forgets the passphrase afterwards; only the keys go on.
* ``offline_copy_build``: the file of the user's scope (now, as the selectors see it) locked
  with those keys, with the policy's advisory expiry. Every build is written to the exposure
  register (which accounts at which password version, where it goes) before the file is
  returned; the caller reports whether it arrived (``exposure.services.build_delivered`` /
  ``build_not_delivered``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from strongroom.accounts.models import User
from strongroom.core.progress import ProgressFactory, no_progress
from strongroom.crypto import kdbx, offline
from strongroom.exports import offline_file, selectors
from strongroom.exports import policy as export_policy
from strongroom.exports.memory import gc_paused
from strongroom.exposure.services import BuildDestination, build_record
from strongroom.vault.attachments import attachments_for_accounts

CopyKeys = offline.CopyKeys | kdbx.KdbxKeys


def copy_keys_make(*, passphrase: str, fmt: str, policy: export_policy.Policy) -> CopyKeys:
    """New copy keys in the format's kind ("html" or "kdbx"), at the policy's KDF cost."""
    if fmt == "kdbx":
        return policy.kdbx_keys_create(passphrase)
    return offline.copy_keys_create(
        passphrase=passphrase,
        iterations=policy.kdf_iterations,
        minimum_iterations=export_policy.iterations_minimum(),
    )


def entries_with_attachments(
    entries: list[offline.OfflineEntry],
    *,
    max_bytes: int | None = None,
    total_bytes: int | None = None,
) -> list[offline.OfflineEntry]:
    """The entries with their accounts' attachments (docs/attachments.md). The entries are
    already the user's scope. KeePass copies carry every file (no limits); an HTML copy
    carries a file of at most ``max_bytes`` while the running total, in list order, stays
    within ``total_bytes``, and lists the others by name and size only (``data`` None)."""
    found = attachments_for_accounts(entry.entry_id for entry in entries)
    if not found:
        return entries
    budget = total_bytes
    out = []
    for entry in entries:
        files = found.get(entry.entry_id)
        if not files:
            out.append(entry)
            continue
        carried = []
        for name, data in files:
            fits = (max_bytes is None or len(data) <= max_bytes) and (
                budget is None or len(data) <= budget
            )
            if fits and budget is not None:
                budget -= len(data)
            carried.append(offline.OfflineAttachment(name, data if fits else None, size=len(data)))
        out.append(replace(entry, attachments=tuple(carried)))
    return out


def kdbx_description(*, owner: str, generated_at: Any, expires_at: Any) -> str:
    """The KeePass database description: who it is for, when it was made, until when."""
    text = f"Strongroom offline copy for {owner}, made {generated_at:%Y-%m-%d %H:%M} UTC."
    if expires_at is not None:
        text += f" Use it until {expires_at:%Y-%m-%d} (export policy)."
    return text


@dataclass(frozen=True)
class OfflineCopy:
    content: bytes
    sha256: str
    entry_count: int
    expires_at: datetime | None
    # The exposure register's record of this build.
    build_id: Any = None
    # Files attached to the accounts it holds that it carries (an HTML copy lists larger
    # ones without carrying them: ``attachments_listed_only``).
    attachment_count: int = 0
    attachments_listed_only: int = 0


@gc_paused()  # the entries and the file alike: see exports/memory.py
def offline_copy_build(
    *,
    user: User,
    keys: CopyKeys,
    scope: selectors.ExportScope,
    policy: export_policy.Policy,
    generated_at: datetime,
    progress: ProgressFactory = no_progress,
    destination: BuildDestination,
) -> OfflineCopy:
    """The offline file of what ``user`` may see in ``scope``, with every password, locked
    with ``keys``: a KeePass database for KeePass keys, else the encrypted web page. Raises
    ``ValueError`` when web page keys are weaker than the PBKDF2 minimum (an administrator
    raised it after the keys were made). The build is recorded in the exposure register
    with ``destination`` (fail closed: no record, no file)."""
    versions: list[tuple[str, int]] = []
    entries = selectors.export_entries(
        user=user, scope=scope, with_secrets=True, progress=progress, versions=versions
    )
    owner = f"{user.full_name} ({user.username})" if user.full_name else user.username
    expires_at = policy.expires_at(generated_at)
    if isinstance(keys, kdbx.KdbxKeys):
        entries = entries_with_attachments(entries)
        # A fresh master seed and IVs at every build; the copy's key opens each one.
        content = kdbx.kdbx_build(
            keys=keys,
            entries=entries,
            generated_at=generated_at,
            title=scope.title(),
            description=kdbx_description(
                owner=owner, generated_at=generated_at, expires_at=expires_at
            ),
        )
    else:
        entries = entries_with_attachments(
            entries,
            max_bytes=policy.html_attachment_max_bytes,
            total_bytes=policy.html_attachments_total_bytes,
        )
        content = offline_file.offline_file_build(
            copy_keys=keys,
            entries=entries,
            generated_at=generated_at,
            expires_at=expires_at,
            title=scope.title(),
            owner=owner[:1000],
            minimum_iterations=export_policy.iterations_minimum(),
        )
    build = build_record(
        user=user,
        fmt="kdbx" if isinstance(keys, kdbx.KdbxKeys) else "html",
        built_at=generated_at,
        destination=destination,
        versions=versions,
    )
    return OfflineCopy(
        build_id=build.pk,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        entry_count=len(entries),
        expires_at=expires_at,
        attachment_count=sum(item.included for entry in entries for item in entry.attachments),
        attachments_listed_only=sum(
            not item.included for entry in entries for item in entry.attachments
        ),
    )
