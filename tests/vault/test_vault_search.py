"""Resource search through the databases' own indexes (vault.search): pg_trgm on PostgreSQL,
an FTS5 trigram table kept by triggers on SQLite.

What is pinned: a search never widens what a user sees (every role, every way of reaching a
resource, and the one-and-two-character fallback); the index follows every write that
changes what a search finds (create, rename, each searched field, accounts, delete, shares,
groups); hostile and Unicode search text is plain text; the search is served by the index;
and a SQLite table rebuild that drops the triggers is repaired by the next ``migrate``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from factories import (
    ROLES,
    account_make,
    api_for,
    deactivate,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.accounts import services as people
from strongroom.vault import search, selectors, services, visibility
from strongroom.vault.models import AccessLevel, Resource

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

SQLITE = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the SQLite index (FTS5 table and triggers)"
)


def found(user: Any, text: str) -> set[str]:
    """Names of the resources a search shows ``user`` through the REST API (one page of
    up to 500), checked against the selector the web page uses."""
    body = api_for(user).get("/resources", {"search": text, "limit": 500}).json()
    names = {item["name"] for item in body["items"]}
    total, capped = (
        min(len(names), selectors.SEARCH_COUNT_MAX),
        len(names) > selectors.SEARCH_COUNT_MAX,
    )
    assert (body["total"], body["total_capped"]) == (total, capped)
    page = selectors.resources_keyset_page(user=user, limit=500, search=text)
    assert {r.name for r in page.items} == names
    assert (page.total, page.total_capped) == (total, capped)
    return names


def index_consistent() -> None:
    """On SQLite: FTS5's own check that the index matches its content table exactly, and
    one content row per resource and per account."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        fts, table = search.FTS, search.TABLE  # constants of vault.search, not input
        cursor.execute(f"INSERT INTO {fts} ({fts}) VALUES ('integrity-check')")  # noqa: S608
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
        rows = cursor.fetchone()[0]
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM strongroom_resource)"
            " + (SELECT COUNT(*) FROM strongroom_account)"
        )
        assert rows == cursor.fetchone()[0]


# --------------------------------------------------------------------------- who sees what


@pytest.fixture
def world() -> dict[str, Any]:
    """Eight resources holding the word "needle" in different fields, each reachable by a
    different way (or not at all); people of every role."""
    owner = user_make("password_admin", username="owner")
    people_by = {role: user_make(role, username=f"{role}-person") for role in ROLES}
    direct = user_make(username="direct")
    member = user_make(username="member")
    rg_viewer = user_make(username="rg-viewer")
    rg_owner = user_make("password_admin", username="rg-owner")
    gone = user_make(username="gone")
    team = group_make(member, name="team")

    by_name = resource_make(owner, name="needle-by-name")
    by_host = resource_make(owner, name="by-host", host="NEEDLE.example.test")
    by_user = resource_make(owner, name="by-username")
    account_make(owner, by_user, username="svc-needle")
    in_group = resource_make(owner, name="in-group", description="a needle in a haystack")
    via_owned_group = resource_make(owner, name="rg-owned", location="needle-site")
    resource_make(owner, name="needle-private", department="needle")
    unrelated = resource_make(owner, name="hay")
    account_make(owner, unrelated, username="root")

    services.share_grant(
        actor=owner, resource_id=by_name.pk, user_id=direct.pk, level=AccessLevel.VIEW
    )
    services.share_grant(
        actor=owner, resource_id=by_name.pk, user_id=gone.pk, level=AccessLevel.VIEW
    )
    services.share_grant(
        actor=owner, resource_id=by_host.pk, user_group_id=team.pk, level=AccessLevel.MODIFY
    )
    services.share_grant(
        actor=owner, resource_id=by_user.pk, user_id=people_by["auditor"].pk, level=AccessLevel.VIEW
    )
    shared_group = rgroup_make(owner, in_group, name="shared")
    services.share_grant(
        actor=owner, resource_group_id=shared_group.pk, user_id=rg_viewer.pk, level=AccessLevel.VIEW
    )
    # rg-owner reaches rg-owned only by owning a resource group that holds it: they put it
    # there while they managed it, then lost the share.
    manage = services.share_grant(
        actor=owner, resource_id=via_owned_group.pk, user_id=rg_owner.pk, level=AccessLevel.MANAGE
    )
    rgroup_make(rg_owner, via_owned_group, name="own")
    services.share_revoke(actor=owner, share_id=manage.pk)
    deactivate(gone)
    return {
        "owner": owner,
        "roles": people_by,
        "direct": direct,
        "member": member,
        "rg_viewer": rg_viewer,
        "rg_owner": rg_owner,
        "gone": gone,
    }


ALL_NEEDLES = {
    "needle-by-name",
    "by-host",
    "by-username",
    "in-group",
    "rg-owned",
    "needle-private",
}


@pytest.mark.parametrize("text", ["needle", "NEEDLE", "eedl", "nE", "d"])
def test_a_search_shows_each_person_only_what_they_can_see(world, text):
    """Three characters or more go through the index, one and two through the fallback
    scan: either way the owner finds every needle (each in a different field, one only in
    an account's username) and everyone else only what they reach."""
    assert found(world["owner"], text) == ALL_NEEDLES
    assert found(world["direct"], text) == {"needle-by-name"}
    assert found(world["member"], text) == {"by-host"}
    assert found(world["rg_viewer"], text) == {"in-group"}
    assert found(world["rg_owner"], text) == {"rg-owned"}
    # Roles grant nothing in the vault, not even Administrator; the auditor has one share.
    assert found(world["roles"]["admin"], text) == set()
    assert found(world["roles"]["password_admin"], text) == set()
    assert found(world["roles"]["password_user"], text) == set()
    assert found(world["roles"]["auditor"], text) == {"by-username"}
    # A deactivated user's search shows nothing (the selector; the API refuses them).
    gone = world["gone"]
    gone.refresh_from_db()
    assert selectors.resources_keyset_page(user=gone, limit=50, search=text).items == []


def test_the_web_page_search_shows_only_what_the_user_can_see(world):
    client = Client()
    client.force_login(world["member"])
    page = client.get(reverse("vault:resource_list"), {"q": "needle"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "by-host" in text
    for hidden in ALL_NEEDLES - {"by-host"}:
        assert hidden not in text
    assert "1 match" in text


def test_with_a_search_the_filter_menus_offer_what_the_search_found(world):
    """The page's type and department menus narrow to the visible matches (never a value
    of a resource the user cannot see); without a search, to everything visible."""
    owner, direct = world["owner"], world["direct"]
    hidden = resource_make(owner, name="needle-secret", resource_type="SecretType")
    visible_other = resource_make(owner, name="other", resource_type="Firewall")
    services.share_grant(
        actor=owner, resource_id=visible_other.pk, user_id=direct.pk, level=AccessLevel.VIEW
    )
    services.resource_update(actor=owner, resource_id=hidden.pk, department="SecretDept")
    resource = Resource.objects.get(name="needle-by-name")
    services.resource_update(
        actor=owner, resource_id=resource.pk, resource_type="Linux", department="Ops"
    )

    for text in ("needle", "ne"):  # the index and the fallback
        found_menus = selectors.resource_filter_choices(user=direct, search=text)
        assert (found_menus.types, found_menus.departments) == (["Linux"], ["Ops"])
    everything = selectors.resource_filter_choices(user=direct)
    assert everything.types == ["Firewall", "Linux"] and everything.departments == ["Ops"]

    client = Client()
    client.force_login(direct)
    page = client.get(reverse("vault:resource_list"), {"q": "needle"}).content.decode()
    assert '<option value="Linux"' in page and '<option value="Firewall"' not in page
    assert "SecretType" not in page and "SecretDept" not in page


# --------------------------------------------------------------------------- the index is current


def test_the_index_follows_creates_renames_field_changes_and_deletes():
    owner = user_make("password_admin")
    resource = resource_make(owner, name="alpha-one")
    assert found(owner, "alpha") == {"alpha-one"}
    index_consistent()

    services.resource_update(actor=owner, resource_id=resource.pk, name="bravo-two")
    assert found(owner, "alpha") == set()
    assert found(owner, "bravo") == {"bravo-two"}
    for field, value in {
        "host": "charlie.example.test",
        "url": "https://delta.example.test/login",
        "resource_type": "EchoType",
        "department": "Foxtrot dept",
        "location": "Golf site",
        "description": "hotel notes",
    }.items():
        services.resource_update(actor=owner, resource_id=resource.pk, **{field: value})
        word = value.split(".")[0].split("//")[-1].split()[0].lower()
        assert found(owner, word) == {"bravo-two"}, field
    services.resource_update(actor=owner, resource_id=resource.pk, host="india.example.test")
    assert found(owner, "charlie") == set()
    assert found(owner, "india") == {"bravo-two"}
    index_consistent()

    account = account_make(owner, resource, username="juliet-svc")
    assert found(owner, "juliet") == {"bravo-two"}
    services.account_update(actor=owner, account_id=account.pk, username="kilo-svc")
    assert found(owner, "juliet") == set()
    assert found(owner, "kilo") == {"bravo-two"}
    # A password change (a save of every column) leaves the username found.
    services.account_update(actor=owner, account_id=account.pk, password="new-password-1")
    assert found(owner, "kilo") == {"bravo-two"}
    index_consistent()
    services.account_delete(actor=owner, account_id=account.pk)
    assert found(owner, "kilo") == set()
    assert found(owner, "bravo") == {"bravo-two"}
    index_consistent()

    account_make(owner, resource, username="lima-svc")
    services.resource_delete(actor=owner, resource_id=resource.pk)
    assert found(owner, "bravo") == set()
    assert found(owner, "lima") == set()
    index_consistent()


def test_share_and_group_changes_change_search_results_at_once():
    owner = user_make("password_admin")
    reader = user_make()
    resource = resource_make(owner, name="mike-server")
    assert found(reader, "mike") == set()

    share = services.share_grant(
        actor=owner, resource_id=resource.pk, user_id=reader.pk, level=AccessLevel.VIEW
    )
    assert found(reader, "mike") == {"mike-server"}
    services.share_revoke(actor=owner, share_id=share.pk)
    assert found(reader, "mike") == set()

    team = group_make(name="ops")
    services.share_grant(
        actor=owner, resource_id=resource.pk, user_group_id=team.pk, level=AccessLevel.VIEW
    )
    assert found(reader, "mike") == set()
    people.user_group_add_member(actor=None, group=team, user=reader)
    assert found(reader, "mike") == {"mike-server"}
    people.user_group_remove_member(actor=user_make("admin"), group=team, user=reader)
    assert found(reader, "mike") == set()

    group = rgroup_make(owner, name="site")
    services.share_grant(
        actor=owner, resource_group_id=group.pk, user_id=reader.pk, level=AccessLevel.VIEW
    )
    assert found(reader, "mike") == set()
    services.resource_group_add_resource(
        actor=owner, resource_group_id=group.pk, resource_id=resource.pk
    )
    assert found(reader, "mike") == {"mike-server"}
    services.resource_group_remove_resource(
        actor=owner, resource_group_id=group.pk, resource_id=resource.pk
    )
    assert found(reader, "mike") == set()
    index_consistent()


def test_bulk_inserts_are_indexed_too():
    """Triggers, not the services, keep the SQLite index: rows written in bulk (as the
    benchmark and any future bulk path do) are found."""
    owner = user_make("password_admin")
    created = Resource.objects.bulk_create(
        [Resource(owner=owner, name=f"november-{i}", host=f"h{i}.test") for i in range(3)]
    )
    # The access rules are not kept by triggers: a bulk path rewrites the visibility table
    # for what it wrote (vault.visibility), as the benchmark's set-up does.
    visibility.refresh(resource_ids=[r.pk for r in created])
    assert found(owner, "NOVEMBER") == {"november-0", "november-1", "november-2"}
    index_consistent()


# --------------------------------------------------------------------------- hostile text

HOSTILE = [
    "%",
    "_",
    "100%",
    "a_b",
    "'",
    "' OR 1=1 --",
    '"',
    'say "hi"',
    '""',
    "*",
    "ab*",
    "NEAR",
    "NEAR(a b)",
    "AND",
    "x AND y",
    "OR",
    "NOT",
    "^start",
    "col:val",
    "(paren)",
    "{name}",
    "-minus",
    "+plus",
    "\\",
    "back\\slash",
    "semi;colon",
    "\n",
    "  ",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_text_is_plain_text(text):
    """Each value is found exactly where it is a substring: LIKE wildcards are escaped, FTS5
    operators and quotes are literal, nothing errors."""
    owner = user_make("password_admin")
    resource_make(owner, name=f"has[{text}]here")
    resource_make(owner, name="plain-name")
    response = api_for(owner).get("/resources", {"search": text, "limit": 500})
    assert response.status_code == 200
    assert {item["name"] for item in response.json()["items"]} == {f"has[{text}]here"}
    page = Client()
    page.force_login(owner)
    html = page.get(reverse("vault:resource_list"), {"q": text})
    assert html.status_code == 200 and "1 match" in html.content.decode()


def test_search_text_with_nul_or_too_long_is_refused():
    api = api_for(user_make("password_admin"))
    nul = api.get("/resources", {"search": "ab\x00cd"})
    assert nul.status_code == 400
    long = api.get("/resources", {"search": "x" * 501})
    assert long.status_code == 400
    assert api.get("/resources", {"search": "x" * 500}).json()["total"] == 0


# --------------------------------------------------------------------------- unicode


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        ("école-srv", "ÉCOLE"),
        ("ÜBER-gateway", "über"),
        ("Σίσυφος", "ΣΊΣΥΦΟΣ"),
        ("数据库服务器", "数据库"),
        ("ключ-сервер", "КЛЮЧ"),
        ("vault 🔐 main", "🔐 m"),
        ("\u202eexe.txt", "\u202eexe"),
        ("e\u0301cole", "E\u0301CO"),  # combining accent: code points, not glyphs
    ],
)
def test_unicode_search_is_case_insensitive_on_both_databases(stored, text):
    """Three characters or more: both indexes fold case for all of Unicode."""
    owner = user_make("password_admin")
    resource_make(owner, name=stored)
    resource_make(owner, name="ascii-only")
    assert found(owner, text) == {stored}


def test_short_unicode_search_matches_exact_case_everywhere():
    """One or two characters: PostgreSQL folds all of Unicode, SQLite's fallback (LIKE)
    only ASCII (docs/architecture.md, "Search"). Exact case is found on both."""
    owner = user_make("password_admin")
    resource_make(owner, name="密码")
    resource_make(owner, name="über")
    assert found(owner, "密") == {"密码"}
    assert found(owner, "üb") == {"über"}
    assert found(owner, "ÜB") == ({"über"} if connection.vendor == "postgresql" else set())
    assert found(owner, "ER") == {"über"}


# --------------------------------------------------------------------------- served by the index


def test_a_search_is_served_by_the_index():
    owner = user_make("password_admin")
    resource_make(owner, name="oscar-1")
    qs = Resource.objects.filter(search.resources_matching_q("oscar"))
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Four rows: the planner would rightly scan them; forbid that to see the index.
            cursor.execute("SET LOCAL enable_seqscan = off")
            # On a one-row table it would then read the whole (resource, username) B-tree
            # (per-row tests of broad searches use it) rather than the trigram index; at
            # 100,000 accounts it takes the trigram index (bench/list_100k.py --explain).
            # Dropped inside this test's transaction, which is rolled back.
            cursor.execute("DROP INDEX account_resource_username")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert search.PG_RESOURCE_INDEX in plan and search.PG_ACCOUNT_INDEX in plan
            # A short pending list: searches right after a bulk load stay fast.
            cursor.execute(
                "SELECT relname, reloptions FROM pg_class WHERE relname IN (%s, %s)",
                [search.PG_RESOURCE_INDEX, search.PG_ACCOUNT_INDEX],
            )
            options = dict(cursor.fetchall())
            assert all(o == ["gin_pending_list_limit=256"] for o in options.values())
            assert len(options) == 2
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert f"SCAN {search.FTS} VIRTUAL TABLE INDEX" in plan
            assert "strongroom_account" not in plan  # no username scan either
    assert [r.name for r in qs] == ["oscar-1"]


@SQLITE
@pytest.mark.django_db(transaction=True)
def test_a_table_rebuild_that_drops_the_triggers_is_repaired_by_migrate():
    """Django's SQLite schema editor rebuilds a table for some schema changes, which drops
    the table's triggers; the next migrate puts them back and refills the index."""
    owner = user_make("password_admin")
    resource_make(owner, name="papa-before")
    try:
        with connection.schema_editor() as editor:
            editor._remake_table(Resource)  # what an AlterField on SQLite does
        with connection.cursor() as cursor:
            assert "strongroom_resource_search_ai" in search.sqlite_missing_triggers(cursor)
        resource_make(owner, name="papa-during")  # written while the index is blind
        assert found(owner, "papa") == {"papa-before"}

        call_command("migrate", verbosity=0)
    finally:
        search.index_ensure(connection=connection)  # never leave later tests a blind index

    with connection.cursor() as cursor:
        assert search.sqlite_missing_triggers(cursor) == []
    assert found(owner, "papa") == {"papa-before", "papa-during"}
    resource_make(owner, name="papa-after")
    assert found(owner, "papa") == {"papa-before", "papa-during", "papa-after"}
    index_consistent()


# --------------------------------------------------------------------------- broad searches


def test_a_search_that_finds_more_than_the_cap_says_so(monkeypatch):
    """A search counts up to ``SEARCH_COUNT_MAX`` (1,000; 3 here): the page says "3+
    matches", the API flags its total as a lower bound, and every match is still listed,
    page by page."""
    monkeypatch.setattr(selectors, "SEARCH_COUNT_MAX", 3)
    owner = user_make("password_admin")
    names = [f"capped-{i}" for i in range(5)]
    for name in names:
        resource_make(owner, name=name)
    resource_make(owner, name="other")

    page = Client()
    page.force_login(owner)
    html = page.get(reverse("vault:resource_list"), {"q": "capped"}).content.decode()
    assert "3+ matches" in html and "5 matches" not in html
    assert all(f">{name}<" in html for name in names)
    exact = page.get(reverse("vault:resource_list"), {"q": "capped-1"}).content.decode()
    assert "1 match" in exact and "+ match" not in exact

    api = api_for(owner)
    listed: list[str] = []
    while True:
        body = api.get("/resources", {"search": "capped", "limit": 2, "offset": len(listed)}).json()
        assert (body["total"], body["total_capped"]) == (3, True)
        listed += [item["name"] for item in body["items"]]
        if not body["has_more"]:
            break
    assert listed == names
    body = api.get("/resources", {"search": "capped-4"}).json()
    assert (body["total"], body["total_capped"], body["has_more"]) == (1, False, False)
    body = api.get("/resources", {"limit": 2}).json()  # no search: counted exactly
    assert (body["total"], body["total_capped"], body["has_more"]) == (6, False, True)


@SQLITE
def test_the_trigram_tokenizer_folds_into_ascii_only_the_known_characters():
    """Pages of a broad search test each resource with LIKE (``resources_matching_row_q``),
    which folds ASCII letters only, where the FTS5 index folds all of Unicode: for an ASCII
    search text the two agree once ``SQLITE_FOLDS_TO_ASCII`` is applied. Every code point of
    this SQLite is checked, so an SQLite whose folding changes fails here."""
    import sqlite3

    def table(rows: Any, detail: str = "full") -> sqlite3.Connection:
        db = sqlite3.connect(":memory:")
        db.execute(f"CREATE VIRTUAL TABLE f USING fts5(a, tokenize='trigram', detail={detail})")
        db.executemany("INSERT INTO f (rowid, a) VALUES (?, ?)", rows)
        return db

    def matches(db: sqlite3.Connection, code: int) -> list[int]:
        phrase = search.fts_phrase(f"x{chr(code)}y")
        return [row for (row,) in db.execute("SELECT rowid FROM f WHERE f MATCH ?", (phrase,))]

    # Every code point once, as "x<c>y", 4,096 to a row (one row each took half a minute;
    # detail=none: a smaller index whose phrase matches may be too many, never too few);
    # then the code points of the rows that matched, one to a row, to say which ones.
    points = [c for c in range(128, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    chunks = [points[i : i + 4096] for i in range(0, len(points), 4096)]
    packed = table(
        ((k, " ".join(f"x{chr(c)}y" for c in chunk)) for k, chunk in enumerate(chunks)), "none"
    )
    candidates = {c for code in range(32, 127) for k in matches(packed, code) for c in chunks[k]}
    single = table((c, f"xx{chr(c)}yy") for c in sorted(candidates))
    folds: dict[str, str] = {}
    for code in range(32, 127):
        for row in matches(single, code):
            folds[chr(row)] = chr(code).lower()
    assert folds == search.SQLITE_FOLDS_TO_ASCII


@pytest.mark.parametrize("count_cap", [0, 10**9])
def test_a_broad_search_finds_what_the_index_finds(monkeypatch, count_cap):
    """The per-row test of a broad search's pages and the index give the same rows,
    including text that only Unicode case folding matches (long s, Kelvin sign) and LIKE's
    wildcards as plain text; with the count capped at 0 every search is read that way."""
    monkeypatch.setattr(selectors, "SEARCH_COUNT_MAX", count_cap)
    owner = user_make("password_admin")
    long_s = resource_make(owner, name="\u017ferver-01")
    kelvin = resource_make(owner, name="gw", location="\u212aelvin-site")
    account_make(owner, kelvin, username="\u017fvc-backup")
    resource_make(owner, name="100%_sure")
    resource_make(owner, name="plain")
    expected = {
        "SERVER": {long_s.name},
        "kelvin": {kelvin.name},
        "svc-b": {kelvin.name},
        "_sure": {"100%_sure"},
        "0_%": set(),
        "Ver": {long_s.name},
        # Not ASCII: on SQLite only the index knows its folding, so it keeps the index form.
        "\u017fERV": {long_s.name},
    }
    for text, names in expected.items():
        # The index's own answer (the set form), which every form must give.
        by_index = {r.name for r in Resource.objects.filter(search.resources_matching_q(text))}
        assert found(owner, text) == by_index, text
        if connection.vendor == "sqlite":  # PostgreSQL's UPPER is the locale's
            assert by_index == names, text
