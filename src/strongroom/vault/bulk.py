"""Bulk actions on a selection of resources: share, add to a resource group, move to a
resource group, delete. (Export of a selection is the export service's, with
``resource_ids``: ``exports.services``.)

Every action is **all or nothing**: the whole selection is checked first, inside the
action's transaction, and if any one resource is not allowed (not visible, or below the
level the action needs, or in a resource group the actor cannot manage for a move) nothing
changes and the error (:class:`BulkRefused`) names each refused resource: by its name when
the actor can see it, by the ID they sent when they cannot (never revealing whether it
exists). Otherwise each resource that changes gets **its own audit record** (the same
action a single change writes, with ``details.bulk`` = the selection size), all in one
transaction with the changes: if one record cannot be written, nothing changes.

A selection holds at most :data:`MAX_SELECTION` resources (ten pages of the resource list),
so one request cannot hold the audit chain's lock for long; a longer list is refused, not
cut. Resources that need no change (already shared at that level, already in the group,
shared with their own owner) are reported as unchanged and get no record, as for a single
change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from strongroom.accounts.models import User, UserGroup
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_records
from strongroom.core.errors import (
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from strongroom.core.events import scope_changed
from strongroom.notifications.services import notification_post
from strongroom.vault import selectors, visibility
from strongroom.vault.models import AccessLevel, Resource, ResourceGroup, Share
from strongroom.vault.services import _grantee_uuid, _level_clean

logger = logging.getLogger(__name__)

MAX_SELECTION = 500
"""The most resources one bulk action (or one export of a selection) takes."""

_SHOWN_IN_MESSAGE = 5
_RG_THROUGH = ResourceGroup.resources.through
BULK_ACTIONS = ("share", "add_to_group", "move", "delete", "export")


class BulkRefused(PermissionDenied):
    """Some resources of the selection are not allowed; nothing was changed.
    ``details.refused`` lists each as ``{"id", "name", "problem"}`` (``name`` empty for
    a resource the actor cannot see)."""

    code = ErrorCode.BULK_REFUSED


@dataclass
class BulkResult:
    action: str
    selected: int
    changed: list[uuid.UUID] = field(default_factory=list)
    unchanged: list[dict[str, str]] = field(default_factory=list)

    def summary(self, verb: str) -> str:
        text = f"{verb} {len(self.changed)} resource{'' if len(self.changed) == 1 else 's'}"
        if self.unchanged:
            text += f"; {len(self.unchanged)} unchanged ({self.unchanged[0]['problem']}"
            text += ", …)" if len(self.unchanged) > 1 else ")"
        return text + "."


# --------------------------------------------------------------------------- the selection


def selection_clean(resource_ids: Any) -> tuple[list[uuid.UUID], list[dict[str, str]]]:
    """The selection as UUIDs (duplicates dropped, order kept) and the entries that are not
    IDs at all (reported like resources that do not exist). Refuses an empty selection, a
    value that is not a list and more than :data:`MAX_SELECTION` entries."""
    if isinstance(resource_ids, str | bytes) or not isinstance(resource_ids, Iterable):
        raise ValidationFailed("resource_ids must be a list of resource IDs", field="resource_ids")
    raw = list(resource_ids)
    if len(raw) > MAX_SELECTION:
        raise ValidationFailed(
            f"select at most {MAX_SELECTION} resources at once (you selected {len(raw)})",
            field="resource_ids",
            limit=MAX_SELECTION,
        )
    wanted: dict[uuid.UUID, None] = {}
    malformed: list[dict[str, str]] = []
    for value in raw:
        try:
            wanted[value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))] = None
        except (ValueError, TypeError, AttributeError):
            malformed.append({"id": _id_text(value), "name": "", "problem": "not found"})
    if not wanted and not malformed:
        raise ValidationFailed("select at least one resource", field="resource_ids")
    return list(wanted), malformed


def _id_text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text.replace("\x00", "")[:64]


def _refuse(what: str, refused: list[dict[str, str]], selected: int) -> BulkRefused:
    shown = [
        f"“{r['name']}” ({r['problem']})" if r["name"] else f"{r['id']} ({r['problem']})"
        for r in refused[:_SHOWN_IN_MESSAGE]
    ]
    more = len(refused) - len(shown)
    message = (
        f"nothing was {what}: {len(refused)} of the {selected} selected resource"
        f"{'' if selected == 1 else 's'} {'is' if len(refused) == 1 else 'are'} not allowed: "
        + "; ".join(shown)
        + (f"; and {more} more" if more > 0 else "")
    )
    return BulkRefused(message, refused=refused)


def selection_resources(
    *, actor: User, resource_ids: Any, min_level: int, what: str
) -> list[Resource]:
    """The selected resources (in selection order, ``access_level`` set) when the actor has
    at least ``min_level`` on every one; :class:`BulkRefused` naming the others if not."""
    ids, refused = selection_clean(resource_ids)
    selected = len(ids) + len(refused)
    found = {
        r.pk: r
        for r in selectors.resources_visible(user=actor).filter(pk__in=ids).order_by()
        if r.access_level is not None  # type: ignore[attr-defined]
    }
    needed = AccessLevel(min_level).label
    for pk in ids:
        resource = found.get(pk)
        if resource is None:
            refused.append({"id": str(pk), "name": "", "problem": "not found"})
        elif resource.access_level < min_level:  # type: ignore[attr-defined]
            have = AccessLevel(resource.access_level).label  # type: ignore[attr-defined]
            refused.append(
                {
                    "id": str(pk),
                    "name": resource.name,
                    "problem": f"you have {have} access; this needs {needed}",
                }
            )
    if refused:
        raise _refuse(what, refused, selected)
    return [found[pk] for pk in ids]


# --------------------------------------------------------------------------- delete


def resources_bulk_delete(
    *, actor: User, resource_ids: Any, client_ip: str | None = None
) -> BulkResult:
    """Delete every selected resource with its accounts, history and shares (manage level
    on each). One ``resource.delete`` record per resource."""
    with transaction.atomic():
        resources = selection_resources(
            actor=actor, resource_ids=resource_ids, min_level=AccessLevel.MANAGE, what="deleted"
        )
        result = BulkResult(action="delete", selected=len(resources))
        records = []
        for resource in resources:
            records.append(
                {
                    "actor": actor,
                    "action": AuditAction.RESOURCE_DELETE,
                    "object_type": "resource",
                    "object_id": str(resource.pk),
                    "object_name": resource.name,
                    "client_ip": client_ip,
                    "details": {"accounts": resource.account_count, "bulk": len(resources)},  # type: ignore[attr-defined]
                }
            )
            result.changed.append(resource.pk)
        audit_records(records=records)
        scope_changed(cause="resource.delete", resource_ids=result.changed)
        Resource.objects.filter(pk__in=result.changed).delete()
    logger.info("bulk delete by user %s: %d resources", actor.pk, len(result.changed))
    return result


# --------------------------------------------------------------------------- resource groups


def _target_group(actor: User, resource_group_id: Any) -> ResourceGroup:
    if resource_group_id in (None, ""):
        raise ValidationFailed("choose a resource group", field="resource_group_id")
    try:
        return selectors.resource_group_get(
            user=actor, resource_group_id=resource_group_id, min_level=AccessLevel.MANAGE
        )
    except (NotFound, PermissionDenied) as exc:
        exc.details.setdefault("field", "resource_group_id")
        raise


def resources_bulk_group_add(
    *, actor: User, resource_ids: Any, resource_group_id: Any, client_ip: str | None = None
) -> BulkResult:
    """Put every selected resource into a resource group (manage level on the group and on
    each resource, as for one). One ``resource_group.add_resource`` record per resource
    added; members already in the group are unchanged."""
    with transaction.atomic():
        group = _target_group(actor, resource_group_id)
        resources = selection_resources(
            actor=actor, resource_ids=resource_ids, min_level=AccessLevel.MANAGE, what="added"
        )
        result = BulkResult(action="add_to_group", selected=len(resources))
        members = set(
            _RG_THROUGH.objects.filter(
                resourcegroup_id=group.pk, resource_id__in=[r.pk for r in resources]
            ).values_list("resource_id", flat=True)
        )
        records = []
        for resource in resources:
            if resource.pk in members:
                result.unchanged.append(_unchanged(resource, "already in the group"))
                continue
            records.append(
                {
                    "actor": actor,
                    "action": AuditAction.RESOURCE_GROUP_ADD_RESOURCE,
                    "object_type": "resource_group",
                    "object_id": str(group.pk),
                    "object_name": group.name,
                    "client_ip": client_ip,
                    "details": {
                        "resource_id": str(resource.pk),
                        "resource_name": resource.name,
                        "bulk": len(resources),
                    },
                }
            )
            result.changed.append(resource.pk)
        audit_records(records=records)
        _RG_THROUGH.objects.bulk_create(
            [_RG_THROUGH(resourcegroup_id=group.pk, resource_id=pk) for pk in result.changed]
        )
        visibility.refresh(resource_ids=result.changed)
        if result.changed:
            scope_changed(
                cause="resource_group.add_resource",
                resource_ids=result.changed,
                resource_group_ids=[group.pk],
            )
    logger.info("bulk group add by user %s: %d resources", actor.pk, len(result.changed))
    return result


def resources_bulk_move(
    *, actor: User, resource_ids: Any, resource_group_id: Any, client_ip: str | None = None
) -> BulkResult:
    """Move every selected resource into a resource group: out of every other resource
    group holding it **that the actor can see**, into the target. Needs manage level on the
    target, on each resource and on each group it leaves; groups the actor cannot see are
    left as they are (a move never acts on, or reveals, what the actor cannot see). One
    ``resource.move`` record per resource, naming the groups it left."""
    with transaction.atomic():
        group = _target_group(actor, resource_group_id)
        resources = selection_resources(
            actor=actor, resource_ids=resource_ids, min_level=AccessLevel.MANAGE, what="moved"
        )
        result = BulkResult(action="move", selected=len(resources))
        visible = {g.pk: g for g in selectors.resource_groups_visible(user=actor)}
        links = _RG_THROUGH.objects.filter(
            resource_id__in=[r.pk for r in resources], resourcegroup_id__in=list(visible)
        ).values_list("resource_id", "resourcegroup_id")
        held: dict[uuid.UUID, list[ResourceGroup]] = {}
        for resource_pk, group_pk in links:
            held.setdefault(resource_pk, []).append(visible[group_pk])
        refused = []
        for resource in resources:
            for other in held.get(resource.pk, []):
                if other.pk != group.pk and other.access_level < AccessLevel.MANAGE:  # type: ignore[attr-defined]
                    refused.append(
                        {
                            "id": str(resource.pk),
                            "name": resource.name,
                            "problem": f"it is in the resource group “{other.name}”, which "
                            "you cannot manage",
                        }
                    )
        if refused:
            raise _refuse("moved", refused, len(resources))
        left_groups: set[uuid.UUID] = set()
        records = []
        joining: list[uuid.UUID] = []
        for resource in resources:
            leaving = sorted(
                (g for g in held.get(resource.pk, []) if g.pk != group.pk),
                key=lambda g: (g.name.casefold(), str(g.pk)),
            )
            already = any(g.pk == group.pk for g in held.get(resource.pk, []))
            if already and not leaving:
                result.unchanged.append(_unchanged(resource, "already only in that group"))
                continue
            records.append(
                {
                    "actor": actor,
                    "action": AuditAction.RESOURCE_MOVE,
                    "object_type": "resource",
                    "object_id": str(resource.pk),
                    "object_name": resource.name,
                    "client_ip": client_ip,
                    "details": {
                        "from": [{"id": str(g.pk), "name": g.name} for g in leaving],
                        "to": {"id": str(group.pk), "name": group.name},
                        "bulk": len(resources),
                    },
                }
            )
            left_groups.update(g.pk for g in leaving)
            if not already:
                joining.append(resource.pk)
            result.changed.append(resource.pk)
        audit_records(records=records)
        # Every link between a moved resource and a visible group other than the target is
        # exactly what the records name as left: one DELETE, one INSERT.
        _RG_THROUGH.objects.filter(
            resource_id__in=result.changed, resourcegroup_id__in=left_groups
        ).delete()
        _RG_THROUGH.objects.bulk_create(
            [_RG_THROUGH(resourcegroup_id=group.pk, resource_id=pk) for pk in joining]
        )
        visibility.refresh(resource_ids=result.changed)
        if result.changed:
            # Before and after: people who reached a resource only through a group it left
            # lose it, the target group's people gain it.
            scope_changed(
                cause="resource.move",
                resource_ids=result.changed,
                resource_group_ids=[group.pk, *left_groups],
            )
    logger.info("bulk move by user %s: %d resources", actor.pk, len(result.changed))
    return result


def _unchanged(resource: Resource, problem: str) -> dict[str, str]:
    return {"id": str(resource.pk), "name": resource.name, "problem": problem}


# --------------------------------------------------------------------------- sharing


def resources_bulk_share(
    *,
    actor: User,
    resource_ids: Any,
    level: int | str,
    user_id: Any = None,
    user_group_id: Any = None,
    client_ip: str | None = None,
) -> BulkResult:
    """Share every selected resource with one user or user group at ``level`` (manage level
    on each, as for one). One ``share.grant`` record per resource whose share is created or
    changed; a resource already shared at that level, or owned by the grantee, is unchanged.
    The people reached get one notification for the whole selection."""
    if (user_id in (None, "")) == (user_group_id in (None, "")):
        raise ValidationFailed("give exactly one of user_id and user_group_id", field="user_id")
    new_level = _level_clean(level)
    grantee_user: User | None = None
    grantee_group: UserGroup | None = None
    if user_id not in (None, ""):
        grantee_user = User.objects.filter(pk=_grantee_uuid(user_id, "user_id")).first()
        if grantee_user is None:
            raise NotFound("user not found", field="user_id")
        grantee_filter: dict[str, Any] = {"user_id": grantee_user.pk}
        grantee_details: dict[str, Any] = {
            "user_id": str(grantee_user.pk),
            "username": grantee_user.username,
        }
    else:
        grantee_group = UserGroup.objects.filter(
            pk=_grantee_uuid(user_group_id, "user_group_id")
        ).first()
        if grantee_group is None:
            raise NotFound("user group not found", field="user_group_id")
        grantee_filter = {"user_group_id": grantee_group.pk}
        grantee_details = {
            "user_group_id": str(grantee_group.pk),
            "user_group_name": grantee_group.name,
        }

    with transaction.atomic():
        resources = selection_resources(
            actor=actor, resource_ids=resource_ids, min_level=AccessLevel.MANAGE, what="shared"
        )
        result = BulkResult(action="share", selected=len(resources))
        existing = {
            s.resource_id: s
            for s in Share.objects.select_for_update().filter(
                resource_id__in=[r.pk for r in resources], **grantee_filter
            )
        }
        records = []
        updated: list[Share] = []
        created: list[Share] = []
        for resource in resources:
            if grantee_user is not None and grantee_user.pk == resource.owner_id:
                result.unchanged.append(_unchanged(resource, "owned by that user"))
                continue
            share = existing.get(resource.pk)
            if share is not None and share.level == new_level:
                result.unchanged.append(_unchanged(resource, "already shared at that level"))
                continue
            records.append(
                {
                    "actor": actor,
                    "action": AuditAction.SHARE_GRANT,
                    "object_type": "resource",
                    "object_id": str(resource.pk),
                    "object_name": resource.name,
                    "client_ip": client_ip,
                    "details": {
                        **grantee_details,
                        "level": new_level.label,
                        "previous_level": AccessLevel(share.level).label if share else None,
                        "bulk": len(resources),
                    },
                }
            )
            if share is not None:
                share.level = new_level
                updated.append(share)
            else:
                created.append(
                    Share(resource=resource, **grantee_filter, level=new_level, created_by=actor)
                )
            result.changed.append(resource.pk)
        audit_records(records=records)
        Share.objects.bulk_update(updated, ["level"])
        try:
            with transaction.atomic():
                Share.objects.bulk_create(created)
        except IntegrityError as exc:
            raise Conflict(
                "these shares were changed by someone else at the same moment; try again"
            ) from exc
        visibility.refresh(resource_ids=result.changed)
        if result.changed:
            scope_changed(
                cause="share.grant",
                user_ids=[grantee_user.pk] if grantee_user else [],
                user_group_ids=[grantee_group.pk] if grantee_group else [],
            )
            _share_notify(
                actor=actor,
                grantee_user=grantee_user,
                grantee_group=grantee_group,
                count=len(result.changed),
                level=new_level,
            )
    logger.info("bulk share by user %s: %d resources", actor.pk, len(result.changed))
    return result


def _share_notify(
    *,
    actor: User,
    grantee_user: User | None,
    grantee_group: UserGroup | None,
    count: int,
    level: AccessLevel,
) -> None:
    """One notification per person for the whole selection (names and counts only)."""
    if grantee_user is not None:
        people = User.objects.filter(pk=grantee_user.pk, is_active=True)
    else:
        people = User.objects.filter(user_groups=grantee_group, is_active=True)
    for person in people.exclude(pk=actor.pk):
        notification_post(
            user=person,
            level="info",
            kind="shared_with_me",
            title=f"{actor.username} shared {count} resource{'' if count == 1 else 's'} with you"[
                :200
            ],
            body=f"You can {level.label} them in Strongroom.",
            link="/resources/",
        )
