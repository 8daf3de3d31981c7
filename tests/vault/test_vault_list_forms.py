"""The resource list chooses how to read a page by what the user sees (vault.selectors):
the name-index walk for a user who sees many resources, the set form for one who sees few,
nothing at all for one who sees none; the total comes from the filter menus' query; and on
PostgreSQL a search that finds few resources probes each match's shares, one that finds
many tests the set of everything visible.

Every form must list exactly what the access rules allow, in the same order, with the same
total: each test runs the forms side by side (the thresholds forced each way) against the
same people, who reach resources in every way there is, and against the changes that take
access away (revoked share, removed member, resource taken out of a group, deactivation).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from factories import (
    account_make,
    deactivate,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.accounts import services as people
from strongroom.accounts.models import UserGroup
from strongroom.vault import selectors, services
from strongroom.vault.models import AccessLevel, Resource, ResourceGroup

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


@pytest.fixture(params=["walk", "set"])
def first_page_form(request, monkeypatch) -> str:
    """The unfiltered first page read by walking the name index, or by the set form."""
    monkeypatch.setattr(selectors, "WALK_MIN_VISIBLE", 0 if request.param == "walk" else 10**9)
    return request.param


@pytest.fixture(params=["probe", "set"])
def search_form(request, monkeypatch) -> str:
    """PostgreSQL: a search tested match by match, or against the set of what is visible."""
    monkeypatch.setattr(selectors, "PG_PROBE_MAX_MATCHES", 10**9 if request.param == "probe" else 0)
    return request.param


@pytest.fixture(params=["exact", "capped"])
def count_cap(request, monkeypatch) -> int:
    """A search counted exactly, or only up to 2 (so that a search finding more says "2+"
    and reads its pages by walking the name index, testing each resource)."""
    cap = 10**9 if request.param == "exact" else 2
    monkeypatch.setattr(selectors, "SEARCH_COUNT_MAX", cap)
    return cap


@pytest.fixture
def world() -> dict[str, Any]:
    """Twenty resources "kilo-00".."kilo-19" (every other one also has a "zulu" account),
    and people who reach some of them each way there is."""
    owner = user_make("password_admin", username="owner")
    direct = user_make(username="direct")
    member = user_make(username="member")
    left = user_make(username="left")  # was a member, removed
    rg_reader = user_make(username="rg-reader")
    rg_team_reader = user_make(username="rg-team-reader")
    rg_owner = user_make("password_admin", username="rg-owner")
    gone = user_make(username="gone")
    nobody = user_make(username="nobody")
    team = group_make(member, left, name="team")
    rg_team = group_make(rg_team_reader, name="rg-team")

    res = []
    for i in range(20):
        resource = resource_make(owner, name=f"kilo-{i:02d}", host=f"h{i}.example.test")
        if i % 2:
            account_make(owner, resource, username=f"zulu-{i}")
        res.append(resource)

    def share(*, user=None, group=None, resource=None, rgroup=None, level=AccessLevel.VIEW):
        return services.share_grant(
            actor=owner,
            resource_id=resource.pk if resource else None,
            resource_group_id=rgroup.pk if rgroup else None,
            user_id=user.pk if user else None,
            user_group_id=group.pk if group else None,
            level=level,
        )

    for i in (0, 3, 7):
        share(user=direct, resource=res[i])
    revoked = share(user=direct, resource=res[8])
    services.share_revoke(actor=owner, share_id=revoked.pk)
    for i in (1, 2, 3):
        share(group=team, resource=res[i], level=AccessLevel.MODIFY)
    people.user_group_remove_member(actor=user_make("admin"), group=team, user=left)
    site = rgroup_make(owner, res[10], res[11], res[12], name="site")
    share(user=rg_reader, rgroup=site)
    share(group=rg_team, rgroup=site)
    services.resource_group_remove_resource(
        actor=owner, resource_group_id=site.pk, resource_id=res[12].pk
    )
    # rg-owner reaches kilo-15 only by owning a resource group holding it.
    manage = share(user=rg_owner, resource=res[15], level=AccessLevel.MANAGE)
    rgroup_make(rg_owner, res[15], name="own")
    services.share_revoke(actor=owner, share_id=manage.pk)
    share(user=gone, resource=res[0])
    deactivate(gone)
    for user in (direct, member, left, rg_reader, rg_team_reader, rg_owner, gone, nobody):
        user.refresh_from_db()

    names = [r.name for r in res]
    return {
        "people": {
            "owner": owner,
            "direct": direct,
            "member": member,
            "left": left,
            "rg-reader": rg_reader,
            "rg-team-reader": rg_team_reader,
            "rg-owner": rg_owner,
            "gone": gone,
            "nobody": nobody,
        },
        "sees": {
            "owner": names,
            "direct": [names[i] for i in (0, 3, 7)],
            "member": [names[i] for i in (1, 2, 3)],
            "left": [],
            "rg-reader": [names[i] for i in (10, 11)],
            "rg-team-reader": [names[i] for i in (10, 11)],
            "rg-owner": [names[15]],
            "gone": [],
            "nobody": [],
        },
    }


def _all_pages(user: Any, limit: int, **filters: Any) -> tuple[list[str], int]:
    """Every page, forwards by ``after`` keys; going back from each page by a ``before``
    key gives the page before it."""
    pages: list[list[Any]] = []
    page = selectors.resources_keyset_page(user=user, limit=limit, **filters)
    total = page.total
    while True:
        pages.append(page.items)
        assert page.total == total
        if page.next_key is None:
            break
        page = selectors.resources_keyset_page(
            user=user, limit=limit, after=page.next_key, **filters
        )
    for i in range(1, len(pages)):
        first = pages[i][0]
        back = selectors.resources_keyset_page(
            user=user, limit=limit, before=(first.name, first.pk), **filters
        )
        assert [r.name for r in back.items] == [r.name for r in pages[i - 1]]
    return [r.name for p in pages for r in p], total


def test_every_first_page_form_lists_exactly_what_each_person_may_see(world, first_page_form):
    for who, user in world["people"].items():
        expected = world["sees"][who]
        listed, total = _all_pages(user, limit=3)
        assert listed == expected, (who, first_page_form)
        assert total == len(expected), who
        assert selectors.resource_filter_choices(user=user).total == len(expected), who


def test_the_list_follows_access_changes_in_either_form(world, first_page_form):
    owner, direct, member = (world["people"][k] for k in ("owner", "direct", "member"))
    listed, _ = _all_pages(direct, limit=2)
    assert listed == ["kilo-00", "kilo-03", "kilo-07"]
    # A new share shows at once; a revoked one goes at once.
    extra = services.share_grant(
        actor=owner,
        resource_id=world_resource("kilo-19").pk,
        user_id=direct.pk,
        level=AccessLevel.VIEW,
    )
    assert _all_pages(direct, limit=2)[0] == ["kilo-00", "kilo-03", "kilo-07", "kilo-19"]
    services.share_revoke(actor=owner, share_id=extra.pk)
    assert _all_pages(direct, limit=2)[0] == ["kilo-00", "kilo-03", "kilo-07"]
    # Leaving the team takes its shares away; a deleted resource leaves every list.
    team = UserGroup.objects.get(name="team")
    people.user_group_remove_member(actor=user_make("admin"), group=team, user=member)
    assert _all_pages(member, limit=2) == ([], 0)
    services.resource_delete(actor=owner, resource_id=world_resource("kilo-03").pk)
    assert _all_pages(direct, limit=2)[0] == ["kilo-00", "kilo-07"]
    # Deactivation empties the list whatever the shares say.
    deactivate(direct)
    direct.refresh_from_db()
    assert _all_pages(direct, limit=2) == ([], 0)


def world_resource(name: str) -> Resource:
    return Resource.objects.get(name=name)


def test_a_user_who_sees_nothing_costs_no_page_query(world):
    """bench/list_100k.py's 'nobody': the count says there is nothing, so no query walks
    the resources to find out."""
    nobody = world["people"]["nobody"]
    with CaptureQueriesContext(connection) as captured:
        page = selectors.resources_keyset_page(user=nobody, limit=50)
    assert page.items == [] and page.total == 0 and page.next_key is None
    assert len(captured) == 1  # the count
    with CaptureQueriesContext(connection) as captured:
        page = selectors.resources_keyset_page(user=nobody, limit=50, known_total=0)
    assert page.items == [] and len(captured) == 0

    client = Client()
    client.force_login(nobody)
    response = client.get(reverse("vault:resource_list"))
    assert response.status_code == 200
    assert "kilo-" not in response.content.decode()


def test_the_web_list_total_comes_from_the_menus_query(world):
    """One pass over the visible rows gives both the menus and the total: the page's
    total and rows agree with the selector for each person, with and without a search."""
    for who in ("owner", "direct", "member", "rg-reader", "nobody"):
        user = world["people"][who]
        client = Client()
        client.force_login(user)
        for q, expected in (
            ("", world["sees"][who]),
            ("kilo-1", [n for n in world["sees"][who] if n.startswith("kilo-1")]),
        ):
            response = client.get(reverse("vault:resource_list"), {"q": q} if q else {})
            body = response.content.decode()
            assert response.context["total"] == len(expected), (who, q)
            assert [r.name for r in response.context["resources"]] == expected, (who, q)
            for name in set(world["sees"]["owner"]) - set(expected):
                assert f">{name}<" not in body, (who, q, name)


def test_the_menus_count_everything_even_when_the_menus_are_full(world):
    owner = world["people"]["owner"]
    services.resource_update(
        actor=owner, resource_id=world_resource("kilo-04").pk, resource_type="Firewall"
    )
    choices = selectors.resource_filter_choices(user=owner, limit=1)
    assert choices.total == 20
    assert len(choices.types) + len(choices.departments) <= 2


@pytest.mark.parametrize("text", ["kilo", "ilo-1", "zulu", "ZULU-1", "h1.", "lo", "nothing-here"])
def test_every_search_form_finds_exactly_what_each_person_may_see(
    world, search_form, count_cap, text
):
    """On PostgreSQL both forms run (on SQLite the threshold is not used: the same answers
    are still checked). Usernames count as matches ('zulu' is only in accounts). With the
    count capped, a search that finds more than the cap says so (``total_capped``, the cap as
    its total) and its pages walk the name index testing each resource: the same rows, page
    by page, forwards and back, through the keyset pages and the API's offsets."""
    owner_matches = {
        "kilo": set(world["sees"]["owner"]),
        "ilo-1": {f"kilo-{i}" for i in range(10, 20)},
        "zulu": {f"kilo-{i:02d}" for i in range(1, 20, 2)},
        "ZULU-1": {f"kilo-{i}" for i in range(11, 20, 2)} | {"kilo-01"},
        "h1.": {"kilo-01"},
        "lo": set(world["sees"]["owner"]),
        "nothing-here": set(),
    }[text]
    for who, user in world["people"].items():
        expected = sorted(owner_matches & set(world["sees"][who]))
        total, capped = min(len(expected), count_cap), len(expected) > count_cap
        page = selectors.resources_keyset_page(user=user, limit=50, search=text)
        assert [r.name for r in page.items] == expected, (who, text, search_form)
        assert (page.total, page.total_capped) == (total, capped), (who, text)
        choices = selectors.resource_filter_choices(user=user, search=text)
        assert (choices.total, choices.total_capped) == (total, capped), (who, text)
        # The page reuses the menus' count (the web page's path): same rows, same total.
        again = selectors.resources_keyset_page(
            user=user, limit=50, search=text, search_count=choices.search_count
        )
        assert [r.name for r in again.items] == expected, (who, text)
        assert (again.total, again.total_capped) == (total, capped), (who, text)
        listed, all_total = _all_pages(user, limit=2, search=text)
        assert (listed, all_total) == (expected, total), (who, text)
        by_offset: list[str] = []
        while True:
            offset_page = selectors.resources_page(
                user=user, limit=2, offset=len(by_offset), search=text
            )
            assert (offset_page.total, offset_page.total_capped) == (total, capped), who
            by_offset += [r.name for r in offset_page.items]
            if not offset_page.has_more:
                break
        assert by_offset == expected, (who, text)
        # With another filter too (counted in the page's own form).
        in_group = sorted(set(expected) & {"kilo-10", "kilo-11"})
        if who in ("owner", "rg-reader", "rg-team-reader"):
            group = ResourceGroup.objects.get(name="site")
            listed, all_total = _all_pages(user, limit=1, search=text, resource_group_id=group.pk)
            assert listed == in_group, (who, text)
            assert all_total == min(len(in_group), count_cap), (who, text)
