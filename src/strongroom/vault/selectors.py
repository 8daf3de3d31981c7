"""Reads of the vault. Every read goes through the access rules below.

Access rules
------------

- A user's level on a **resource** is MANAGE if they own it or own a resource group that
  contains it. Otherwise it is the highest level among the shares given to the user or to
  any of their user groups, on the resource itself or on any resource group containing it.
  No share, no access.
- A user's level on a **resource group** is MANAGE if they own it, otherwise the highest
  level among the shares on that group given to the user or their user groups. (Owning or
  managing a group therefore means managing everything in it; only someone who manages a
  resource may put it into a group, see ``services.resource_group_add_resource``.)
- **Inactive users** have no access to anything.
- **Roles do not grant access** to vault objects, not even Administrator: roles decide who
  may create resources and resource groups and who may import (accounts.permissions).
- An object the user cannot see raises :class:`NotFound`, with the same message as an
  object that does not exist, so IDs cannot be probed. An object the user can see but not at
  the level needed raises :class:`PermissionDenied`.

Levels: VIEW reads resources, accounts and their secrets (audited); MODIFY also adds and
edits accounts; MANAGE also edits and deletes the resource, deletes accounts and shares.

Lists, counts, searches and menus of resources read these rules from the visibility table
(``vault.visibility``: worked out ahead of time, rewritten by the services with every
change); one resource's level (:func:`resource_access_level`) is worked out from the shares
directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from strongroom.accounts.models import User, UserGroup
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.core.prepared import PreparedGet
from strongroom.core.secrets import unseal
from strongroom.vault.models import (
    AccessLevel,
    Account,
    PasswordHistory,
    Resource,
    ResourceGroup,
    Share,
    Visibility,
)
from strongroom.vault.search import (
    MIN_INDEXED_LENGTH,
    SQLITE_VISIBLE_MATCHES,
    fts_phrase,
    pg_matching_ids_at_most,
    pg_resource_ids_matching,
    resources_matching_q,
    resources_matching_row_q,
)
from strongroom.vault.validation import text_clean

MAX_FILTER = 500
WALK_MIN_VISIBLE = 2_000
"""The unfiltered first page walks the name index (testing each row) only for users who see
at least this many resources; below it, gathering and sorting what they see is cheaper."""
PG_PROBE_MAX_MATCHES = 500
"""PostgreSQL: a search that finds at most this many resources reads them by ID and probes
each one's visibility; one that finds more is joined with everything the user can see."""
SEARCH_COUNT_MAX = 1_000
"""A search counts what it finds up to this many; beyond, lists say "1,000+" (``total_capped``).
An exact count of a broad search reads every match (25,000 for bench/list_100k.py's 'user3'),
where a page needs the first 50 in name order."""
FewMatches = list[Any] | bool | None
"""How a search is applied on PostgreSQL: the matches' IDs when they are few (probed one
by one), False when they are many (the set form), None when not decided yet."""
_RG_THROUGH = ResourceGroup.resources.through
_UG_THROUGH = UserGroup.members.through


def _is_active(user: Any) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def _as_uuid(value: Any, what: str) -> uuid.UUID:
    """Parse an ID; a malformed ID is reported exactly like a missing object."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise NotFound(f"{what} not found") from exc


def _require_level(level: int | None, min_level: int, what: str) -> int:
    if level is None:
        raise NotFound(f"{what} not found")
    if level < min_level:
        raise PermissionDenied(
            f"this needs {AccessLevel(min_level).label} access to the {what}; you have "
            f"{AccessLevel(level).label} access",
            required_level=AccessLevel(min_level).label,
            your_level=AccessLevel(level).label,
        )
    return level


def _filter_clean(field: str, value: str | None) -> str | None:
    """Filter text from a query string: NUL cannot reach the database (PostgreSQL refuses
    it), so it is a 400 like any other bad input."""
    if value is None:
        return None
    return text_clean(field, value, max_length=MAX_FILTER) or None


def _grantee_q(user: User) -> Q:
    """Shares given to the user directly or to any of the user's groups."""
    return Q(user_id=user.pk) | Q(
        user_group_id__in=_UG_THROUGH.objects.filter(user_id=user.pk).values("usergroup_id")
    )


def _resource_level_expr(user: User) -> Subquery:
    """The user's access level on each Resource row (NULL when none), read from the
    visibility table (``vault.visibility``: these rules, worked out ahead of time)."""
    level = Visibility.objects.filter(user_id=user.pk, resource_id=OuterRef("pk")).values("level")[
        :1
    ]
    return Subquery(level, output_field=IntegerField())


def _resource_group_level_expr(user: User) -> Case:
    best_share = (
        Share.objects.filter(_grantee_q(user), resource_group_id=OuterRef("pk"))
        .order_by("-level")
        .values("level")[:1]
    )
    return Case(
        When(owner_id=user.pk, then=Value(int(AccessLevel.MANAGE))),
        default=Subquery(best_share, output_field=IntegerField()),
        output_field=IntegerField(),
    )


def _visible_resource_q(user: User) -> Q:
    """Resources the user can see, as a set: the user's rows of the visibility table
    (``vault.visibility``), read from its (user, resource) index."""
    return Q(pk__in=Visibility.objects.filter(user_id=user.pk).values("resource_id"))


def _visible_resource_row_q(user: User) -> Q:
    """The same rule as :func:`_visible_resource_q`, as a test of each row (a probe of the
    visibility table's (user, resource) index). Used where rows are read in (name, id) order
    and only a page is wanted: the database walks the name index and stops after the page,
    instead of gathering every visible row and sorting it."""
    return Q(Exists(Visibility.objects.filter(user_id=user.pk, resource_id=OuterRef("pk"))))


def _visible_resource_count(user: User) -> int:
    """How many resources the user can see: their rows of the visibility table, counted
    from its index."""
    return Visibility.objects.filter(user_id=user.pk).count()


# --------------------------------------------------------------------------- resources


def _resources_filtered(
    *,
    user: User,
    search: str | None = None,
    resource_type: str | None = None,
    resource_group_id: Any = None,
    department: str | None = None,
    per_row: bool = False,
    few_matches: FewMatches = None,
    walk: bool = False,
) -> QuerySet[Resource]:
    """Resources the user can see, filtered and ordered, not yet annotated. ``per_row``
    tests visibility row by row (:func:`_visible_resource_row_q`): for reading one page in
    order; counting is cheaper with the default set form.

    ``walk`` (with ``search``; see :func:`_search_walks`): the search too is tested row by
    row (:func:`search.resources_matching_row_q`), so that the database reads the name
    index in list order and stops after the page. For searches that find much of the vault:
    the first page of 'user3' (22,500 visible matches) tests about 56 resources.

    A search on SQLite always tests row by row: its index gives the candidates, and probing
    each one's shares costs what the matches cost, where SQLite's set form first gathers
    every resource the user can see (22,500 at bench/list_100k.py's size) into lists,
    whatever the search finds. PostgreSQL chooses by the number of matches: up to
    ``PG_PROBE_MAX_MATCHES`` it reads the matches from its indexes and probes each one's
    shares (3 times faster at 206 matches in bench/list_100k.py); above, the set form
    (hashed subplans), because probing row by row took seconds at 25,000 matches.
    ``few_matches``: that choice made already (:func:`search_matches_few`: the matches'
    IDs, or False for many), or None to make it here (one query)."""
    search, resource_type, department = (
        _filter_clean("search", search),
        _filter_clean("type", resource_type),
        _filter_clean("department", department),
    )
    if not _is_active(user):
        return Resource.objects.none()
    row_match = resources_matching_row_q(search) if search and walk else None
    if search and few_matches is None and row_match is None:
        few_matches = search_matches_few(search)
    if row_match is not None:
        qs = Resource.objects.filter(row_match).filter(_visible_resource_row_q(user))
    elif search and isinstance(few_matches, list) and connection.vendor == "postgresql":
        # A narrow search: its matches (read from the trigram indexes once per page), by
        # primary key, each one's visibility probed (the row form).
        # The IDs as one array parameter unnested, not a list of literals: given `id IN
        # (206 literals)` the planner scanned every resource (or the name index) testing
        # each against the list; an unnested array is a small set it reads by primary key.
        matches = RawSQL("SELECT unnest(%s::uuid[])", (few_matches,))
        qs = Resource.objects.filter(pk__in=matches).filter(_visible_resource_row_q(user))
    else:
        per_row = per_row or bool(search and connection.vendor == "sqlite")
        visible = _visible_resource_row_q(user) if per_row else _visible_resource_q(user)
        qs = Resource.objects.filter(visible)
        if search:
            qs = qs.filter(resources_matching_q(search))
    if resource_type:
        qs = qs.filter(resource_type__iexact=resource_type)
    if department:
        qs = qs.filter(department__iexact=department)
    if resource_group_id:
        group = resource_group_get(
            user=user, resource_group_id=resource_group_id, min_level=AccessLevel.VIEW
        )
        qs = qs.filter(
            pk__in=_RG_THROUGH.objects.filter(resourcegroup_id=group.pk).values("resource_id")
        )
    return qs.order_by("name", "id")


def search_matches_few(search: str) -> list[Any] | bool:
    """The IDs a search finds when it is answered by probing each match's visibility
    (PostgreSQL, at most ``PG_PROBE_MAX_MATCHES`` matches; one query that reads at most
    that many from the indexes), else False: the set form, with everything visible. Only
    speed depends on it: both forms give the same rows."""
    if connection.vendor != "postgresql":
        return False
    ids = pg_matching_ids_at_most(search, PG_PROBE_MAX_MATCHES)
    return False if ids is None else ids


@dataclass(frozen=True)
class SearchCount:
    """What a search finds among the resources the user can see, counted up to
    ``SEARCH_COUNT_MAX`` (:func:`search_count`), and how its pages are read."""

    total: int
    """How many visible resources it finds; ``SEARCH_COUNT_MAX`` when ``capped``."""
    capped: bool
    """It finds more than ``SEARCH_COUNT_MAX``: ``total`` is a lower bound."""
    walk: bool
    """Pages walk the name index testing each row (``_resources_filtered(walk=True)``)."""
    few_matches: FewMatches
    pairs: list[tuple[str, str]] = field(default_factory=list)
    """(type, department) of every match counted (for the menus), when not capped."""
    first_ids: list[Any] | None = None
    """The first visible matches' IDs in list order (up to ``SEARCH_COUNT_MAX + 1``), when
    the count read them in that order: the first page needs no query of its own."""


def _sqlite_visible_matches(user: User, search: str, limit: int) -> list[tuple[str, str]]:
    """SQLite, three characters or more: (type, department) of up to ``limit`` visible
    resources the search finds, read from the FTS5 index in its own order and stopping
    there. The joins are written in the order they must run (``CROSS JOIN`` fixes SQLite's
    join order): each match's content row, then its (user, resource) visibility row; as a
    filter on the resources instead, SQLite first built the list of every match (25,000
    content rows for 'user3': 207 ms, against 7 ms this way)."""
    user_id = Visibility._meta.get_field("user").get_db_prep_value(user.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(SQLITE_VISIBLE_MATCHES, [fts_phrase(search), user_id, limit])
        return [(resource_type, department) for _, resource_type, department in cursor]


def search_count(*, user: User, search: str) -> SearchCount:
    """Count what ``search`` finds among the resources the user can see, up to
    ``SEARCH_COUNT_MAX``, reading no more than that many matches (plus one, to know there
    are more), and choose how its pages are read. One query (two on PostgreSQL, where
    :func:`search_matches_few` reads the matches' IDs first when they are few).

    - A text of one or two characters (no trigram index), or on PostgreSQL one that finds
      more than ``PG_PROBE_MAX_MATCHES``: the name index is walked testing each resource's
      visibility and match, up to ``SEARCH_COUNT_MAX + 1`` visible matches; they are also
      the first page. A search that finds much of the vault stops early (about 1,100
      resources tested for 'user3'); one that finds little reads the name index through.
    - PostgreSQL, at most ``PG_PROBE_MAX_MATCHES`` matches: their visibility rows.
    - SQLite, three characters or more: the FTS5 index's matches, in its order, each one's
      visibility probed (:func:`_sqlite_visible_matches`); when that finds more than
      ``SEARCH_COUNT_MAX``, pages walk the name index too (where the text is ASCII:
      :func:`search.resources_matching_row_q`).
    """
    clean = _filter_clean("search", search)
    if not clean or not _is_active(user):
        return SearchCount(0, False, False, None)
    postgres = connection.vendor == "postgresql"
    few = search_matches_few(clean)
    row_match = resources_matching_row_q(clean)
    over = SEARCH_COUNT_MAX + 1
    first_ids: list[Any] | None = None
    pairs: list[tuple[str, str]]
    if row_match is not None and (len(clean) < MIN_INDEXED_LENGTH or (postgres and not few)):
        rows = list(
            Resource.objects.filter(row_match)
            .filter(_visible_resource_row_q(user))
            .order_by("name", "id")
            .values_list("pk", "resource_type", "department")[:over]
        )
        first_ids = [pk for pk, _, _ in rows]
        pairs = [(resource_type, department) for _, resource_type, department in rows]
        walk = True
    elif postgres:
        visible = Visibility.objects.filter(user_id=user.pk)
        if isinstance(few, list):
            visible = visible.filter(resource_id__in=RawSQL("SELECT unnest(%s::uuid[])", (few,)))
        else:
            visible = visible.filter(resource_id__in=pg_resource_ids_matching(clean))
        pairs = list(visible.values_list("resource_type", "department")[:over])
        walk = False
    else:
        pairs = _sqlite_visible_matches(user, clean, over)
        walk = row_match is not None and len(pairs) > SEARCH_COUNT_MAX
    capped = len(pairs) > SEARCH_COUNT_MAX
    return SearchCount(
        total=min(len(pairs), SEARCH_COUNT_MAX),
        capped=capped,
        walk=walk,
        few_matches=few,
        pairs=[] if capped else pairs,
        first_ids=first_ids,
    )


def _resources_annotate(qs: QuerySet[Resource], user: User) -> QuerySet[Resource]:
    account_count = (
        Account.objects.filter(resource_id=OuterRef("pk"))
        .order_by()
        .values("resource_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(
        access_level=_resource_level_expr(user),
        account_count=Coalesce(Subquery(account_count, output_field=IntegerField()), 0),
    ).select_related("owner")


def resources_visible(
    *,
    user: User,
    search: str | None = None,
    resource_type: str | None = None,
    resource_group_id: Any = None,
    department: str | None = None,
) -> QuerySet[Resource]:
    """Resources the user can see, each annotated with ``access_level`` and
    ``account_count``, ordered by name. One query (plus one to check a group filter).

    ``search`` matches name, host, URL, type, department, location, description and the
    usernames of the resource's accounts (case-insensitive substring). For pages of a large
    vault use :func:`resources_page`, which annotates only the rows of the page.
    """
    qs = _resources_filtered(
        user=user,
        search=search,
        resource_type=resource_type,
        resource_group_id=resource_group_id,
        department=department,
    )
    return _resources_annotate(qs, user)


def _searched(
    *,
    user: User,
    search: str,
    resource_type: str | None,
    resource_group_id: Any,
    department: str | None,
    count: SearchCount | None = None,
    few_matches: FewMatches = None,
) -> tuple[QuerySet[Resource], SearchCount]:
    """The list with a search: its rows (in the form :func:`search_count` chose) and its
    count, up to ``SEARCH_COUNT_MAX``. ``count``: :func:`search_count`'s answer for the same
    search with no other filter (the web page has it from the menus)."""
    clean = _filter_clean("search", search) or ""
    filtered = bool(resource_type or resource_group_id or department)
    if not filtered:
        count = count or search_count(user=user, search=clean)
    else:
        # Other filters narrow the matches further: counted in the page's own form.
        few = few_matches if few_matches is not None else search_matches_few(clean)
        row_form = resources_matching_row_q(clean) is not None
        short = len(clean) < MIN_INDEXED_LENGTH
        walk = row_form and (short or (connection.vendor == "postgresql" and not few))
        qs = _resources_filtered(
            user=user,
            search=clean,
            resource_type=resource_type,
            resource_group_id=resource_group_id,
            department=department,
            few_matches=few,
            walk=walk,
        )
        n = qs.order_by().values("pk")[: SEARCH_COUNT_MAX + 1].count()
        capped = n > SEARCH_COUNT_MAX
        count = SearchCount(min(n, SEARCH_COUNT_MAX), capped, walk or (capped and row_form), few)
    qs = _resources_filtered(
        user=user,
        search=clean,
        resource_type=resource_type,
        resource_group_id=resource_group_id,
        department=department,
        few_matches=count.few_matches,
        walk=count.walk,
    )
    return qs, count


def _listed(
    *,
    user: User,
    search: str | None,
    resource_type: str | None,
    resource_group_id: Any,
    department: str | None,
    few_matches: FewMatches = None,
    search_count: SearchCount | None = None,
) -> tuple[QuerySet[Resource], SearchCount | None]:
    """The rows of a list page, filtered and ordered: with a search, :func:`_searched`'s
    rows and count (up to ``SEARCH_COUNT_MAX``); without one, the rows and None (the
    caller counts them, exactly)."""
    clean = _filter_clean("search", search)
    if clean and _is_active(user):
        return _searched(
            user=user,
            search=clean,
            resource_type=resource_type,
            resource_group_id=resource_group_id,
            department=department,
            count=search_count,
            few_matches=few_matches,
        )
    qs = _resources_filtered(
        user=user,
        search=search,
        resource_type=resource_type,
        resource_group_id=resource_group_id,
        department=department,
        few_matches=few_matches,
    )
    return qs, None


@dataclass(frozen=True)
class ResourcePage:
    items: list[Resource]
    total: int
    total_capped: bool = False
    """With a search that finds more than ``SEARCH_COUNT_MAX``: ``total`` is that cap."""
    has_more: bool = False
    """Rows follow this page."""


def resources_page(
    *,
    user: User,
    limit: int,
    offset: int = 0,
    search: str | None = None,
    resource_type: str | None = None,
    resource_group_id: Any = None,
    department: str | None = None,
) -> ResourcePage:
    """One page of :func:`resources_visible` and the total (with a search, counted up to
    ``SEARCH_COUNT_MAX``: :func:`search_count`). Two queries whatever the size of the vault:
    the page's IDs are chosen first, so the per-row access level is worked out for the page
    only (not for every row skipped by the offset)."""
    capped = False
    first_ids: list[Any] | None = None
    qs, count = _listed(
        user=user,
        search=search,
        resource_type=resource_type,
        resource_group_id=resource_group_id,
        department=department,
    )
    if count is not None:
        total, capped, first_ids = count.total, count.capped, count.first_ids
    else:
        total = qs.count()
    page_ids: Any
    if first_ids is not None and (not capped or offset + limit < len(first_ids)):
        page_ids = first_ids[offset : offset + limit + 1]
    else:
        page_ids = qs.values("pk")[offset : offset + limit + 1]
    items = list(
        _resources_annotate(Resource.objects.filter(pk__in=page_ids), user).order_by("name", "id")
    )
    return ResourcePage(items[:limit], total, capped, len(items) > limit)


ResourceKey = tuple[str, uuid.UUID]
"""Where a resource sits in the (name, id) order of lists: the key of keyset pages."""


@dataclass(frozen=True)
class ResourceKeysetPage:
    items: list[Resource]
    total: int
    next_key: ResourceKey | None  # pass as ``after`` for the next page; None on the last
    prev_key: ResourceKey | None  # pass as ``before`` for the previous page; None on the first
    total_capped: bool = False
    """With a search that finds more than ``SEARCH_COUNT_MAX``: ``total`` is that cap."""


def resources_keyset_page(
    *,
    user: User,
    limit: int,
    after: ResourceKey | None = None,
    before: ResourceKey | None = None,
    search: str | None = None,
    resource_type: str | None = None,
    resource_group_id: Any = None,
    department: str | None = None,
    known_total: int | None = None,
    few_matches: FewMatches = None,
    search_count: SearchCount | None = None,
) -> ResourceKeysetPage:
    """A page of :func:`resources_visible` that starts after (or ends before) a key, and the
    total. Like :func:`resources_page`, the page's IDs are chosen first and only its rows are
    annotated; unlike an offset, a key lets the database start reading at the page (the
    (name, id) order has an index), so every page costs what the first one does.

    ``before`` with fewer than ``limit`` rows ahead of it gives the first page instead.

    ``known_total``: the number of resources these filters give, when the caller has it
    already (:func:`resource_filter_choices` counts them while reading the menus); saves
    the count query. Not used with a search, which is counted up to ``SEARCH_COUNT_MAX``
    (:func:`search_count`; ``total_capped`` says when there are more): ``search_count`` is
    :attr:`ResourceFilterChoices.search_count` for the same search and no other filter
    (saves the count and, on the first page, the query that finds its rows);
    ``few_matches``, :attr:`ResourceFilterChoices.few_matches` for the same search (saves the
    query that decides how to apply the access rules to it)."""
    capped = False
    first_ids: list[Any] | None = None
    qs, count = _listed(
        user=user,
        search=search,
        resource_type=resource_type,
        resource_group_id=resource_group_id,
        department=department,
        few_matches=few_matches,
        search_count=search_count,
    )
    if count is not None:
        total, capped, first_ids = count.total, count.capped, count.first_ids
    elif known_total is not None:
        total = known_total
    elif search or resource_type or department or resource_group_id or not _is_active(user):
        total = qs.count()
    else:
        total = _visible_resource_count(user)
    unfiltered = not (search or resource_type or department or resource_group_id)
    if total == 0 and not capped:
        # Nothing to show: no page query (the walk below would test every resource to
        # find out, bench/list_100k.py's 'nobody').
        return ResourceKeysetPage([], 0, None, None)
    if after is None and before is None and unfiltered and total >= WALK_MIN_VISIBLE:
        # The unfiltered first page of a user who sees many resources: walk the name index
        # and stop after the page (it holds a visible row every few rows). For a user who
        # sees few, the walk would test most of the vault to fill a page: gathering the
        # visible rows and sorting them (the set form) costs what they are. From a key deep
        # in the list the walk would test every row before the key, and with a filter
        # PostgreSQL's plan for the walk was seconds (type filter at 25,000 resources): the
        # set form is cheaper there.
        qs = _resources_filtered(
            user=user,
            search=search,
            resource_type=resource_type,
            resource_group_id=resource_group_id,
            department=department,
            per_row=True,
        )

    def annotated(ids: Any) -> list[Resource]:
        rows = _resources_annotate(Resource.objects.filter(pk__in=ids), user)
        return list(rows.order_by("name", "id"))

    if before is not None:
        name, pk = before
        ids = (
            qs.filter(Q(name__lt=name) | Q(name=name, pk__lt=pk))
            .order_by("-name", "-id")
            .values("pk")[: limit + 1]
        )
        rows = annotated(ids)
        if len(rows) > limit:
            rows = rows[1:]
            return ResourceKeysetPage(
                rows, total, (rows[-1].name, rows[-1].pk), (rows[0].name, rows[0].pk), capped
            )
        after = None  # back at the start: a full first page
    page_ids: Any
    if after is not None:
        name, pk = after
        page_ids = qs.filter(Q(name__gt=name) | Q(name=name, pk__gt=pk)).values("pk")[: limit + 1]
    elif first_ids is not None and (not capped or limit < len(first_ids)):
        page_ids = first_ids[: limit + 1]  # the search's count read them in list order
    else:
        page_ids = qs.values("pk")[: limit + 1]
    rows = annotated(page_ids)
    more = len(rows) > limit
    rows = rows[:limit]
    return ResourceKeysetPage(
        rows,
        total,
        (rows[-1].name, rows[-1].pk) if more else None,
        (rows[0].name, rows[0].pk) if after is not None and rows else None,
        capped,
    )


@dataclass(frozen=True)
class ResourceFilterChoices:
    types: list[str]
    departments: list[str]
    total: int = 0
    """How many resources the user can see (with ``search``: how many of them it finds, up
    to ``SEARCH_COUNT_MAX``); without a search, pass it to :func:`resources_keyset_page` as
    ``known_total`` when no other filter applies."""
    few_matches: FewMatches = None
    """With ``search``: :func:`search_matches_few`'s answer, for
    :func:`resources_keyset_page` with the same search."""
    total_capped: bool = False
    """With ``search``: it finds more than ``SEARCH_COUNT_MAX`` (``total`` is that cap)."""
    search_count: SearchCount | None = None
    """With ``search``: :func:`search_count`'s answer, for :func:`resources_keyset_page`
    with the same search and no other filter."""


def resource_filter_choices(
    *, user: User, limit: int = 500, search: str | None = None
) -> ResourceFilterChoices:
    """The distinct types and departments among the resources the user can see (for filter
    menus; never values from resources they cannot see). One query, at most ``limit``
    (type, department) pairs, and the number of resources (``total``).

    With ``search``, among the resources the search finds (the menus offer what can narrow
    the results), read with its count (:func:`search_count`, up to ``SEARCH_COUNT_MAX``),
    where the whole visible set costs a read of every resource the user can see (22,500
    rows, most of a search page's time in bench/list_100k.py). A search that finds more
    than that offers every visible resource's values instead, as the list without a search
    does (a value that the search does not find then gives an empty list)."""
    if not _is_active(user):
        return ResourceFilterChoices([], [], 0)
    clean = _filter_clean("search", search)
    count = search_count(user=user, search=clean) if clean else None
    counted: list[tuple[str, str, int]]
    if count is not None and not count.capped:
        tally: dict[tuple[str, str], int] = {}
        for pair in count.pairs:
            tally[pair] = tally.get(pair, 0) + 1
        counted = [(t, d, n) for (t, d), n in tally.items()]
    else:
        # Without a search (or beyond the count): the user's rows of the visibility table,
        # which carry each resource's type and department, read from their (user, type,
        # department) index alone (not a lookup of every visible resource). Counted per
        # pair in the same read: the sum is the list's total, which the page would
        # otherwise count in a second pass over the same visible rows.
        counted = list(
            Visibility.objects.filter(user_id=user.pk)
            .order_by()
            .values_list("resource_type", "department")
            .annotate(n=Count("*"))
        )
    types: set[str] = set()
    departments: set[str] = set()
    total = 0
    for seen, (resource_type, department, n) in enumerate(counted):
        total += n
        if seen >= limit:
            continue  # the menus are full; the rest only counts
        if resource_type:
            types.add(resource_type)
        if department:
            departments.add(department)
    if count is not None:
        total = count.total
    return ResourceFilterChoices(
        sorted(types, key=str.casefold),
        sorted(departments, key=str.casefold),
        total,
        count.few_matches if count is not None else None,
        count.capped if count is not None else False,
        count,
    )


def resource_access_level(*, user: User, resource: Resource) -> int | None:
    """The user's level on the resource (AccessLevel value) or None for no access.

    The same rules as the ``access_level`` annotation of :func:`resources_visible`, written
    as two small queries: for one object they are much cheaper to build and run."""
    if not _is_active(user):
        return None
    if resource.owner_id == user.pk:
        return int(AccessLevel.MANAGE)
    groups = _RG_THROUGH.objects.filter(resource_id=resource.pk)
    if groups.filter(resourcegroup__owner_id=user.pk).exists():
        return int(AccessLevel.MANAGE)
    level = (
        Share.objects.filter(
            Q(resource_id=resource.pk) | Q(resource_group_id__in=groups.values("resourcegroup_id")),
            _grantee_q(user),
        )
        .order_by("-level")
        .values_list("level", flat=True)
        .first()
    )
    return None if level is None else int(level)


def resource_get(*, user: User, resource_id: Any, min_level: int = AccessLevel.VIEW) -> Resource:
    """The resource with ``access_level`` and ``account_count`` set like
    :func:`resources_visible`; 404 if the user cannot see it, 403 if they can but below
    ``min_level``."""
    pk = _as_uuid(resource_id, "resource")
    resource = (
        Resource.objects.select_related("owner")
        .filter(pk=pk)
        .annotate(account_count=Count("accounts"))
        .first()
    )
    level = None if resource is None else resource_access_level(user=user, resource=resource)
    if resource is None or level is None:
        raise NotFound("resource not found")
    resource.access_level = _require_level(level, min_level, "resource")  # type: ignore[attr-defined]
    return resource


# --------------------------------------------------------------------------- accounts


def accounts_list(*, user: User, resource_id: Any) -> QuerySet[Account]:
    resource = resource_get(user=user, resource_id=resource_id, min_level=AccessLevel.VIEW)
    return Account.objects.filter(resource_id=resource.pk).order_by("username", "id")


# Every secret read starts here: the query is compiled once (core/prepared.py).
_ACCOUNT_BY_PK = PreparedGet(Account, "pk", select_related=("resource",))


def account_get(*, user: User, account_id: Any, min_level: int = AccessLevel.VIEW) -> Account:
    """The account with ``account.resource`` loaded and ``account.access_level`` set."""
    pk = _as_uuid(account_id, "account")
    account = _ACCOUNT_BY_PK.get(pk)
    if account is None:
        raise NotFound("account not found")
    level = resource_access_level(user=user, resource=account.resource)
    account.access_level = _require_level(level, min_level, "account")  # type: ignore[attr-defined]
    return account


def account_notes(*, account: Account) -> str:
    """The account's notes. Sealed at rest like every secret column, but shown to anyone with
    view level on the account's details without an audit record: unlike passwords and TOTP
    codes, notes are descriptive (a user who keeps secrets in them should use a password)."""
    return unseal(account, "notes") or ""


def password_history_list(*, user: User, account_id: Any) -> QuerySet[PasswordHistory]:
    """Metadata of the account's earlier passwords, newest first (never the values)."""
    account = account_get(user=user, account_id=account_id, min_level=AccessLevel.VIEW)
    return (
        PasswordHistory.objects.filter(account_id=account.pk)
        .select_related("changed_by")
        .defer("password")
        .order_by("-created_at", "-id")
    )


def password_history_get(
    *, user: User, account_id: Any, history_id: Any, min_level: int = AccessLevel.VIEW
) -> PasswordHistory:
    account = account_get(user=user, account_id=account_id, min_level=min_level)
    pk = _as_uuid(history_id, "password history entry")
    entry = PasswordHistory.objects.filter(pk=pk, account_id=account.pk).first()
    if entry is None:
        raise NotFound("password history entry not found")
    entry.account = account
    return entry


# --------------------------------------------------------------------------- groups


def resource_groups_visible(*, user: User, search: str | None = None) -> QuerySet[ResourceGroup]:
    """Resource groups the user owns or that are shared with them (or their groups),
    annotated with ``access_level`` and ``resource_count``."""
    search = _filter_clean("search", search)
    if not _is_active(user):
        return ResourceGroup.objects.none()
    shared = Share.objects.filter(_grantee_q(user), resource_group_id__isnull=False).values(
        "resource_group_id"
    )
    qs = ResourceGroup.objects.filter(Q(owner_id=user.pk) | Q(pk__in=shared))
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    resource_count = (
        _RG_THROUGH.objects.filter(resourcegroup_id=OuterRef("pk"))
        .order_by()
        .values("resourcegroup_id")
        .annotate(n=Count("pk"))
        .values("n")  # type: ignore[misc]
    )
    return (
        qs.annotate(
            access_level=_resource_group_level_expr(user),
            resource_count=Coalesce(Subquery(resource_count, output_field=IntegerField()), 0),
        )
        .select_related("owner")
        .order_by("name", "id")
    )


def resource_group_access_level(*, user: User, resource_group: ResourceGroup) -> int | None:
    if not _is_active(user):
        return None
    if resource_group.owner_id == user.pk:
        return int(AccessLevel.MANAGE)
    level = (
        Share.objects.filter(_grantee_q(user), resource_group_id=resource_group.pk)
        .order_by("-level")
        .values_list("level", flat=True)
        .first()
    )
    return None if level is None else int(level)


def resource_group_get(
    *, user: User, resource_group_id: Any, min_level: int = AccessLevel.VIEW
) -> ResourceGroup:
    pk = _as_uuid(resource_group_id, "resource group")
    group = (
        ResourceGroup.objects.select_related("owner")
        .filter(pk=pk)
        .annotate(resource_count=Count("resources"))
        .first()
    )
    level = None if group is None else resource_group_access_level(user=user, resource_group=group)
    if group is None or level is None:
        raise NotFound("resource group not found")
    group.access_level = _require_level(level, min_level, "resource group")  # type: ignore[attr-defined]
    return group


# --------------------------------------------------------------------------- shares


def shares_list(
    *, user: User, resource_id: Any = None, resource_group_id: Any = None
) -> QuerySet[Share]:
    """Shares on one resource or resource group (manage level needed), or, with no target,
    the shares on everything the user manages."""
    qs = Share.objects.select_related("user", "user_group", "resource", "resource_group")
    if resource_id and resource_group_id:
        raise ValidationFailed(
            "give resource_id or resource_group_id, not both", field="resource_id"
        )
    if resource_id:
        resource = resource_get(user=user, resource_id=resource_id, min_level=AccessLevel.MANAGE)
        qs = qs.filter(resource_id=resource.pk)
    elif resource_group_id:
        group = resource_group_get(
            user=user, resource_group_id=resource_group_id, min_level=AccessLevel.MANAGE
        )
        qs = qs.filter(resource_group_id=group.pk)
    else:
        if not _is_active(user):
            return Share.objects.none()
        managed_resources = resources_visible(user=user).filter(
            access_level=AccessLevel.MANAGE  # type: ignore[misc]
        )
        managed_groups = resource_groups_visible(user=user).filter(
            access_level=AccessLevel.MANAGE  # type: ignore[misc]
        )
        qs = qs.filter(
            Q(resource_id__in=managed_resources.values("pk"))
            | Q(resource_group_id__in=managed_groups.values("pk"))
        )
    return qs.order_by("created_at", "id")


def share_get(*, user: User, share_id: Any, min_level: int = AccessLevel.MANAGE) -> Share:
    """A share, visible to whoever can see its target; acting on it needs ``min_level`` on
    the target."""
    pk = _as_uuid(share_id, "share")
    share = (
        Share.objects.select_related("resource", "resource_group", "user", "user_group")
        .filter(pk=pk)
        .first()
    )
    if share is None:
        raise NotFound("share not found")
    level: int | None = None
    if share.resource is not None:
        level = resource_access_level(user=user, resource=share.resource)
    elif share.resource_group is not None:
        level = resource_group_access_level(user=user, resource_group=share.resource_group)
    _require_level(level, min_level, "share")
    return share


# --------------------------------------------------------------------------- who has access


@dataclass(frozen=True)
class AccessGrant:
    """One reason someone can reach a resource.

    ``via`` is ``owner`` (owns the resource), ``share`` (a share on the resource),
    ``resource_group_owner`` (owns a resource group containing it) or
    ``resource_group_share`` (a share on such a group).
    """

    via: str
    level: int
    principal_type: str  # "user" or "user_group"
    principal_id: uuid.UUID
    principal_name: str
    share_id: uuid.UUID | None = None
    resource_group_id: uuid.UUID | None = None
    resource_group_name: str | None = None


@dataclass
class EffectiveAccess:
    """What one active user can do with the resource, and every grant that leads there."""

    user_id: uuid.UUID
    username: str
    level: int
    grants: list[AccessGrant] = field(default_factory=list)


@dataclass
class ResourceAccess:
    resource: Resource
    grants: list[AccessGrant]
    users: list[EffectiveAccess]


def resource_access_list(*, user: User, resource_id: Any) -> ResourceAccess:
    """Who has access to the resource, at which level, and through what. Needs manage level
    (the list names people and groups and is the basis for changing shares)."""
    resource = resource_get(user=user, resource_id=resource_id, min_level=AccessLevel.MANAGE)
    grants: list[AccessGrant] = [
        AccessGrant(
            via="owner",
            level=int(AccessLevel.MANAGE),
            principal_type="user",
            principal_id=resource.owner.pk,
            principal_name=resource.owner.username,
        )
    ]
    groups = list(
        ResourceGroup.objects.filter(resources=resource).select_related("owner").order_by("name")
    )
    for group in groups:
        grants.append(
            AccessGrant(
                via="resource_group_owner",
                level=int(AccessLevel.MANAGE),
                principal_type="user",
                principal_id=group.owner.pk,
                principal_name=group.owner.username,
                resource_group_id=group.pk,
                resource_group_name=group.name,
            )
        )
    shares = Share.objects.filter(
        Q(resource_id=resource.pk) | Q(resource_group_id__in=[g.pk for g in groups])
    ).select_related("user", "user_group", "resource_group")
    for share in shares.order_by("created_at", "id"):
        principal: Any = share.user if share.user is not None else share.user_group
        grants.append(
            AccessGrant(
                via="share" if share.resource_id else "resource_group_share",
                level=int(share.level),
                principal_type="user" if share.user is not None else "user_group",
                principal_id=principal.pk,
                principal_name=principal.username if share.user is not None else principal.name,
                share_id=share.pk,
                resource_group_id=share.resource_group_id,
                resource_group_name=share.resource_group.name if share.resource_group else None,
            )
        )

    group_ids = {g.principal_id for g in grants if g.principal_type == "user_group"}
    members: dict[uuid.UUID, list[User]] = {}
    for link in _UG_THROUGH.objects.filter(usergroup_id__in=group_ids).select_related("user"):
        members.setdefault(link.usergroup_id, []).append(link.user)
    user_ids = {g.principal_id for g in grants if g.principal_type == "user"}
    direct_users = {u.pk: u for u in User.objects.filter(pk__in=user_ids)}

    effective: dict[uuid.UUID, EffectiveAccess] = {}
    for grant in grants:
        reached = (
            [direct_users[grant.principal_id]]
            if grant.principal_type == "user"
            else members.get(grant.principal_id, [])
        )
        for person in reached:
            if not person.is_active:
                continue
            entry = effective.setdefault(
                person.pk, EffectiveAccess(user_id=person.pk, username=person.username, level=0)
            )
            entry.level = max(entry.level, grant.level)
            entry.grants.append(grant)
    users = sorted(effective.values(), key=lambda e: (e.username.lower(), str(e.user_id)))
    return ResourceAccess(resource=resource, grants=grants, users=users)
