"""The visibility table (``models.Visibility``): the access rules, worked out ahead of time.

A user's level on a resource (``vault.selectors``, "Access rules") is MANAGE if they own it
or own a resource group holding it, else the best share given to them or to one of their
user groups, on the resource or on a resource group holding it. Lists, counts, searches and
filter menus of large vaults used to apply that rule on every query, which hashed every
share of the user (15,000 rows at ``bench/list_100k.py``'s size) in each of them; they now
read ``strongroom_visibility`` through its (user, resource) index.

Kept current by :func:`refresh`, which every service that changes an input of the rule
calls in the change's own transaction, after the change:

- a resource created (its owner), deleted (its rows go by ``ON DELETE CASCADE``), its
  type or department changed (the rows carry copies of them for the list's menus);
- a share granted, changed or revoked (the resource, or every resource of the group);
- a resource put into or taken out of a resource group, moved, a group deleted (the
  resources it held, read before the delete);
- a user group's members added or removed, a user group deleted (its members, read
  before the delete: ``core.events.memberships_changed``, published by accounts);
- an import (the resources it created or placed in groups);
- a user deleted (the rows go by ``ON DELETE CASCADE``).

Roles grant nothing and inactive users see nothing whatever their rows say (the selectors
refuse them first), so role changes and (de)activation rewrite nothing.

:func:`refresh` deletes the rows of its scope and inserts them again from the rule, in SQL
(one ``INSERT … SELECT`` per scope). On PostgreSQL it first takes a transaction-level
advisory lock: two changes committed at the same moment could otherwise each rewrite a
scope from a snapshot without the other's change (a share to a group and a new member of
the group), and both miss the pair they make together. With the lock the later one reads
the earlier one's committed rows (READ COMMITTED reads a new snapshot per statement).
SQLite's write transactions are serialised already (``BEGIN IMMEDIATE``).

:func:`rebuild` rewrites the whole table (the migration that created it, and bulk loads
that bypass the services such as ``bench/list_100k.py``'s set-up). :func:`expected_rows`
works the rule out for a scope without writing, for checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from strongroom.accounts.models import User, UserGroup
from strongroom.vault.models import AccessLevel, Resource, ResourceGroup, Share, Visibility

_BATCH = 500
"""IDs per statement (SQLite's bound-parameter limit, PostgreSQL's plan size)."""
_LOCK_KEY = 0x5354524F4E470001
"""pg_advisory_xact_lock key of the table's writers ("STRONG" + 1)."""


def _rule_sql() -> str:
    """Every (user, resource, level) the access rules give, before the MAX per pair:
    owner, owner of a holding group, and the four kinds of share (direct or through a user
    group, on the resource or on a holding resource group)."""
    resource = Resource._meta.db_table
    rgroup = ResourceGroup._meta.db_table
    rg_through = ResourceGroup.resources.through._meta.db_table
    ug_through = UserGroup.members.through._meta.db_table
    share = Share._meta.db_table
    manage = int(AccessLevel.MANAGE)
    return f"""
        SELECT r.owner_id AS user_id, r.id AS resource_id, {manage} AS level
          FROM {resource} r
        UNION ALL
        SELECT g.owner_id, m.resource_id, {manage}
          FROM {rg_through} m JOIN {rgroup} g ON g.id = m.resourcegroup_id
        UNION ALL
        SELECT s.user_id, s.resource_id, s.level
          FROM {share} s
         WHERE s.user_id IS NOT NULL AND s.resource_id IS NOT NULL
        UNION ALL
        SELECT u.user_id, s.resource_id, s.level
          FROM {share} s JOIN {ug_through} u ON u.usergroup_id = s.user_group_id
         WHERE s.resource_id IS NOT NULL
        UNION ALL
        SELECT s.user_id, m.resource_id, s.level
          FROM {share} s JOIN {rg_through} m ON m.resourcegroup_id = s.resource_group_id
         WHERE s.user_id IS NOT NULL
        UNION ALL
        SELECT u.user_id, m.resource_id, s.level
          FROM {share} s
          JOIN {rg_through} m ON m.resourcegroup_id = s.resource_group_id
          JOIN {ug_through} u ON u.usergroup_id = s.user_group_id
    """  # noqa: S608 (table names from the models, no input)


def _select_sql(where: str) -> str:
    """(user_id, resource_id, level, resource_type, department): the best level per pair,
    with the resource's menu fields."""
    rule = _rule_sql()
    resource = Resource._meta.db_table
    return (
        "SELECT v.user_id, v.resource_id, MAX(v.level), r.resource_type, r.department "  # noqa: S608
        f"FROM ({rule}) v JOIN {resource} r ON r.id = v.resource_id {where} "
        "GROUP BY v.user_id, v.resource_id, r.resource_type, r.department"
    )


_COLUMNS = "(user_id, resource_id, level, resource_type, department)"


def _db_ids(ids: Iterable[Any], model: type[Any]) -> list[Any]:
    field = model._meta.pk
    return sorted({field.get_db_prep_value(pk, connection) for pk in ids if pk is not None})


def _batches(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def _rewrite(column: str, ids: Sequence[Any]) -> None:
    table = Visibility._meta.db_table
    with connection.cursor() as cursor:
        for batch in _batches(ids):
            marks = ", ".join(["%s"] * len(batch))
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", batch)  # noqa: S608
            cursor.execute(
                f"INSERT INTO {table} {_COLUMNS} " + _select_sql(f"WHERE v.{column} IN ({marks})"),
                batch,
            )


def _lock(conn: Any = connection) -> None:
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def resources_of_groups(resource_group_ids: Iterable[Any]) -> list[Any]:
    """The resources the groups hold now (read them before deleting a group)."""
    ids = [pk for pk in resource_group_ids if pk is not None]
    if not ids:
        return []
    through = ResourceGroup.resources.through
    return list(
        through.objects.filter(resourcegroup_id__in=ids)
        .values_list("resource_id", flat=True)
        .distinct()
    )


def refresh(
    *,
    user_ids: Iterable[Any] = (),
    resource_ids: Iterable[Any] = (),
    resource_group_ids: Iterable[Any] = (),
) -> None:
    """Rewrite every row of the given users, of the given resources and of the resources
    the given resource groups hold now, from the rules. Call it in the transaction of the
    change, after the change (for a deletion: pass what the deleted rows reached, read
    before, as IDs of what remains)."""
    users = _db_ids(user_ids, User)
    resources = _db_ids([*resource_ids, *resources_of_groups(resource_group_ids)], Resource)
    if not users and not resources:
        return
    with transaction.atomic():
        _lock()
        if users:
            _rewrite("user_id", users)
        if resources:
            _rewrite("resource_id", resources)


def rebuild(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Rewrite the whole table from the rules."""
    table = Visibility._meta.db_table
    conn = connections[using]
    with transaction.atomic(using=using):
        _lock(conn)
        with conn.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
            cursor.execute(f"INSERT INTO {table} {_COLUMNS} " + _select_sql(""))


Row = tuple[uuid.UUID, uuid.UUID, int, str, str]


def expected_rows() -> set[Row]:
    """Every (user_id, resource_id, level, resource_type, department) the rules give now,
    as the table should hold them, for consistency checks."""
    with connection.cursor() as cursor:
        cursor.execute(_select_sql(""))
        rows = cursor.fetchall()
    return {(_uuid(u), _uuid(r), int(level), t, d) for u, r, level, t, d in rows}


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def table_rows() -> set[Row]:
    """What the table holds, in the form of :func:`expected_rows`."""
    fields = ("user_id", "resource_id", "level", "resource_type", "department")
    return {
        (u, r, int(level), t, d) for u, r, level, t, d in Visibility.objects.values_list(*fields)
    }


@dataclass(frozen=True)
class Consistency:
    """How the table compares with the rules: rows the rules give that the table lacks
    (``missing``: someone would not see what they may) and rows the table holds that the
    rules do not give (``extra``: a list would show what they may not open)."""

    rows: int
    missing: int
    extra: int

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


def visibility_check() -> Consistency:
    """Compare the whole table with the rules, without writing (``strongroom visibility
    check``). Only code that writes vault rows without the services can make them differ."""
    expected, held = expected_rows(), table_rows()
    return Consistency(rows=len(held), missing=len(expected - held), extra=len(held - expected))


def visibility_rebuild(*, actor: Any | None = None) -> Consistency:
    """Rewrite the whole table from the rules (``strongroom visibility rebuild``), audited
    with what it found before; returns that finding. The record and the rewrite commit
    together."""
    from strongroom.audit.actions import AuditAction
    from strongroom.audit.services import audit_record

    with transaction.atomic():
        before = visibility_check()
        rebuild()
        audit_record(
            actor=actor,
            action=AuditAction.VISIBILITY_REBUILD,
            object_type="visibility",
            details={"rows": before.rows, "missing": before.missing, "extra": before.extra},
        )
    return before
