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
