"""Who sees what in the exposure register, per role, through the API, the web pages and the
CLI: never a password, and an account's name only to someone who can view that account in
the vault (docs/exposure.md, docs/permissions.md)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from factories import PASSWORD, account_make, api_for, error_code, resource_make, user_make
from strongroom.exposure.models import ExposureIncident
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .helpers import download

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

PASSWORDS = ("Alpha-Canary-Pw-51c2", "Beta-Canary-Pw-0d9e")
NAMES = ("alpha-srv-7c1", "beta-srv-2f0", "alpha-login-x", "beta-login-y")


@pytest.fixture
def world(cheap_policy):
    """owner owns alpha and beta; tech views both and downloads a copy (the lost phone);
    manager manages alpha; auditor views alpha; admin and stranger see neither."""
    owner = user_make("password_admin")
    alpha = resource_make(owner, NAMES[0])
    beta = resource_make(owner, NAMES[1])
    a = account_make(owner, alpha, NAMES[2], PASSWORDS[0])
    b = account_make(owner, beta, NAMES[3], PASSWORDS[1])
    people = {
        "owner": owner,
        "tech": user_make("password_user"),
        "manager": user_make("password_user"),
        "auditor": user_make("auditor"),
        "admin": user_make("admin"),
        "stranger": user_make("password_user"),
    }
    for resource, who, level in (
        (alpha, "tech", AccessLevel.VIEW),
        (beta, "tech", AccessLevel.VIEW),
        (alpha, "manager", AccessLevel.MANAGE),
        (alpha, "auditor", AccessLevel.VIEW),
    ):
        vault.share_grant(actor=owner, resource_id=resource.pk, user_id=people[who].pk, level=level)
    download(people["tech"])
    apis = {role: api_for(user) for role, user in people.items()}
    created = apis["admin"].post(
        "/exposure/incidents",
        {"user_id": str(people["tech"].pk), "since": "2000-01-01", "note": "phone lost"},
    )
    assert created.status_code == 201, created.content
    return SimpleNamespace(
        people=people, apis=apis, a=a, b=b, incident=created.json()["id"], bodies=[created]
    )


def _no_passwords(*responses):
    for response in responses:
        text = response.content.decode()
        for secret in PASSWORDS:
            assert secret not in text


def _names_in(response) -> set[str]:
    text = response.content.decode()
    return {name for name in NAMES if name in text}


# Who sees which names in the incident: only accounts they can view.
INCIDENT_NAMES = {
    "admin": set(),
    "auditor": {NAMES[0], NAMES[2]},
    "tech": set(NAMES),
}


@pytest.mark.parametrize("role", ["admin", "auditor", "tech", "owner", "manager", "stranger"])
def test_the_incident_shows_names_only_of_accounts_the_reader_can_view(world, role):
    response = world.apis[role].get(f"/exposure/incidents/{world.incident}")
    _no_passwords(response, *world.bodies)
    if role not in INCIDENT_NAMES:
        # Not an administrator, auditor or the user it is about: as if it did not exist.
        assert response.status_code == 404 and error_code(response) == "not_found"
        assert world.apis[role].get("/exposure/incidents").json() == []
        return
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and body["counts"] == {"rotate": 2, "rotated": 0, "deleted": 0}
    assert _names_in(response) == INCIDENT_NAMES[role]
    assert len(body["accounts"]) + sum(body["hidden"].values()) == 2
    assert {a["account_id"] for a in body["accounts"]} <= {str(world.a.pk), str(world.b.pk)}
    if role == "admin":
        # The creation response is the admin's view too: counts, no names, no IDs.
        assert _names_in(world.bodies[0]) == set()
        assert str(world.a.pk) not in response.content.decode()


def test_the_web_incident_page_follows_the_same_rule(world):
    for role, names in INCIDENT_NAMES.items():
        client = Client()
        assert client.login(username=world.people[role].username, password=PASSWORD)
        page = client.get(f"/exposure/incidents/{world.incident}/")
        assert page.status_code == 200
        _no_passwords(page)
        assert _names_in(page) == names
    client = Client()
    client.login(username=world.people["stranger"].username, password=PASSWORD)
    assert client.get(f"/exposure/incidents/{world.incident}/").status_code == 404


# "Who had this offline" on alpha's account: full for managers, counts for an auditor who
# can view it, 403 for other viewers, 404 for those who cannot see it (admins included).
ACCOUNT_ACCESS = {
    "owner": (200, True),
    "manager": (200, True),
    "auditor": (200, False),
    "tech": (403, None),
    "admin": (404, None),
    "stranger": (404, None),
}


@pytest.mark.parametrize("role", list(ACCOUNT_ACCESS))
def test_who_had_an_account_offline_per_role(world, role):
    status, full = ACCOUNT_ACCESS[role]
    response = world.apis[role].get(f"/accounts/{world.a.pk}/exposure")
    _no_passwords(response)
    assert response.status_code == status, response.content
    client = Client()
    client.login(username=world.people[role].username, password=PASSWORD)
    page = client.get(f"/accounts/{world.a.pk}/exposure/")
    assert page.status_code == status
    _no_passwords(page)
    if status != 200:
        assert world.people["tech"].username not in response.content.decode()
        return
    body = response.json()
    assert (body["users"], body["copies"], body["with_current_password"]) == (1, 1, 1)
    assert body["full"] is full
    tech = world.people["tech"].username
    if full:
        [copy] = body["builds"]
        assert copy["build"]["username"] == tech and copy["current_password"] is True
        assert tech in page.content.decode()
    else:
        assert body["builds"] == []
        assert tech not in response.content.decode() and tech not in page.content.decode()


def test_an_auditor_who_cannot_view_an_account_gets_nothing(world):
    response = world.apis["auditor"].get(f"/accounts/{world.b.pk}/exposure")
    assert response.status_code == 404


def test_builds_list_is_everyones_for_admins_and_auditors_and_own_for_others(world):
    tech_id = str(world.people["tech"].pk)
    for role in ("admin", "auditor", "tech"):
        items = world.apis[role].get("/exposure/builds").json()["items"]
        assert [b["user_id"] for b in items] == [tech_id], role
    for role in ("owner", "stranger"):
        assert world.apis[role].get("/exposure/builds").json() == {"items": [], "total": 0}
        assert world.apis[role].get("/exposure/builds", {"user_id": tech_id}).json()["total"] == 0


def test_reporting_over_the_api_per_role_and_with_bad_input(world):
    tech, owner = world.people["tech"], world.people["owner"]
    before = ExposureIncident.objects.count()
    refused = world.apis["tech"].post(
        "/exposure/incidents", {"user_id": str(owner.pk), "since": "2026-01-01"}
    )
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    for body in (
        {"user_id": str(tech.pk), "since": "=cmd"},
        {"user_id": str(tech.pk), "since": "2999-01-01"},
        {"user_id": str(tech.pk), "since": "2026-01-01", "note": "n" * 5000},
        {"user_id": str(tech.pk), "since": "2026-01-01", "note": "\x00"},
        {"user_id": str(tech.pk), "since": ["2026-01-01"]},
    ):
        bad = world.apis["tech"].post("/exposure/incidents", body)
        assert bad.status_code == 400 and error_code(bad) == "invalid", (body, bad.content)
    # Someone else's ID, even a malformed one, is refused before it is looked at.
    hostile = {"user_id": "<script>", "since": "2026-01-01"}
    assert world.apis["tech"].post("/exposure/incidents", hostile).status_code == 403
    bad = world.apis["admin"].post("/exposure/incidents", hostile)
    assert bad.status_code == 400 and error_code(bad) == "invalid"
    assert ExposureIncident.objects.count() == before
    own = world.apis["tech"].post(
        "/exposure/incidents", {"user_id": str(tech.pk), "since": "2026-01-01"}
    )
    assert own.status_code == 201
    # A read-only token cannot report.
    read_only = api_for(tech, scopes=["read"])
    denied = read_only.post("/exposure/incidents", {"user_id": str(tech.pk), "since": "2026-01-01"})
    assert denied.status_code == 403 and error_code(denied) == "insufficient_scope"


def test_the_cli_reports_and_shows_with_the_acting_users_rights(world, capsys):
    from strongroom.cli.main import main

    admin, tech, owner = (world.people[r].username for r in ("admin", "tech", "owner"))
    assert main(["exposure", "report", "--user", admin, "--of", tech, "--since", "2001-01-01"]) == 0
    out = capsys.readouterr().out
    assert "2 accounts in 1 copies: 2 to rotate, 0 rotated" in out
    assert "2 of them are accounts you cannot view" in out
    assert not {n for n in NAMES if n in out}
    incident = ExposureIncident.objects.order_by("-reported_at").first()
    assert main(["exposure", "show", str(incident.pk), "--user", tech]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES) and not any(p in out for p in PASSWORDS)
    assert main(["exposure", "show", str(incident.pk), "--user", owner]) == 1
    assert "incident not found" in capsys.readouterr().err
    assert main(["exposure", "report", "--user", tech, "--of", owner, "--since", "2001-01-01"]) == 1
    assert "only for yourself" in capsys.readouterr().err
    assert main(["exposure", "account", str(world.a.pk), "--user", owner]) == 0
    out = capsys.readouterr().out
    assert "1 offline copies for 1 users, 1 with the current password" in out and tech in out
    assert main(["exposure", "account", str(world.a.pk), "--user", tech]) == 1
    assert main(["exposure", "builds", "--user", admin, "--of", tech]) == 0
    assert tech in capsys.readouterr().out
    assert main(["exposure", "list", "--user", tech]) == 0
    assert str(incident.pk) in capsys.readouterr().out
    assert main(["exposure", "report", "--user", admin, "--of", tech, "--since", "=cmd"]) == 1
    assert "since must be a date" in capsys.readouterr().err


def test_the_report_form_refuses_bad_input_with_a_clear_message(world):
    client = Client()
    assert client.login(username=world.people["tech"].username, password=PASSWORD)
    tech, owner = world.people["tech"], world.people["owner"]
    before = ExposureIncident.objects.count()
    page = client.get("/exposure/")
    assert page.status_code == 200
    # A non-administrator can only pick themselves.
    assert owner.username not in page.content.decode()
    for data, message in (
        ({"user": str(tech.pk), "since": "2999-01-01"}, "Since is in the future."),
        ({"user": str(tech.pk), "since": "=cmd"}, "Enter a valid date."),
        ({"user": str(owner.pk), "since": "2026-01-01"}, "Select a valid choice."),
        ({"user": str(tech.pk), "since": "2026-01-01", "note": "n" * 1001}, "at most 1000"),
    ):
        refused = client.post("/exposure/", data)
        assert refused.status_code == 400, data
        assert message in refused.content.decode(), (data, refused.content.decode()[:3000])
    assert ExposureIncident.objects.count() == before
    done = client.post(
        "/exposure/", {"user": str(tech.pk), "since": "2026-01-01", "note": "<b>=cmd</b>"}
    )
    assert done.status_code == 302
    incident = client.get(done["Location"])
    assert "&lt;b&gt;=cmd&lt;/b&gt;" in incident.content.decode()
    assert "<b>=cmd</b>" not in incident.content.decode()
