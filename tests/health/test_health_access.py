"""Who sees what in the password health report, per role, through the API, the web page and
the CLI: never a password (nor a hash of one), and an account's name only to someone who
can retrieve that account's password now (docs/health.md, docs/permissions.md)."""

from __future__ import annotations

import hashlib
import io
from types import SimpleNamespace

import pytest
from django.test import Client

from factories import PASSWORD, account_make, api_for, deactivate, resource_make, user_make
from strongroom.health import selectors, services
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel, Share

from .helpers import breached_file, run_check

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

WEAK_PW = "password1"
REUSED_PW = "Shared-Reuse-Canary-91!xq"
BREACHED_PW = "Tr0ub4dor&3-Breached-Canary"
STRONG_PW = "quartz-Walrus-Lantern-0419-Canary"
PASSWORDS = (WEAK_PW, REUSED_PW, BREACHED_PW, STRONG_PW)
ALPHA, BETA = "alpha-hx1 <script>alert(1)</script>", '=HYPERLINK("beta-hx2")'
USERS = ("a1-weak-qz", "a2-reuse-qz", "b1-reuse-qz", "b2-breach-qz", "b3-strong-qz")


def _hashes(password: str) -> set[str]:
    data = password.encode()
    sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    return {sha1, sha1.upper(), sha256, sha256.upper()}


FORBIDDEN = set(PASSWORDS).union(*(_hashes(p) for p in PASSWORDS))


@pytest.fixture
def world():
    """owner owns alpha (a1 weak, a2 reused) and beta (b1 reused with a2, b2 breached, b3
    strong). reader views alpha only; gone viewed alpha and is deactivated; admin, auditor
    and stranger are given nothing."""
    admin = user_make("admin")
    owner = user_make("password_admin")
    alpha = resource_make(owner, ALPHA)
    beta = resource_make(owner, BETA)
    a1 = account_make(owner, alpha, USERS[0], WEAK_PW)
    a2 = account_make(owner, alpha, USERS[1], REUSED_PW)
    b1 = account_make(owner, beta, USERS[2], REUSED_PW)
    b2 = account_make(owner, beta, USERS[3], BREACHED_PW)
    b3 = account_make(owner, beta, USERS[4], STRONG_PW)
    people = {
        "owner": owner,
        "reader": user_make("password_user"),
        "gone": user_make("password_user"),
        "admin": admin,
        "auditor": user_make("auditor"),
        "stranger": user_make("password_user"),
    }
    for who in ("reader", "gone"):
        vault.share_grant(
            actor=owner, resource_id=alpha.pk, user_id=people[who].pk, level=AccessLevel.VIEW
        )
    apis = {role: api_for(user) for role, user in people.items()}
    services.breached_list_load(
        actor=admin, source=io.BytesIO(breached_file(BREACHED_PW)), name="hibp"
    )
    run_check(admin)
    deactivate(people["gone"])
    return SimpleNamespace(
        people=people, apis=apis, alpha=alpha, beta=beta, a1=a1, a2=a2, b1=b1, b2=b2, b3=b3
    )


# The account names (resource names and usernames) each role may see.
VISIBLE = {
    "owner": {ALPHA, BETA, *USERS},
    "reader": {ALPHA, USERS[0], USERS[1]},
    "admin": set(),
    "auditor": set(),
    "stranger": set(),
    "gone": set(),
}


def _check_text(text: str, role: str) -> None:
    leaked = {s for s in FORBIDDEN if s in text}
    assert not leaked, (role, leaked)
    names = {ALPHA, BETA, *USERS}
    # Pages escape markup: compare the escaped spelling too.
    import html

    shown = {n for n in names if n in text or html.escape(n) in text}
    assert shown <= VISIBLE[role], (role, shown - VISIBLE[role])


@pytest.mark.parametrize("role", ["owner", "reader", "admin", "auditor", "stranger"])
def test_the_api_report_shows_only_what_the_role_can_retrieve(world, role):
    response = world.apis[role].get("/password-health")
    assert response.status_code == 200, response.content
    _check_text(response.content.decode(), role)
    body = response.json()
    names = {a["resource_name"] for a in body["accounts"]} | {
        a["username"] for a in body["accounts"]
    }
    assert names == VISIBLE[role]
    if role == "owner":
        by_user = {a["username"]: a for a in body["accounts"]}
        assert by_user[USERS[0]]["weak"] and by_user[USERS[0]]["score"] < 3
        assert by_user[USERS[1]]["reused_with"] == 1 and by_user[USERS[2]]["reused_with"] == 1
        assert by_user[USERS[3]]["breached"] and by_user[USERS[3]]["breached_count"] == 10
        assert by_user[USERS[4]]["findings"] == []
        assert body["counts"] == {"weak": 1, "reused": 2, "breached": 1, "old": 0}
    if role == "reader":
        # a2 shares its password with b1, which the reader cannot see: no reuse is shown,
        # so the report says nothing about a password in an account they cannot retrieve.
        by_user = {a["username"]: a for a in body["accounts"]}
        assert by_user[USERS[1]]["reused_with"] == 0
        assert body["counts"]["reused"] == 0
    org = body["organisation"]
    if role in ("admin", "auditor"):
        assert org["accounts"] == 5
        assert org["counts"] == {"weak": 1, "reused": 2, "old": 0, "breached": 1}
        assert body["scope"] == ("organisation" if role == "admin" else "counts")
        assert body["run"]["account_count"] == 5
    else:
        # Not even how many accounts the vault holds.
        assert org is None and body["scope"] == "own" and body["run"]["account_count"] is None
    owner_name = world.people["owner"].username
    if role == "admin":
        [owner_row] = org["owners"]
        assert owner_row["owner"] == owner_name and owner_row["accounts"] == 5
    elif role == "auditor":
        # Counts only: not even who owns the accounts.
        assert org["owners"] is None and owner_name not in response.content.decode()


def test_a_deactivated_user_gets_nothing_anywhere(world, capsys):
    from strongroom.cli.main import main

    gone = world.people["gone"]
    gone.refresh_from_db()
    assert world.apis["gone"].get("/password-health").status_code == 401
    report = selectors.health_report(actor=gone)
    assert report.accounts == [] and report.org_counts is None
    client = Client()
    assert not client.login(username=gone.username, password=PASSWORD)
    assert client.get("/password-health/").status_code == 302
    assert main(["health", "show", "--user", gone.username]) == 1
    captured = capsys.readouterr()
    _check_text(captured.out + captured.err, "gone")


@pytest.mark.parametrize("role", ["owner", "reader", "admin", "auditor", "stranger"])
def test_the_web_page_follows_the_same_rule(world, role):
    client = Client()
    assert client.login(username=world.people[role].username, password=PASSWORD)
    for query in ("", "?only=reused", "?only=problems", "?only=<b>"):
        page = client.get(f"/password-health/{query}")
        assert page.status_code == 200
        text = page.content.decode()
        _check_text(text, role)
        assert "<script>alert(1)</script>" not in text
    page = client.get("/password-health/")
    text = page.content.decode()
    assert ("data-organisation" in text) == (role in ("admin", "auditor"))
    assert ("data-owners" in text) == (role == "admin")
    assert ("data-breached-form" in text) == (role == "admin")
    if role == "owner":
        assert "alpha-hx1 &lt;script&gt;" in text


@pytest.mark.parametrize("role", ["owner", "reader", "admin", "auditor", "stranger"])
def test_the_cli_follows_the_same_rule(world, role, capsys):
    from strongroom.cli.main import main

    username = world.people[role].username
    assert main(["health", "show", "--user", username, "--all"]) == 0
    out = capsys.readouterr().out
    _check_text(out, role)
    assert ("organisation, 5 accounts" in out) == (role in ("admin", "auditor"))
    assert main(["health", "show", "--user", username, "--json"]) == 0
    _check_text(capsys.readouterr().out, role)


def test_a_revoked_share_hides_the_account_at_once(world):
    reader = world.apis["reader"]
    assert len(reader.get("/password-health").json()["accounts"]) == 2
    share = Share.objects.get(resource_id=world.alpha.pk, user_id=world.people["reader"].pk)
    vault.share_revoke(actor=world.people["owner"], share_id=share.pk)
    response = reader.get("/password-health")
    assert response.json()["accounts"] == []
    _check_text(response.content.decode(), "stranger")


def test_sharing_the_other_copy_reveals_the_reuse_to_the_reader(world):
    """Reuse is counted among what the reader can retrieve: once b1 is shared too, both
    accounts are reused (and the reader can retrieve both passwords anyway)."""
    vault.share_grant(
        actor=world.people["owner"],
        resource_id=world.beta.pk,
        user_id=world.people["reader"].pk,
        level=AccessLevel.VIEW,
    )
    body = world.apis["reader"].get("/password-health").json()
    by_user = {a["username"]: a for a in body["accounts"]}
    assert by_user[USERS[1]]["reused_with"] == 1 and by_user[USERS[2]]["reused_with"] == 1


def test_nothing_stored_holds_a_password_or_a_plain_hash_of_one(world):
    """After a run (and the breached list load), every row of every table is read back:
    no password, and no SHA-1 or SHA-256 of one. The breached list itself holds the breached
    password's SHA-1 split into prefix and suffix (public data, stored as given): the scan
    finds that suffix, which shows it reads the rows it should."""
    from django.db import connection

    breached_sha1 = hashlib.sha1(BREACHED_PW.encode(), usedforsecurity=False).hexdigest().upper()
    control = breached_sha1[5:]
    found: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 (introspected names)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        texts = [raw.hex(), raw.hex().upper(), raw.decode("latin-1")]
                    else:
                        texts = [str(value)]
                    for text in texts:
                        for secret in (*FORBIDDEN, control):
                            if secret in text:
                                found.setdefault(table, set()).add(secret)
    assert found == {"strongroom_breached_hash": {control}}, found
