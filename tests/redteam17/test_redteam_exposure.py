"""Red team (issue 17): the exposure register. A non-administrator must not read another
user's builds or incidents, nor learn account names they cannot view, through the API, the
web pages or the CLI; hostile report input is refused cleanly and changes nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from factories import (
    PASSPHRASE,
    PASSWORD,
    account_make,
    api_for,
    error_code,
    resource_make,
    user_make,
)
from strongroom.exports import services as exports
from strongroom.exposure.models import ExposureIncident
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

SECRET_RESOURCE = "rt17-secret-resource"
SECRET_LOGIN = "rt17-secret-login"
SECRET_PASSWORD = "Rt17-Canary-Password-9f3"


@pytest.fixture
def world(cheap_policy):
    owner = user_make("password_admin")
    resource = resource_make(owner, SECRET_RESOURCE)
    account = account_make(owner, resource, SECRET_LOGIN, SECRET_PASSWORD)
    tech = user_make("password_user")
    vault.share_grant(actor=owner, resource_id=resource.pk, user_id=tech.pk, level=AccessLevel.VIEW)
    exports.export_offline(actor=tech, passphrase=PASSPHRASE, fmt="html")
    admin = user_make("admin")
    created = api_for(admin).post(
        "/exposure/incidents", {"user_id": str(tech.pk), "since": "2000-01-01"}
    )
    assert created.status_code == 201, created.content
    return SimpleNamespace(
        owner=owner,
        tech=tech,
        admin=admin,
        auditor=user_make("auditor"),
        stranger=user_make("password_user"),
        account=account,
        incident=created.json()["id"],
    )


def _variants(value: str) -> list[str]:
    return [value, value.upper(), "{" + value + "}", "urn:uuid:" + value, value.replace("-", "")]


def _leaks(text: str) -> set[str]:
    return {s for s in (SECRET_RESOURCE, SECRET_LOGIN, SECRET_PASSWORD) if s in text}


def test_a_stranger_cannot_read_the_incident_by_any_spelling_of_its_id(world):
    api = api_for(world.stranger)
    client = Client()
    assert client.login(username=world.stranger.username, password=PASSWORD)
    for spelling in _variants(world.incident):
        response = api.get(f"/exposure/incidents/{spelling}")
        assert response.status_code == 404, (spelling, response.content)
        assert not _leaks(response.content.decode())
        page = client.get(f"/exposure/incidents/{spelling}/")
        assert page.status_code == 404, spelling
        assert not _leaks(page.content.decode())
    assert api.get("/exposure/incidents").json() == [] or not _leaks(
        api.get("/exposure/incidents").content.decode()
    )
    assert str(world.incident) not in api.get("/exposure/incidents").content.decode()


def test_a_stranger_cannot_list_someone_elses_builds_by_id_spelling(world):
    api = api_for(world.stranger)
    for spelling in (str(world.tech.pk), str(world.tech.pk).upper()):
        body = api.get("/exposure/builds", {"user_id": spelling}).json()
        assert body == {"items": [], "total": 0}, spelling
    client = Client()
    assert client.login(username=world.stranger.username, password=PASSWORD)
    page = client.get("/exposure/", {"user_id": str(world.tech.pk)})
    assert page.status_code == 200
    assert world.tech.username not in page.content.decode()


@pytest.mark.parametrize("who", ["admin", "auditor", "stranger"])
def test_account_names_stay_hidden_from_readers_who_cannot_view_them(world, who):
    """Admin and auditor read the incident (counts only); nobody without vault access gets
    the account's exposure, by API, page or any spelling of its ID."""
    user = getattr(world, who)
    api = api_for(user)
    incident = api.get(f"/exposure/incidents/{world.incident}")
    if who == "stranger":
        assert incident.status_code == 404
    else:
        assert incident.status_code == 200
        body = incident.json()
        assert body["accounts"] == [] and sum(body["hidden"].values()) == 1
        assert str(world.account.pk) not in incident.content.decode()
    assert not _leaks(incident.content.decode())
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    for spelling in _variants(str(world.account.pk)):
        response = api.get(f"/accounts/{spelling}/exposure")
        assert response.status_code == 404, (spelling, response.content)
        assert not _leaks(response.content.decode())
    page = client.get(f"/accounts/{world.account.pk}/exposure/")
    assert page.status_code == 404 and not _leaks(page.content.decode())


def test_a_viewer_gets_403_on_who_had_it_offline_and_no_names_of_other_users(world):
    response = api_for(world.tech).get(f"/accounts/{world.account.pk}/exposure")
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_the_cli_does_not_show_a_stranger_anything(world, capsys):
    from strongroom.cli.main import main

    who = world.stranger.username
    assert main(["exposure", "show", world.incident, "--user", who]) == 1
    assert main(["exposure", "account", str(world.account.pk), "--user", who]) == 1
    assert main(["exposure", "builds", "--user", who, "--of", world.tech.username]) in (0, 1)
    captured = capsys.readouterr()
    assert not _leaks(captured.out + captured.err)
    assert world.incident not in captured.out


@pytest.mark.parametrize(
    "since",
    [
        "0001-01-01",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31",
        "1970-01-01T00:00:00Z",
        "2026-02-30",
        "2026-01-01T25:00:00",
        "+002026-01-01",
        "\uff12\uff10\uff12\uff16-01-01",  # full-width digits
    ],
)
def test_hostile_dates_are_refused_or_accepted_cleanly_never_a_server_error(world, since):
    api = api_for(world.tech)
    before = ExposureIncident.objects.count()
    response = api.post("/exposure/incidents", {"user_id": str(world.tech.pk), "since": since})
    assert response.status_code in (201, 400), (since, response.status_code, response.content)
    if response.status_code == 400:
        assert error_code(response) == "invalid"
        assert ExposureIncident.objects.count() == before
    else:
        assert api.get(f"/exposure/incidents/{response.json()['id']}").status_code == 200


def test_hostile_note_is_kept_as_text_and_escaped_on_the_page(world):
    api = api_for(world.tech)
    note = "<img src=x onerror=alert(1)>=cmd|' /C calc'!A0 \u202e交换机"
    response = api.post(
        "/exposure/incidents",
        {"user_id": str(world.tech.pk), "since": "2020-01-01", "note": note},
    )
    assert response.status_code == 201, response.content
    assert response.json()["note"] == note
    client = Client()
    assert client.login(username=world.tech.username, password=PASSWORD)
    page = client.get(f"/exposure/incidents/{response.json()['id']}/").content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    huge = api.post(
        "/exposure/incidents",
        {"user_id": str(world.tech.pk), "since": "2020-01-01", "note": "x" * 10_000_000},
    )
    assert huge.status_code in (400, 413), huge.status_code


def test_the_report_form_has_csrf_protection(world):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=world.tech.username, password=PASSWORD)
    before = ExposureIncident.objects.count()
    response = client.post("/exposure/", {"user": str(world.tech.pk), "since": "2020-01-01"})
    assert response.status_code == 403
    assert ExposureIncident.objects.count() == before


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00"])
def test_the_builds_filter_refuses_an_out_of_range_date_cleanly(world, since):
    """HOLE (fixed): ``since`` that falls before year 1 once in UTC was a 500 here and on
    the report (OverflowError converting it to UTC)."""
    response = api_for(world.admin).get("/exposure/builds", {"since": since})
    assert response.status_code in (200, 400), (since, response.content)
    if response.status_code == 400:
        assert error_code(response) == "invalid"
        assert "out of range" in response.json()["error"]["message"]
    else:
        assert response.json()["total"] == 1


def test_an_out_of_range_report_date_is_a_clear_refusal(world, capsys):
    from strongroom.cli.main import main

    response = api_for(world.tech).post(
        "/exposure/incidents",
        {"user_id": str(world.tech.pk), "since": "0001-01-01T00:00:00+14:00"},
    )
    assert response.status_code == 400 and error_code(response) == "invalid"
    assert "out of range" in response.json()["error"]["message"]
    code = main(
        [
            "exposure",
            "report",
            "--user",
            world.tech.username,
            "--of",
            world.tech.username,
            "--since",
            "0001-01-01T00:00:00+14:00",
        ]
    )
    assert code == 1 and "out of range" in capsys.readouterr().err


def test_an_auditor_who_can_view_gets_counts_never_who_by_api_page_or_cli(world, capsys):
    from strongroom.cli.main import main

    vault.share_grant(
        actor=world.owner,
        resource_id=world.account.resource_id,
        user_id=world.auditor.pk,
        level=AccessLevel.VIEW,
    )
    response = api_for(world.auditor).get(f"/accounts/{world.account.pk}/exposure")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["full"] is False and body["builds"] == [] and body["copies"] == 1
    assert world.tech.username not in response.content.decode()
    client = Client()
    assert client.login(username=world.auditor.username, password=PASSWORD)
    page = client.get(f"/accounts/{world.account.pk}/exposure/")
    assert page.status_code == 200 and world.tech.username not in page.content.decode()
    code = main(["exposure", "account", str(world.account.pk), "--user", world.auditor.username])
    out = capsys.readouterr().out
    assert code == 0 and world.tech.username not in out


def test_any_spelling_of_ones_own_id_reports_ones_own_device_and_only_that(world):
    """Was refused as someone else's (the IDs were compared as text). Someone else's ID in
    any spelling stays a 403, checked before it is looked at."""
    api = api_for(world.tech)
    own = str(world.tech.pk)
    for spelling in (own.upper(), "{" + own + "}", own.replace("-", "")):
        response = api.post("/exposure/incidents", {"user_id": spelling, "since": "2020-01-01"})
        assert response.status_code == 201, (spelling, response.content)
        assert response.json()["user_id"] == own
    before = ExposureIncident.objects.count()
    other = str(world.owner.pk)
    for spelling in (other.upper(), "{" + other + "}", "urn:uuid:" + other, "<b>"):
        response = api.post("/exposure/incidents", {"user_id": spelling, "since": "2020-01-01"})
        assert response.status_code == 403 and error_code(response) == "forbidden", spelling
    assert ExposureIncident.objects.count() == before


@pytest.mark.parametrize(
    "params",
    [
        {"limit": str(10**30)},
        {"offset": str(10**30)},
        {"limit": "-1"},
        {"user_id": "<script>"},
        {"user_id": "' OR 1=1 --"},
        {"since": "=cmd"},
    ],
)
def test_the_builds_list_with_hostile_parameters_is_refused_cleanly(world, params):
    response = api_for(world.stranger).get("/exposure/builds", params)
    assert response.status_code in (400, 404, 422), (params, response.status_code)
    assert world.tech.username not in response.content.decode()
