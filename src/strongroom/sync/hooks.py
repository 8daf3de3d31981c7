"""Sync's subscriber to ``core.events.scope_changed`` (connected in ``SyncConfig.ready``).

The vault and accounts services publish the event when they change what someone may see;
this receiver reads *now* who is affected (so call it before a deletion, while the
paths to the deleted rows still exist) and marks those users' kept copies stale once the
transaction commits (``transaction.on_commit``; at once outside a transaction). A rolled
back change marks nothing. Cheap when nobody keeps a copy in sync (one query).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from strongroom.sync.selectors import sync_users_affected

logger = logging.getLogger(__name__)


def scope_changed(
    *,
    cause: str,
    user_ids: Iterable[Any] = (),
    user_group_ids: Iterable[Any] = (),
    resource_ids: Iterable[Any] = (),
    resource_group_ids: Iterable[Any] = (),
    **_signal: Any,
) -> None:
    affected = sync_users_affected(
        user_ids=list(user_ids),
        user_group_ids=list(user_group_ids),
        resource_ids=list(resource_ids),
        resource_group_ids=list(resource_group_ids),
    )
    if not affected:
        return

    def touch() -> None:
        # Imported here, not at the top: this module is loaded at start-up (SyncConfig.ready)
        # and copies.py brings the whole offline-file build (exports, kdbx, zxcvbn), which a
        # process that never changes a scope (most CLI commands) need not load.
        from strongroom.sync.copies import sync_copies_touch

        sync_copies_touch(user_ids=affected, cause=cause)

    transaction.on_commit(touch)
