"""The directory's admin API, and a directory user signing in through /auth/login."""

from __future__ import annotations

import pytest

from factories import Api, api_for, user_make
from strongroom.accounts.models import User
from strongroom.accounts.services import user_group_create

from .slapd_server import (
    ENGINEERING,
    GROUPS,
    PASSWORDS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    STAFF,
    USER_FILTER,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(db):
    return api_for(user_make("admin", username="break-glass"))


def test_admin_configures_tests_maps_and_syncs_through_the_api(slapd, admin_api):
    settings = {
        "enabled": True,
        "server_urls": [slapd.ldaps_url],
        "security": "ldaps",
        "ca_bundle": slapd.ca_pem,
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PASSWORD,
        "user_search_base": PEOPLE,
        "user_filter": USER_FILTER,
        "group_search_base": GROUPS,
        "nesting": "walk",
        "allowed_group_dn": STAFF,
        "jit_create": True,
    }
    put = admin_api.put("/directory", settings)
    assert put.status_code == 200, put.json()
    body = put.json()
    assert body["bind_password_set"] is True
    assert SERVICE_PASSWORD not in put.content.decode()
    assert admin_api.get("/directory").json()["server_urls"] == [slapd.ldaps_url]

    group = user_group_create(actor=None, name="Engineers")
    mapped = admin_api.post(
        "/directory/mappings", {"group_dn": ENGINEERING, "user_group_id": str(group.pk)}
    )
    assert mapped.status_code == 201, mapped.json()
    assert admin_api.get("/directory/mappings").json()[0]["user_group_name"] == "Engineers"

    probe = admin_api.post("/directory/test", {"username": "alice"}).json()
    assert probe["user_found"] is True and STAFF.lower() in probe["groups"]

    # alice signs in through the ordinary sign-in endpoint; she is created and mapped.
    login = Api().login("alice", PASSWORDS["alice"])
    assert login.status_code == 200, login.json()
    alice = User.objects.get(username="alice")
    assert list(group.members.all()) == [alice]
    wrong = Api().login("alice", "wrong-password-1")
    assert wrong.status_code == 401

    added = admin_api.post("/directory/users", {"username": "bob"})
    assert added.status_code == 201, added.json()
    assert added.json()["email"] == "bob@example.test"
    assert admin_api.post("/directory/users", {"username": "dave)(uid=*"}).status_code == 404

    synced = admin_api.post("/directory/sync")
    assert synced.json() == {"checked": 2, "deactivated": 0, "kept": 2}
    assert admin_api.get("/directory").json()["last_sync_result"]["checked"] == 2

    deleted = admin_api.delete(f"/directory/mappings/{mapped.json()['id']}")
    assert deleted.status_code == 204
    assert admin_api.get("/directory/mappings").json() == []


def test_bad_settings_are_refused_and_nothing_changes(admin_api):
    for bad in (
        {"server_urls": ["http://dc1.example.com"]},
        {"user_filter": "uid=*"},
        {"enabled": True},  # no server, no search base
        {"security": "plaintext"},
        {"username_attribute": "uid=*)(cn"},
        {"server_urls": ["ldaps://dc1.example.com\u0000"]},
        {"timeout_seconds": 0},
    ):
        response = admin_api.put("/directory", bad)
        assert response.status_code == 400, (bad, response.json())
    after = admin_api.get("/directory").json()
    assert after["enabled"] is False and after["server_urls"] == []
    unconfigured = admin_api.post("/directory/test", {"username": ""})
    assert unconfigured.status_code == 409
    assert "set its server URLs" in unconfigured.json()["error"]["message"]


def test_non_admin_cannot_read_or_change_the_directory(db):
    api = api_for(user_make("password_user"))
    assert api.get("/directory").status_code == 403
    assert api.put("/directory", {"enabled": False}).status_code == 403
    assert api.post("/directory/sync").status_code == 403
