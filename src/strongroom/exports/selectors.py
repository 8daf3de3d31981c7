"""What an export contains: the user's scope, read through the vault's access rules.

A user's export scope is every account of every resource they can VIEW (the rules are in
``vault/selectors.py``), or, when they choose resource groups, every account of the resources
of those groups that they can view: a group they can see may hold resources they cannot, and
those stay out. Never more.

Reads are bulk: one query for the resource groups asked for, one for every account with its
resource, one for the folder names; sealed values are unsealed in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast, Greatest

from strongroom.accounts.models import User
from strongroom.core.errors import ValidationFailed
from strongroom.core.secrets import Unsealer
from strongroom.crypto.offline import OfflineEntry
from strongroom.vault.models import AccessLevel, Account, Resource, ResourceGroup
from strongroom.vault.selectors import (
    _visible_resource_q,
    resource_group_get,
    resource_groups_visible,
    resources_visible,
)

MAX_GROUPS = 200
_RG_THROUGH = ResourceGroup.resources.through
CHUNK = 2000


@dataclass(frozen=True)
class ExportScope:
    """Everything the user can view (``resource_group_ids`` None) or chosen groups."""

    resource_group_ids: tuple[uuid.UUID, ...] | None = None
    resource_group_names: tuple[str, ...] = ()

    @property
    def is_all(self) -> bool:
        return self.resource_group_ids is None

    def as_audit(self) -> dict[str, Any]:
        if self.resource_group_ids is None:
            return {"scope": "all"}
        return {
            "scope": "resource_groups",
            "resource_group_ids": [str(pk) for pk in self.resource_group_ids],
            "resource_group_names": list(self.resource_group_names),
        }

    def title(self) -> str:
        if self.resource_group_ids is None:
            return "Strongroom offline copy"
        return "Strongroom offline copy: " + ", ".join(self.resource_group_names)[:900]


def export_scope_resolve(*, user: User, resource_group_ids: Iterable[Any] | None) -> ExportScope:
    """Check each chosen group is visible to the user (NotFound otherwise, exactly as for a
    group that does not exist). None or an empty list means the whole scope."""
    if resource_group_ids is None:
        return ExportScope()
    if isinstance(resource_group_ids, str | bytes):
        raise ValidationFailed("resource_group_ids must be a list", field="resource_group_ids")
    wanted = list(dict.fromkeys(resource_group_ids))
    if not wanted:
        return ExportScope()
    if len(wanted) > MAX_GROUPS:
        raise ValidationFailed(
            f"choose at most {MAX_GROUPS} resource groups", field="resource_group_ids"
        )
    groups = [
        resource_group_get(user=user, resource_group_id=pk, min_level=AccessLevel.VIEW)
        for pk in wanted
    ]
    groups.sort(key=lambda g: (g.name.casefold(), str(g.pk)))
    return ExportScope(
        resource_group_ids=tuple(g.pk for g in groups),
        resource_group_names=tuple(g.name for g in groups),
    )


def _visible_resource_ids(user: User) -> QuerySet[Resource, Any]:
    """The IDs of every resource the user can view, as a UNION of one indexed query per way
    of reaching a resource (owner, direct share, shared group, owned group).

    The vault's visibility filter is one OR of those ways; as a WHERE clause it makes the
    database read every resource of the vault for each user (SQLite cannot use an index for
    it), which is what a sync worker did once per job. The parts are taken from the vault's
    own filter, so both always agree."""
    if not (user.is_authenticated and user.is_active):
        return Resource.objects.none().values("pk")
    visible = _visible_resource_q(user)
    if visible.connector != Q.OR or visible.negated or len(visible.children) < 2:
        return resources_visible(user=user).values("pk")
    parts = [
        Resource.objects.filter(part if isinstance(part, Q) else Q(part)).values("pk").order_by()
        for part in visible.children
    ]
    return parts[0].union(*parts[1:])


def export_resource_ids(*, user: User, scope: ExportScope) -> QuerySet[Resource, Any]:
    """A subquery of the IDs of the resources in the scope (only ones the user can view)."""
    if scope.resource_group_ids is None:
        return _visible_resource_ids(user)
    in_groups = _RG_THROUGH.objects.filter(resourcegroup_id__in=scope.resource_group_ids)
    return resources_visible(user=user).filter(pk__in=in_groups.values("resource_id")).values("pk")


def _folders(user: User, resource_ids: set[str]) -> dict[str, str]:
    """Each resource's folder: the names of the resource groups holding it that the user can
    see (never the name of a group they cannot), sorted and joined with ", ".

    The links of the visible groups are read whole and matched in Python: filtering them by
    the scope's resource subquery as well makes SQLite's plan quadratic."""
    visible_groups = resource_groups_visible(user=user).values("pk")
    links = (
        _RG_THROUGH.objects.filter(resourcegroup_id__in=visible_groups)
        .annotate(rid=_ID_TEXT)
        .values_list("rid", "resourcegroup__name")  # type: ignore[misc]
        .order_by()
    )
    names: dict[str, list[str]] = {}
    for resource_id, name in links.iterator(chunk_size=CHUNK):
        if resource_id in resource_ids:
            names.setdefault(resource_id, []).append(name)
    return {
        rid: ", ".join(sorted(group_names, key=str.casefold)) for rid, group_names in names.items()
    }


# IDs and times are read as text: the ORM's per-row conversions (UUID, aware datetime) cost
# more than everything else an export does with 100,000 rows. Resource IDs are only
# compared (both queries spell them the same way); account IDs become the text the
# associated data of their sealed values names, and the change time is parsed in one call.
_ID_TEXT = Cast("resource_id", output_field=CharField())
_PK_TEXT = Cast("id", output_field=CharField())
_CHANGED_TEXT = Cast(Greatest("updated_at", "resource__updated_at"), output_field=CharField())
_ENTRY_COLUMNS = (
    "pk_text",
    "username",
    "rid",
    "resource__name",
    "resource__resource_type",
    "resource__host",
    "resource__url",
    "resource__department",
    "resource__location",
    "changed",
)


def _uuid_text(value: str) -> str:
    """``str(uuid)`` of a UUID read as text: SQLite stores 32 hex digits, PostgreSQL
    answers with the hyphens already in place."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value.lower()


def _moment(value: str) -> datetime:
    """A stored time read as text: SQLite keeps naive UTC, PostgreSQL answers in the
    connection's time zone, which Django sets to UTC, with its offset."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def export_entries(*, user: User, scope: ExportScope, with_secrets: bool) -> list[OfflineEntry]:
    """The scope's accounts, ordered by resource name then username. ``with_secrets`` False
    leaves out every sealed value (password, notes and TOTP seed are empty)."""
    resource_ids = export_resource_ids(user=user, scope=scope)
    columns = (
        (*_ENTRY_COLUMNS, "password", "notes", "totp_seed") if with_secrets else _ENTRY_COLUMNS
    )
    rows = list(
        Account.objects.filter(resource_id__in=resource_ids)
        .annotate(changed=_CHANGED_TEXT, rid=_ID_TEXT, pk_text=_PK_TEXT)
        .order_by("resource__name", "resource_id", "username", "id")
        .values_list(*columns)
        .iterator(chunk_size=CHUNK)
    )
    folders = _folders(user, {row[2] for row in rows})
    about = _resource_details(resource_ids)
    unseal = Unsealer(Account).unseal
    entries: list[OfflineEntry] = []
    append = entries.append
    for row in rows:
        (pk, username, resource_id, name, rtype, host, url, department, location, changed) = row[
            :10
        ]
        password, notes, totp_seed = "", "", None
        pk = _uuid_text(pk)
        if with_secrets:
            # Empty columns (no notes, no TOTP seed: most rows) need no call at all.
            password = unseal(row[10], pk, "password") or ""
            if row[11] is not None:
                notes = unseal(row[11], pk, "notes") or ""
            if row[12] is not None:
                totp_seed = unseal(row[12], pk, "totp_seed") or None
        description, custom = about.get(resource_id, _NO_DETAILS)
        append(
            OfflineEntry(
                name=name,
                username=username,
                password=password,
                resource_type=rtype,
                host=host,
                url=url,
                notes=notes,
                totp_seed=totp_seed,
                folder=folders.get(resource_id, ""),
                department=department,
                location=location,
                updated_at=_moment(changed),
                description=description,
                custom_fields=custom,
                entry_id=pk,
            )
        )
    return entries


_NO_DETAILS: tuple[str, tuple[tuple[str, str], ...]] = ("", ())


def _resource_details(
    resource_ids: Any,
) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    """Each resource's description and custom fields (label, value pairs in label order),
    keyed by the same ID text as the entry rows; resources with neither are left out."""
    found: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
    rows = (
        Resource.objects.filter(pk__in=resource_ids)
        .annotate(rid=Cast("id", output_field=CharField()))
        .values_list("rid", "description", "custom_fields")
        .iterator(chunk_size=CHUNK)
    )
    for rid, description, custom in rows:
        pairs = tuple(sorted((str(k), str(v)) for k, v in (custom or {}).items()))
        if description or pairs:
            found[rid] = (description, pairs)
    return found


def export_groups_choosable(*, user: User) -> QuerySet[ResourceGroup]:
    """The resource groups the user may pick as a scope (the ones they can see)."""
    return resource_groups_visible(user=user)


def export_count(*, user: User, scope: ExportScope | None = None) -> int:
    """How many entries (accounts) an export of the scope would hold."""
    resource_ids = export_resource_ids(user=user, scope=scope or ExportScope())
    return Account.objects.filter(Q(resource_id__in=resource_ids)).count()


def export_rules_list(*, actor: User) -> QuerySet[Any]:
    """Every export rule, users first, then user groups, then roles (administrators only)."""
    from strongroom.accounts.permissions import Perm, require_perm
    from strongroom.exports.models import ExportRule

    require_perm(actor, Perm.SETTINGS_MANAGE)
    return ExportRule.objects.select_related("user", "user_group").order_by(
        "user__username", "user_group__name", "role"
    )
