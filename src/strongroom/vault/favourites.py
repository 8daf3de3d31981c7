"""Favourites and the recently used list: each user's own quick way back to what they use.

**Favourites** are rows (user, resource). A user may star only a resource they can see
(404 otherwise, exactly as for one that does not exist). Every read joins the vault's
access rules, so when the user loses access the favourite disappears from every list;
the row is kept (it names nothing the user did not already know) and shows again only if
access comes back. Starring is a personal preference, not a change to the vault: it writes
no audit record.

**Recently used** is derived, not stored: the user's own successful password retrievals
and TOTP codes in the audit trail (read newest first through the ``actor, -seq`` index),
one line per account, newest first, kept only while the account exists and the user can
still view its resource. Nothing is written on the retrieval path, and the list can never
show more than the audit trail already holds about the user's own actions.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from strongroom.accounts.models import User
from strongroom.audit.actions import AuditAction
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import ValidationFailed
from strongroom.vault import selectors
from strongroom.vault.models import AccessLevel, Account, Favourite, Resource

logger = logging.getLogger(__name__)

MAX_FAVOURITES = 500
"""Stars one user may keep (the favourites list is one page, never paged)."""
RECENT_LIMIT = 10
RECENT_MAX = 50
RECENT_SCAN = 500
"""How many of the user's newest retrieval records are read to build the list."""
RECENT_ACTIONS = (AuditAction.PASSWORD_RETRIEVE, AuditAction.TOTP_GENERATE)


# --------------------------------------------------------------------------- favourites


def favourite_add(*, actor: User, resource_id: Any) -> Resource:
    """Star a resource the actor can see. Starring it again changes nothing."""
    resource = selectors.resource_get(
        user=actor, resource_id=resource_id, min_level=AccessLevel.VIEW
    )
    with transaction.atomic():
        if Favourite.objects.filter(user=actor, resource=resource).exists():
            return resource
        if Favourite.objects.filter(user=actor).count() >= MAX_FAVOURITES:
            raise ValidationFailed(
                f"you can keep at most {MAX_FAVOURITES} favourites; remove one first",
                field="resource_id",
                limit=MAX_FAVOURITES,
            )
        try:
            with transaction.atomic():
                Favourite.objects.create(user=actor, resource=resource)
        except IntegrityError:
            pass  # starred at the same moment by another request of the same user
    logger.info("user %s starred resource %s", actor.pk, resource.pk)
    return resource


def favourite_remove(*, actor: User, resource_id: Any) -> None:
    """Unstar. Acts only on the actor's own row, so it needs no access to the resource (a
    user who lost access can still clear the star) and answers the same whether or not
    there was one: it tells nothing about the resource."""
    try:
        pk = resource_id if isinstance(resource_id, uuid.UUID) else uuid.UUID(str(resource_id))
    except (ValueError, TypeError, AttributeError):
        return
    Favourite.objects.filter(user=actor, resource_id=pk).delete()


def favourites_list(*, user: User) -> QuerySet[Resource]:
    """The user's favourite resources that they can still see, annotated like
    :func:`selectors.resources_visible`, ordered by name."""
    starred = Favourite.objects.filter(user_id=user.pk).values("resource_id")
    return selectors.resources_visible(user=user).filter(pk__in=starred)


def favourite_ids(*, user: User, resource_ids: list[Any]) -> set[uuid.UUID]:
    """Which of these resources (already read through the access rules) the user starred."""
    return set(
        Favourite.objects.filter(user_id=user.pk, resource_id__in=resource_ids).values_list(
            "resource_id", flat=True
        )
    )


# --------------------------------------------------------------------------- recently used


@dataclass(frozen=True)
class RecentUse:
    account: Account
    used_at: datetime
    action: str


def recent_list(*, user: User, limit: int = RECENT_LIMIT) -> list[RecentUse]:
    """Accounts whose password (or TOTP code) the user retrieved lately, newest first, one
    line each, only those the user can still view. ``limit`` is capped at
    :data:`RECENT_MAX`."""
    if not (user.is_authenticated and user.is_active):
        return []
    limit = max(1, min(int(limit), RECENT_MAX))
    events = (
        AuditEvent.objects.filter(
            actor_id=user.pk,
            action__in=[str(a) for a in RECENT_ACTIONS],
            outcome="success",
            object_type="account",
        )
        .order_by("-seq")
        .values_list("object_id", "at", "action")[:RECENT_SCAN]
    )
    newest: dict[uuid.UUID, tuple[datetime, str]] = {}
    for object_id, at, action in events:
        try:
            pk = uuid.UUID(object_id)
        except ValueError:
            continue
        newest.setdefault(pk, (at, action))
    if not newest:
        return []
    visible = selectors.resources_visible(user=user).values("pk")
    accounts = {
        a.pk: a
        for a in Account.objects.filter(pk__in=list(newest), resource_id__in=visible)
        .select_related("resource")
        .defer("password", "notes", "totp_seed")
    }
    found = [
        RecentUse(account=accounts[pk], used_at=at, action=action)
        for pk, (at, action) in newest.items()
        if pk in accounts
    ]
    return found[:limit]
