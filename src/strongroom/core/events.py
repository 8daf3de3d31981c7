"""Domain events that lower layers publish and higher layers subscribe to.

The vault and accounts services announce *what* changed; features built on top of them
(sync today) decide what to do about it, subscribing in their ``AppConfig.ready()`` the way
``storage/signals.py`` hooks user deactivation. Core knows no app.

``scope_changed`` — someone's set of visible passwords may have changed. Publish it *before*
a deletion, while the paths to the deleted rows still exist: a receiver reads now who is
affected and acts after commit. Keyword arguments (all iterables of primary keys except
``cause``): ``cause`` (an audit-style action name), ``user_ids``, ``user_group_ids``,
``resource_ids``, ``resource_group_ids``. Receivers must not raise for a normal change;
an exception propagates to the publishing service (and rolls its transaction back).

``memberships_changed`` — the user-group memberships of these users changed (added to or
taken out of a group, or a group deleted with its shares). Publish it *after* the change,
in its transaction: the vault rewrites those users' rows of its visibility table
(``vault.visibility``) from what the database holds then. Keyword argument: ``user_ids``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.dispatch import Signal

scope_changed_signal = Signal()


def scope_changed(
    *,
    cause: str,
    user_ids: Iterable[Any] = (),
    user_group_ids: Iterable[Any] = (),
    resource_ids: Iterable[Any] = (),
    resource_group_ids: Iterable[Any] = (),
) -> None:
    """Publish ``scope_changed`` to every subscriber (synchronously, in the caller's
    transaction)."""
    scope_changed_signal.send(
        sender=None,
        cause=cause,
        user_ids=list(user_ids),
        user_group_ids=list(user_group_ids),
        resource_ids=list(resource_ids),
        resource_group_ids=list(resource_group_ids),
    )


memberships_changed_signal = Signal()


def memberships_changed(*, user_ids: Iterable[Any]) -> None:
    """Publish ``memberships_changed`` (synchronously, in the caller's transaction, after
    the change)."""
    memberships_changed_signal.send(sender=None, user_ids=list(user_ids))
