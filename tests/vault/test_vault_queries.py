"""Listing does not grow with the vault: a fixed number of queries however many resources,
accounts, shares and groups there are."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from factories import account_make, api_for, group_make, resource_make, rgroup_make, user_make
from strongroom.vault import services, visibility
from strongroom.vault.models import AccessLevel

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

# Pinned so that an N+1 (or a new per-request query) shows up.
LIST_QUERIES = 3  # token lookup, count, page
ACCOUNTS_QUERIES = 5  # token, resource, group-owner check, best share, accounts


def _populate(owner, reader, count: int, prefix: str) -> None:
    team = group_make(reader)
    for i in range(count):
        resource = resource_make(owner, name=f"{prefix}-{i:03d}")
        account_make(owner, resource, username=f"user{i}")
        if i % 3 == 0:
            services.share_grant(
                actor=owner, resource_id=resource.pk, user_id=reader.pk, level=AccessLevel.VIEW
            )
        elif i % 3 == 1:
            services.share_grant(
                actor=owner,
                resource_id=resource.pk,
                user_group_id=team.pk,
                level=AccessLevel.MODIFY,
            )
        else:
            rg = rgroup_make(owner, resource)
            services.share_grant(
                actor=owner, resource_group_id=rg.pk, user_id=reader.pk, level=AccessLevel.MANAGE
            )


def _list_queries(api, path: str) -> tuple[int, dict]:
    api.get(path)  # warm up: the token's last-used time is written at most once a minute
    with CaptureQueriesContext(connection) as captured:
        body = api.get(path).json()
    return len(captured), body


def test_listing_resources_takes_a_fixed_number_of_queries(django_assert_max_num_queries):
    owner = user_make("password_admin")
    reader = user_make("password_user")
    api = api_for(reader)
    _populate(owner, reader, 3, "a")
    small, body = _list_queries(api, "/resources?limit=500")
    assert body["total"] == 3
    _populate(owner, reader, 30, "b")
    large, body = _list_queries(api, "/resources?limit=500")
    assert body["total"] == 33
    assert {r["access_level"] for r in body["items"]} == {1, 2, 3}
    assert all(r["account_count"] == 1 for r in body["items"])
    assert large == small == LIST_QUERIES
    with django_assert_max_num_queries(LIST_QUERIES):
        api.get("/resources?limit=500&search=b-")
    with django_assert_max_num_queries(LIST_QUERIES - 1):
        api.get("/resource-groups")
    accounts_of = body["items"][0]["id"]
    with django_assert_max_num_queries(ACCOUNTS_QUERIES):
        api.get(f"/resources/{accounts_of}/accounts")


def test_keyset_page_total_counts_every_way_in_once_and_nothing_else():
    """The unfiltered page's total is counted from the visibility table; it must equal the
    visible list, count a resource reached twice once, and leave out what the user cannot
    see."""
    from strongroom.vault import selectors

    boss = user_make("password_admin")
    reader = user_make("password_admin")
    team = group_make(reader)
    owned = resource_make(reader, "owned")
    direct = resource_make(boss, "direct")
    via_team = resource_make(boss, "via-team")
    in_shared_group = resource_make(boss, "in-shared-group")
    twice = resource_make(boss, "twice")  # a direct share and a shared resource group
    resource_make(boss, "hidden")
    rg = rgroup_make(boss, in_shared_group, twice)
    in_own_group = resource_make(boss, "in-own-group")
    own_rg = rgroup_make(reader, name="mine")
    # Straight into the table: the services refuse it (the reader does not manage the
    # resource), and a write that bypasses them must rewrite the visibility table itself.
    own_rg.resources.add(in_own_group)
    visibility.refresh(resource_ids=[in_own_group.pk])
    for resource_id, kw in (
        (direct.pk, {"user_id": reader.pk}),
        (via_team.pk, {"user_group_id": team.pk}),
        (twice.pk, {"user_id": reader.pk}),
    ):
        services.share_grant(actor=boss, resource_id=resource_id, level=AccessLevel.VIEW, **kw)
    services.share_grant(
        actor=boss, resource_group_id=rg.pk, user_id=reader.pk, level=AccessLevel.VIEW
    )
    page = selectors.resources_keyset_page(user=reader, limit=3)
    visible = sorted(r.name for r in selectors.resources_visible(user=reader))
    assert visible == sorted(
        ["owned", "direct", "via-team", "in-shared-group", "twice", "in-own-group"]
    )
    assert page.total == len(visible) == 6
    assert [r.name for r in page.items] == visible[:3]
    assert selectors.resources_keyset_page(user=boss, limit=3).total == 6
    assert owned.pk in {r.pk for r in selectors.resources_visible(user=reader)}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own page cache")
def test_sqlite_connections_have_a_32_mib_page_cache() -> None:
    """Walks of the name index (first pages, broad and two-character searches, filters) read
    thousands of resource rows in random table order; SQLite's default 2 MB cache evicted
    pages the same query read again (settings.py, docs/architecture.md "Search")."""
    # A new connection, as every request opens one (CONN_MAX_AGE 0).
    fresh = connection.get_new_connection(connection.get_connection_params())
    try:
        assert fresh.execute("PRAGMA cache_size").fetchone()[0] == -32768
    finally:
        fresh.close()
