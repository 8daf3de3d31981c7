"""Red team (issue 17): bulk actions, favourites and the recently used list. A Password
User must not act on, learn the name of, or export a resource they cannot see or cannot
manage, by any selection; losing access hides favourites and recent lines, names included.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from factories import (
    PASSPHRASE,
    account_make,
    admin_get,
    api_for,
    deactivate,
    error,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.accounts import services as people
from strongroom.audit.models import AuditEvent
from strongroom.vault import services
from strongroom.vault.bulk import MAX_SELECTION
from strongroom.vault.models import Favourite, Resource, ResourceGroup, Share

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

HIDDEN = "rt17-hidden-payroll"
VIEWED = "rt17-view-only-dns"


@pytest.fixture
def world():
    """attacker (Password User) manages ``managed`` by share, views ``viewed``, and cannot
    see ``hidden``; victim owns all three."""
    victim = user_make("password_admin")
    attacker = user_make("password_user")
    managed = resource_make(victim, "rt17-managed")
    viewed = resource_make(victim, VIEWED)
    hidden = resource_make(victim, HIDDEN)
    for r in (managed, viewed, hidden):
        account_make(victim, r, "root", f"pw-{r.name}")
    services.share_grant(actor=victim, resource_id=managed.pk, user_id=attacker.pk, level="manage")
    services.share_grant(actor=victim, resource_id=viewed.pk, user_id=attacker.pk, level="view")
    return {
        "victim": victim,
        "attacker": attacker,
        "managed": managed,
        "viewed": viewed,
        "hidden": hidden,
    }


def _spellings(pk: uuid.UUID) -> list[str]:
    text = str(pk)
    return [text.upper(), "{" + text + "}", "urn:uuid:" + text, text.replace("-", "")]


CHANGES = ("resource.delete", "share.grant", "resource.move", "resource_group.add_resource")


def _state() -> tuple:
    return (
        sorted(Resource.objects.values_list("pk", "name")),
        sorted(Share.objects.values_list("pk", "level")),
        sorted(ResourceGroup.resources.through.objects.values_list("pk", flat=True)),
        AuditEvent.objects.filter(action__in=CHANGES).count(),
    )


@pytest.mark.parametrize("action", ["delete", "share", "move", "add_to_group"])
def test_any_spelling_of_a_hidden_id_is_refused_without_its_name(world, action):
    api = api_for(world["attacker"])
    target = services.resource_group_create(actor=world["victim"], name="rt17-target")
    services.share_grant(
        actor=world["victim"],
        resource_group_id=target.pk,
        user_id=world["attacker"].pk,
        level="manage",
    )
    for spelling in _spellings(world["hidden"].pk):
        before = _state()
        body = {"action": action, "resource_ids": [str(world["managed"].pk), spelling]}
        if action == "share":
            body.update(user_id=str(world["attacker"].pk), level="manage")
        if action in {"move", "add_to_group"}:
            body["resource_group_id"] = str(target.pk)
        response = api.post("/resources/bulk", body)
        assert response.status_code == 403, (spelling, response.content)
        assert error(response)["code"] == "bulk_refused"
        assert HIDDEN not in response.content.decode()
        refused = error(response)["details"]["refused"]
        assert refused == [{"id": str(world["hidden"].pk), "name": "", "problem": "not found"}]
        assert _state() == before


def test_a_hidden_id_and_a_made_up_id_look_the_same(world):
    api = api_for(world["attacker"])
    answers = []
    for pk in (world["hidden"].pk, uuid.uuid4()):
        response = api.post("/resources/bulk", {"action": "delete", "resource_ids": [str(pk)]})
        body = error(response)
        answers.append(
            (
                response.status_code,
                body["details"]["refused"][0]["problem"],
                body["message"].replace(str(pk), "ID"),
            )
        )
    assert answers[0] == answers[1]


def test_view_level_is_named_but_cannot_be_managed_and_nothing_changes(world):
    api = api_for(world["attacker"])
    before = _state()
    response = api.post(
        "/resources/bulk",
        {
            "action": "share",
            "resource_ids": [str(world["managed"].pk), str(world["viewed"].pk)],
            "user_id": str(world["attacker"].pk),
            "level": "manage",
        },
    )
    assert response.status_code == 403
    (refused,) = error(response)["details"]["refused"]
    assert refused["name"] == VIEWED and "this needs manage" in refused["problem"]
    assert _state() == before
    # Self-escalation by sharing the view-only one to oneself at manage alone: refused too.
    alone = api.post(
        "/resources/bulk",
        {
            "action": "share",
            "resource_ids": [str(world["viewed"].pk)],
            "user_id": str(world["attacker"].pk),
            "level": "manage",
        },
    )
    assert alone.status_code == 403 and _state() == before


def test_sharing_a_group_share_cannot_escalate_through_a_user_group(world):
    """Sharing the managed resource to a user group the attacker is in, at manage, gives
    nothing new; sharing the view-only one to that group is refused."""
    team = group_make(world["attacker"])
    api = api_for(world["attacker"])
    before = _state()
    response = api.post(
        "/resources/bulk",
        {
            "action": "share",
            "resource_ids": [str(world["viewed"].pk)],
            "user_group_id": str(team.pk),
            "level": "manage",
        },
    )
    assert response.status_code == 403 and _state() == before


def test_move_refuses_a_visible_group_the_actor_can_only_view_and_names_only_it(world):
    victim, attacker = world["victim"], world["attacker"]
    held = rgroup_make(victim, world["managed"], name="rt17-ops-view-only")
    services.share_grant(actor=victim, resource_group_id=held.pk, user_id=attacker.pk, level="view")
    rgroup_make(victim, world["managed"], name="rt17-secret-group")
    mine = services.resource_group_create(actor=victim, name="rt17-dest")
    services.share_grant(
        actor=victim, resource_group_id=mine.pk, user_id=attacker.pk, level="manage"
    )
    before = _state()
    response = api_for(attacker).post(
        "/resources/bulk",
        {
            "action": "move",
            "resource_ids": [str(world["managed"].pk)],
            "resource_group_id": str(mine.pk),
        },
    )
    assert response.status_code == 403, response.content
    text = response.content.decode()
    assert "rt17-ops-view-only" in text and "rt17-secret-group" not in text
    assert _state() == before
    assert set(world["managed"].resource_groups.values_list("name", flat=True)) == {
        "rt17-ops-view-only",
        "rt17-secret-group",
    }


def test_move_into_a_group_seen_only_at_view_level_is_refused(world):
    victim, attacker = world["victim"], world["attacker"]
    target = rgroup_make(victim, name="rt17-view-target")
    services.share_grant(
        actor=victim, resource_group_id=target.pk, user_id=attacker.pk, level="view"
    )
    before = _state()
    for action in ("move", "add_to_group"):
        response = api_for(attacker).post(
            "/resources/bulk",
            {
                "action": action,
                "resource_ids": [str(world["managed"].pk)],
                "resource_group_id": str(target.pk),
            },
        )
        assert response.status_code == 403, response.content
    assert _state() == before


@pytest.mark.parametrize(
    "value",
    [
        "<script>alert(1)</script>",
        "x" * 100_000,
        "\x00" * 10 + "abc",
        12,
        {"id": "x"},
        ["nested"],
        None,
        True,
        "=cmd|' /C calc'!A0",
    ],
    ids=["markup", "huge", "nul", "int", "dict", "list", "null", "bool", "formula"],
)
def test_values_that_are_not_ids_are_refused_as_not_found_cut_to_64(world, value):
    before = _state()
    response = api_for(world["attacker"]).post(
        "/resources/bulk",
        {"action": "delete", "resource_ids": [str(world["managed"].pk), value]},
    )
    assert response.status_code in (400, 403), response.content
    if response.status_code == 403:
        (refused,) = error(response)["details"]["refused"]
        assert refused["problem"] == "not found" and refused["name"] == ""
        assert len(refused["id"]) <= 64 and "\x00" not in refused["id"]
    assert _state() == before


def test_the_limit_counts_the_raw_list_and_refuses_without_cutting(world):
    api = api_for(world["attacker"])
    before = _state()
    for ids in (
        [str(uuid.uuid4()) for _ in range(MAX_SELECTION + 1)],
        [str(world["managed"].pk)] * (MAX_SELECTION + 1),
    ):
        response = api.post("/resources/bulk", {"action": "delete", "resource_ids": ids})
        assert response.status_code == 400
        assert error(response)["details"]["limit"] == MAX_SELECTION
    assert _state() == before
    # Duplicates in different spellings are one resource.
    pk = world["managed"].pk
    response = api.post(
        "/resources/bulk",
        {"action": "delete", "resource_ids": [str(pk), *_spellings(pk)]},
    )
    assert response.status_code == 200, response.content
    assert response.json()["selected"] == 1
    assert AuditEvent.objects.filter(action="resource.delete", object_id=str(pk)).count() == 1


def test_export_of_a_selection_never_holds_or_names_a_hidden_resource(world):
    api = api_for(world["attacker"])
    for path, body in (
        ("/exports/spreadsheet", {"format": "csv"}),
        ("/exports/spreadsheet", {"format": "xlsx", "with_passwords": True}),
        (
            "/exports/offline",
            {"format": "html", "passphrase": PASSPHRASE},
        ),
        ("/exports/html", {"passphrase": PASSPHRASE}),
    ):
        for spelling in _spellings(world["hidden"].pk):
            response = api.post(path, {**body, "resource_ids": [str(world["viewed"].pk), spelling]})
            assert response.status_code in (403, 404), (path, response.status_code)
            assert HIDDEN.encode() not in response.content
            assert "pw-" + HIDDEN not in response.content.decode(errors="replace")


def test_bulk_web_form_needs_csrf_and_escapes_hostile_ids(world):
    url = reverse("vault:bulk_action")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world["attacker"])
    before = _state()
    for action in ("delete", "share", "move", "add_to_group"):
        response = strict.post(
            url, {"action": action, "resource": [str(world["managed"].pk)], "confirm": "1"}
        )
        assert response.status_code == 403, action
    star = strict.post(reverse("vault:favourite_toggle", args=[world["managed"].pk]))
    assert star.status_code == 403
    assert _state() == before and not Favourite.objects.exists()
    client = Client()
    client.force_login(world["attacker"])
    page = client.post(
        url,
        {"action": "delete", "resource": ['"><script>alert(1)</script>', str(world["hidden"].pk)]},
    )
    assert page.status_code == 403
    text = page.content.decode()
    assert "<script>alert(1)</script>" not in text and HIDDEN not in text
    assert _state() == before


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example", "https://evil.example/", "/\\/evil.example"]
)
def test_favourite_and_bulk_do_not_redirect_off_site(world, target):
    client = Client()
    client.force_login(world["attacker"])
    response = client.post(
        reverse("vault:favourite_toggle", args=[world["managed"].pk]), {"next": target}
    )
    assert response.status_code == 302 and response["Location"] == "/resources/"


# --------------------------------------------------------------------------- favourites, recent


def _favourite_names(api) -> list[str]:
    return [r["name"] for r in api.get("/favourites").json()]


def test_losing_a_user_group_share_hides_the_favourite_and_recent_line_names_included(world):
    victim, attacker = world["victim"], world["attacker"]
    team = group_make(attacker)
    secret = resource_make(victim, "rt17-team-secret")
    account = account_make(victim, secret, "team-login", "team-pw")
    services.share_grant(actor=victim, resource_id=secret.pk, user_group_id=team.pk, level="view")
    api = api_for(attacker)
    assert api.put(f"/favourites/{secret.pk}").status_code in (200, 201, 204)
    assert services.password_retrieve(actor=attacker, account_id=account.pk) == "team-pw"
    assert "rt17-team-secret" in _favourite_names(api)
    assert "rt17-team-secret" in api.get("/recent").content.decode()
    people.user_group_remove_member(actor=admin_get(), group=team, user=attacker)
    for path in ("/favourites", "/recent", "/resources"):
        text = api.get(path).content.decode()
        assert "rt17-team-secret" not in text and "team-login" not in text, path
    client = Client()
    client.force_login(attacker)
    for name in ("vault:favourite_list", "vault:recent_list", "vault:resource_list"):
        page = client.get(reverse(name)).content.decode()
        assert "rt17-team-secret" not in page and "team-login" not in page, name
    # Unstarring needs no access and answers the same as for an ID that was never starred.
    gone = api.delete(f"/favourites/{secret.pk}")
    never = api.delete(f"/favourites/{uuid.uuid4()}")
    assert gone.status_code == never.status_code and gone.content == never.content


def test_a_deactivated_user_sees_nothing_and_their_token_stops(world):
    attacker = world["attacker"]
    api = api_for(attacker)
    api.put(f"/favourites/{world['managed'].pk}")
    deactivate(attacker)
    for path in ("/favourites", "/recent"):
        response = api.get(path)
        assert response.status_code == 401, path
        assert "rt17-managed" not in response.content.decode()


def test_recent_shows_only_the_users_own_retrievals_never_a_colleagues(world):
    victim, attacker = world["victim"], world["attacker"]
    account = world["viewed"].accounts.get()
    # The victim (owner) retrieves many times; the attacker, who can view it, never did.
    for _ in range(3):
        services.password_retrieve(actor=victim, account_id=account.pk)
    other = world["hidden"].accounts.get()
    services.password_retrieve(actor=victim, account_id=other.pk)
    body = api_for(attacker).get("/recent").content.decode()
    assert VIEWED not in body and HIDDEN not in body
    assert str(account.pk) not in body and str(other.pk) not in body
    client = Client()
    client.force_login(attacker)
    page = client.get(reverse("vault:recent_list")).content.decode()
    assert VIEWED not in page and HIDDEN not in page


def test_recent_forgets_a_deleted_account_and_a_moved_away_resource(world):
    victim, attacker = world["victim"], world["attacker"]
    via_group = resource_make(victim, "rt17-via-group")
    account = account_make(victim, via_group, "grp-login", "grp-pw")
    group = rgroup_make(victim, via_group, name="rt17-shared-group")
    services.share_grant(
        actor=victim, resource_group_id=group.pk, user_id=attacker.pk, level="view"
    )
    services.password_retrieve(actor=attacker, account_id=account.pk)
    api = api_for(attacker)
    assert "rt17-via-group" in api.get("/recent").content.decode()
    api.put(f"/favourites/{via_group.pk}")
    # The victim moves it to a group the attacker cannot see.
    other = rgroup_make(victim, name="rt17-private")
    from strongroom.vault import bulk

    bulk.resources_bulk_move(actor=victim, resource_ids=[via_group.pk], resource_group_id=other.pk)
    for path in ("/recent", "/favourites"):
        text = api.get(path).content.decode()
        assert "rt17-via-group" not in text and "grp-login" not in text, path


@pytest.mark.parametrize("level", ["owner", 99, -1, 0, "", "manage ", ["manage"], {"x": 1}])
def test_bulk_share_with_a_hostile_level_is_refused_and_changes_nothing(world, level):
    before = _state()
    response = api_for(world["attacker"]).post(
        "/resources/bulk",
        {
            "action": "share",
            "resource_ids": [str(world["managed"].pk)],
            "user_id": str(user_make("password_user").pk),
            "level": level,
        },
    )
    # 422 when the schema refuses the type, 400 when the service refuses the value.
    assert response.status_code in (400, 422), (level, response.content)
    assert error(response)["code"] == "invalid"
    assert _state() == before


def test_the_web_export_of_a_selection_never_names_a_hidden_resource(world):
    client = Client()
    client.force_login(world["attacker"])
    url = reverse("exports:selection")
    for spelling in [str(world["hidden"].pk), *_spellings(world["hidden"].pk)]:
        chosen = [str(world["viewed"].pk), spelling, "<b>x</b>"]
        page = client.post(url, {"resource": chosen})
        assert page.status_code == 403, spelling
        text = page.content.decode()
        assert HIDDEN not in text and "<b>x</b>" not in text
        sheet = client.post(
            url, {"kind": "sheet", "scope": "all", "format": "csv", "resource": chosen}
        )
        assert sheet.status_code == 403 and not sheet.has_header("Content-Disposition")
        assert HIDDEN not in sheet.content.decode()


def test_starring_a_hidden_resource_by_any_spelling_is_404_like_a_made_up_one(world):
    api = api_for(world["attacker"])
    made_up = api.put(f"/favourites/{uuid.uuid4()}")
    assert made_up.status_code == 404
    for spelling in _spellings(world["hidden"].pk):
        response = api.put(f"/favourites/{spelling}")
        assert response.status_code in (404, 422), (spelling, response.content)
        assert HIDDEN not in response.content.decode()
        if response.status_code == 404:
            assert response.content == made_up.content
    assert not Favourite.objects.filter(user=world["attacker"]).exists()


def test_the_cli_names_nothing_hidden_for_favourites_or_a_selection_export(world, capsys, tmp_path):
    from strongroom.cli.main import main

    who = world["attacker"].username
    hidden = world["hidden"]
    answers = []
    for text in (HIDDEN, "rt17-no-such-resource"):
        code = main(["favourite", "add", text, "--user", who])
        answers.append((code, capsys.readouterr().err.replace(text, "NAME")))
    assert answers[0] == answers[1] and answers[0][0] == 1
    assert main(["favourite", "add", str(hidden.pk), "--user", who]) == 1
    assert HIDDEN not in capsys.readouterr().err
    out = tmp_path / "x.csv"
    args = ["export", "--user", who, "--format", "csv", "--out", str(out)]
    for text in (HIDDEN, str(hidden.pk), str(hidden.pk).upper()):
        assert main([*args, "--resource", VIEWED, "--resource", text]) == 1
        captured = capsys.readouterr()
        assert HIDDEN not in (captured.out + captured.err).replace(text, "")
    assert not out.exists() or HIDDEN.encode() not in out.read_bytes()
    assert not Favourite.objects.filter(user=world["attacker"]).exists()


def test_a_token_without_retrieve_cannot_export_a_selection(world):
    api = api_for(world["attacker"], scopes=["read", "write"])
    for path, body in (
        ("/exports/spreadsheet", {"format": "csv"}),
        ("/exports/offline", {"format": "html", "passphrase": PASSPHRASE}),
    ):
        response = api.post(path, {**body, "resource_ids": [str(world["viewed"].pk)]})
        assert response.status_code == 403, path
        assert error(response)["code"] == "insufficient_scope"
        assert VIEWED not in response.content.decode()


@pytest.mark.parametrize("limit", [str(10**30), "-5", "0", "abc", "1e9", "9" * 5000])
def test_recent_with_a_hostile_limit_is_capped_or_refused_never_a_server_error(world, limit):
    account = world["viewed"].accounts.get()
    services.password_retrieve(actor=world["attacker"], account_id=account.pk)
    response = api_for(world["attacker"]).get("/recent", {"limit": limit})
    assert response.status_code in (200, 422), (limit, response.status_code)
    if response.status_code == 200:
        assert 1 <= len(response.json()) <= 50
    else:
        assert error(response)["code"] == "invalid"
