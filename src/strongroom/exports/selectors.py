"""What an export contains: the user's scope, read through the vault's access rules.

A user's export scope is every account of every resource they can VIEW (the rules are in
``vault/selectors.py``), or, when they choose resource groups, every account of the resources
of those groups that they can view: a group they can see may hold resources they cannot, and
those stay out. Never more.

Reads are bulk: one query for the resource groups asked for, one for every account with its
resource, one for the folder names; sealed values are unsealed in Python.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import CharField, Q, QuerySet, TextField
from django.db.models.functions import Cast, Greatest

from strongroom.accounts.models import User
from strongroom.core.errors import ValidationFailed
from strongroom.core.progress import ProgressFactory, no_progress
from strongroom.core.secrets import Unsealer
from strongroom.crypto.offline import OfflineEntry
from strongroom.exports.memory import gc_paused
from strongroom.exposure.models import version_of
from strongroom.vault.bulk import selection_resources
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
    """Everything the user can view (both ID tuples None), chosen groups, or chosen
    resources (a selection from the resource list)."""

    resource_group_ids: tuple[uuid.UUID, ...] | None = None
    resource_group_names: tuple[str, ...] = ()
    resource_ids: tuple[uuid.UUID, ...] | None = None
    resource_names: tuple[str, ...] = ()

    @property
    def is_all(self) -> bool:
        return self.resource_group_ids is None and self.resource_ids is None

    def as_audit(self) -> dict[str, Any]:
        if self.resource_ids is not None:
            return {"scope": "resources", "resource_ids": [str(pk) for pk in self.resource_ids]}
        if self.resource_group_ids is None:
            return {"scope": "all"}
        return {
            "scope": "resource_groups",
            "resource_group_ids": [str(pk) for pk in self.resource_group_ids],
            "resource_group_names": list(self.resource_group_names),
        }

    def title(self) -> str:
        if self.resource_ids is not None:
            count = len(self.resource_ids)
            return f"Strongroom offline copy: {count} selected resource{'' if count == 1 else 's'}"
        if self.resource_group_ids is None:
            return "Strongroom offline copy"
        return "Strongroom offline copy: " + ", ".join(self.resource_group_names)[:900]


def export_scope_resolve(
    *, user: User, resource_group_ids: Iterable[Any] | None, resource_ids: Any = None
) -> ExportScope:
    """Check each chosen group is visible to the user (NotFound otherwise, exactly as for a
    group that does not exist). None or an empty list means the whole scope.

    ``resource_ids`` (a selection, at most ``vault.bulk.MAX_SELECTION``) instead: every one
    must be visible, or nothing is exported and the error names each that is not
    (``vault.bulk.BulkRefused``)."""
    if resource_ids is not None:  # an empty selection is refused, never "everything"
        if resource_group_ids:
            raise ValidationFailed(
                "choose resource groups or resources, not both", field="resource_ids"
            )
        resources = selection_resources(
            actor=user, resource_ids=resource_ids, min_level=AccessLevel.VIEW, what="exported"
        )
        resources.sort(key=lambda r: (r.name.casefold(), str(r.pk)))
        return ExportScope(
            resource_ids=tuple(r.pk for r in resources),
            resource_names=tuple(r.name for r in resources),
        )
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
    if scope.resource_ids is not None:
        return resources_visible(user=user).filter(pk__in=scope.resource_ids).values("pk")
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
    # Most resources are in one group: nothing to sort or join.
    return {
        rid: group_names[0]
        if len(group_names) == 1
        else ", ".join(sorted(group_names, key=str.casefold))
        for rid, group_names in names.items()
    }


# IDs and times are read as text: the ORM's per-row conversions (UUID, aware datetime) cost
# more than everything else an export does with 100,000 rows. Resource IDs are only
# compared (both queries spell them the same way); account IDs become the text the
# associated data of their sealed values names, and the change time is parsed in one call.
_ID_TEXT = Cast("resource_id", output_field=CharField())
_PK_TEXT = Cast("id", output_field=CharField())
_CHANGED_TEXT = Cast(Greatest("updated_at", "resource__updated_at"), output_field=CharField())
# The password's version for the exposure register: the time of its last change.
_PASSWORD_CHANGED_TEXT = Cast("password_changed_at", output_field=CharField())
_CUSTOM_TEXT = Cast("resource__custom_fields", output_field=TextField())
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
    "password_changed",
    "resource__description",
    "custom_text",
)
_SECRET_COLUMNS = ("password", "notes", "totp_seed")


def _uuid_text(value: str) -> str:
    """``str(uuid)`` of a UUID read as text: SQLite stores 32 hex digits, PostgreSQL
    answers with the hyphens already in place."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value.lower()


def _moment(value: str) -> datetime:
    """A stored time read as text: SQLite keeps naive UTC, PostgreSQL answers in the
    connection's time zone, which Django sets to UTC, with its offset ("+00")."""
    if value[-3] in "+-" or value[-6] in "+-":
        return _fromisoformat(value)
    return _fromisoformat(value + "+00:00")  # one call instead of parse, then replace


_fromisoformat = datetime.fromisoformat


def password_version(changed: str | None) -> int:
    """An account's password version as the exposure register stores it: the time of the
    last password change in microseconds since the epoch, 0 for none (read as text)."""
    return version_of(_moment(changed)) if changed else 0


def export_entries(
    *,
    user: User,
    scope: ExportScope,
    with_secrets: bool,
    progress: ProgressFactory = no_progress,
    versions: list[tuple[str, int]] | None = None,
) -> list[OfflineEntry]:
    """The scope's accounts, ordered by resource name then username. ``with_secrets`` False
    leaves out every sealed value (password, notes and TOTP seed are empty). ``progress``
    advances once per account. ``versions``, when given, receives each entry's (account ID,
    password version), read by the same query as the passwords, for the exposure register."""
    resource_ids = export_resource_ids(user=user, scope=scope)
    columns = _ENTRY_COLUMNS + _SECRET_COLUMNS if with_secrets else _ENTRY_COLUMNS
    with gc_paused():
        # One query for everything an entry holds, the resource's description and custom
        # fields included (a second query for those cost more than carrying them here).
        rows = list(
            Account.objects.filter(resource_id__in=resource_ids)
            .annotate(
                changed=_CHANGED_TEXT,
                rid=_ID_TEXT,
                pk_text=_PK_TEXT,
                password_changed=_PASSWORD_CHANGED_TEXT,
                custom_text=_CUSTOM_TEXT,
            )
            .order_by("resource__name", "resource_id", "username", "id")
            .values_list(*columns)
            .iterator(chunk_size=CHUNK)
        )
        folders = _folders(user, {row[2] for row in rows})
        return _entries_from_rows(rows, folders, with_secrets, progress, versions)


def _entries_from_rows(
    rows: list[tuple[Any, ...]],
    folders: dict[str, str],
    with_secrets: bool,
    progress: ProgressFactory,
    versions: list[tuple[str, int]] | None,
) -> list[OfflineEntry]:
    """The loop every exported account goes through (100,000 times for a big vault): plain
    local names, no call that an empty column does not need."""
    unseal = Unsealer(Account).unseal
    details: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
    entries: list[OfflineEntry] = []
    append = entries.append
    record = versions.append if versions is not None else None
    folder_of = folders.get
    ticker = progress("reading accounts", len(rows))
    tick = ticker.update
    make = OfflineEntry
    for row in rows:
        tick()
        (
            pk,
            username,
            resource_id,
            name,
            rtype,
            host,
            url,
            department,
            location,
            changed,
            password_changed,
            description,
            custom_text,
        ) = row[:13]
        pk = _uuid_text(pk)
        password, notes, totp_seed = "", "", None
        if with_secrets:
            # Empty columns (no notes, no TOTP seed: most rows) need no call at all.
            password = unseal(row[13], pk, "password") or ""
            if row[14] is not None:
                notes = unseal(row[14], pk, "notes") or ""
            if row[15] is not None:
                totp_seed = unseal(row[15], pk, "totp_seed") or None
        if record is not None:
            record((pk, password_version(password_changed)))
        custom: tuple[tuple[str, str], ...] = ()
        if description or (custom_text and custom_text != "{}"):
            found = details.get(resource_id)
            if found is None:
                found = details[resource_id] = _details(description, custom_text)
            description, custom = found
        append(
            make(
                name=name,
                username=username,
                password=password,
                resource_type=rtype,
                host=host,
                url=url,
                notes=notes,
                totp_seed=totp_seed,
                folder=folder_of(resource_id, ""),
                department=department,
                location=location,
                updated_at=_moment(changed),
                description=description,
                custom_fields=custom,
                entry_id=pk,
            )
        )
    ticker.close()
    return entries


def _details(description: str, custom_text: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A resource's description and custom fields (label, value pairs in label order); the
    fields are read as JSON text (decoding an empty object per row was a fifth of a
    100,000-entry export, so only non-empty ones get here)."""
    custom = json.loads(custom_text) if custom_text else {}
    return description, tuple(sorted((str(k), str(v)) for k, v in (custom or {}).items()))


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
