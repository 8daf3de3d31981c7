"""Resources, accounts, resource groups and shares through the API: the ordinary flows."""

from __future__ import annotations

import uuid

import pytest

from factories import (
    account_make,
    api_for,
    error,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.audit.models import AuditEvent
from strongroom.vault import selectors
from strongroom.vault.models import AccessLevel, Resource, Share

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def test_resource_lifecycle_through_the_api():
    owner = user_make("password_admin")
    api = api_for(owner, ip="198.51.100.4")
    created = api.post(
        "/resources",
        {
            "name": "db-01",
            "resource_type": "Linux",
            "host": "10.0.0.5",
            "url": "ssh://10.0.0.5",
            "description": "primary database",
            "department": "Ops",
            "location": "Rack 4",
            "custom_fields": {"Serial": "X-1", "Warranty": "2027"},
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["access_level_name"] == "manage"
    assert body["owner_username"] == owner.username
    assert body["custom_fields"] == {"Serial": "X-1", "Warranty": "2027"}
    rid = body["id"]
    event = AuditEvent.objects.get(action="resource.create", object_id=rid)
    assert event.client_ip == "198.51.100.4"

    patched = api.patch(f"/resources/{rid}", {"location": "Rack 5", "custom_fields": {}})
    assert patched.status_code == 200
    assert patched.json()["location"] == "Rack 5"
    assert patched.json()["custom_fields"] == {}
    assert patched.json()["description"] == "primary database"
    assert AuditEvent.objects.get(action="resource.update").details == {
        "fields": ["custom_fields", "location"]
    }

    acc = api.post(f"/resources/{rid}/accounts", {"username": "postgres", "password": "pg-pw"})
    assert acc.status_code == 201
    assert "password" not in acc.json()
    assert acc.json()["has_password"] is True
    listed = api.get(f"/resources/{rid}/accounts").json()
    assert [a["username"] for a in listed] == ["postgres"]
    assert api.get(f"/resources/{rid}").json()["account_count"] == 1

    assert api.delete(f"/resources/{rid}").status_code == 204
    assert api.get(f"/resources/{rid}").status_code == 404
    assert not Resource.objects.filter(pk=rid).exists()


def test_list_filters_search_and_pagination():
    owner = user_make("password_admin")
    api = api_for(owner)
    for i in range(7):
        resource_make(
            owner,
            name=f"web-{i:02d}",
            resource_type="Web Site" if i % 2 else "Linux",
            department="Sales" if i < 3 else "Ops",
        )
    special = resource_make(owner, name="mail", host="mx.example.test")
    account_make(owner, special, username="postmaster-unique")

    page = api.get("/resources?limit=3&offset=2").json()
    assert page["total"] == 8
    assert [r["name"] for r in page["items"]] == ["web-01", "web-02", "web-03"]
    assert api.get("/resources?type=linux").json()["total"] == 4
    assert api.get("/resources?department=sales").json()["total"] == 3
    assert [r["name"] for r in api.get("/resources?search=MX.EXAMPLE").json()["items"]] == ["mail"]
    assert [r["name"] for r in api.get("/resources?search=postmaster").json()["items"]] == ["mail"]
    rg = rgroup_make(owner, special)
    assert [r["name"] for r in api.get(f"/resources?group={rg.pk}").json()["items"]] == ["mail"]
    assert api.get("/resources?limit=0").status_code == 422
    assert api.get("/resources?limit=501").status_code == 422


def test_account_update_delete_and_validation():
    owner = user_make("password_admin")
    api = api_for(owner)
    resource = resource_make(owner)
    account = account_make(owner, resource, username="admin", password="one", notes="n1")
    got = api.get(f"/accounts/{account.pk}").json()
    assert got["notes"] == "n1"
    assert got["resource_name"] == resource.name
    assert "password" not in got and "totp_seed" not in got

    resp = api.patch(f"/accounts/{account.pk}", {"username": "administrator", "notes": ""})
    assert resp.status_code == 200
    assert resp.json()["username"] == "administrator"
    assert resp.json()["notes"] == "" and resp.json()["has_notes"] is False
    event = AuditEvent.objects.get(action="account.update")
    assert event.details["fields"] == ["username", "notes"]

    bad = api.patch(f"/accounts/{account.pk}", {"totp_seed": "not base32!"})
    assert bad.status_code == 400 and error(bad)["details"]["field"] == "totp_seed"
    assert api.delete(f"/accounts/{account.pk}").status_code == 204
    assert api.get(f"/accounts/{account.pk}").status_code == 404


def test_resource_name_is_required_and_custom_fields_must_be_flat_text():
    api = api_for(user_make("password_admin"))
    blank = api.post("/resources", {"name": "   "})
    assert blank.status_code == 400
    assert error(blank)["details"]["field"] == "name"
    nested = api.post("/resources", {"name": "x", "custom_fields": {"a": {"b": "c"}}})
    assert nested.status_code == 422
    number = api.post("/resources", {"name": "x", "custom_fields": {"a": 1}})
    assert number.status_code == 422
    assert Resource.objects.count() == 0


def test_share_grant_updates_level_and_revoke_removes_access():
    owner = user_make("password_admin")
    friend = user_make("password_user")
    api = api_for(owner)
    resource = resource_make(owner)
    first = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(friend.pk), "level": "view"}
    )
    assert first.status_code == 201, first.content
    assert first.json()["level_name"] == "view"
    again = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(friend.pk), "level": 3}
    )
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["level_name"] == "manage"
    assert Share.objects.count() == 1
    grants = AuditEvent.objects.filter(action="share.grant").order_by("seq")
    assert [(e.details["level"], e.details["previous_level"]) for e in grants] == [
        ("view", None),
        ("manage", "view"),
    ]
    assert selectors.resource_access_level(user=friend, resource=resource) == AccessLevel.MANAGE

    listed = api.get(f"/shares?resource_id={resource.pk}").json()
    assert [s["username"] for s in listed] == [friend.username]
    assert [s["id"] for s in api.get("/shares").json()] == [first.json()["id"]]

    bad_level = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(friend.pk), "level": "owner"}
    )
    assert bad_level.status_code == 400 and error(bad_level)["details"]["field"] == "level"
    both = api.post("/shares", {"user_id": str(friend.pk), "level": "view"})
    assert both.status_code == 400
    to_owner = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(owner.pk), "level": "view"}
    )
    assert to_owner.status_code == 400
    ghost = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(uuid.uuid4()), "level": 1}
    )
    assert ghost.status_code == 404 and error(ghost)["details"]["field"] == "user_id"

    assert api.delete(f"/shares/{first.json()['id']}").status_code == 204
    assert selectors.resource_access_level(user=friend, resource=resource) is None
    assert AuditEvent.objects.filter(action="share.revoke").count() == 1


def test_resource_groups_crud_membership_and_group_owner_manages_members():
    owner = user_make("password_admin")
    api = api_for(owner)
    resource = resource_make(owner, name="in-group")
    created = api.post("/resource-groups", {"name": "Core", "description": "core systems"})
    assert created.status_code == 201
    gid = created.json()["id"]
    assert (
        api.post(f"/resource-groups/{gid}/resources", {"resource_id": str(resource.pk)}).status_code
        == 204
    )
    # Adding again is harmless and not audited twice.
    api.post(f"/resource-groups/{gid}/resources", {"resource_id": str(resource.pk)})
    assert AuditEvent.objects.filter(action="resource_group.add_resource").count() == 1
    members = api.get(f"/resource-groups/{gid}/resources").json()
    assert [m["name"] for m in members["items"]] == ["in-group"]
    assert members["total"] == 1
    assert api.get(f"/resource-groups/{gid}").json()["resource_count"] == 1
    assert api.patch(f"/resource-groups/{gid}", {"name": "Core 2"}).json()["name"] == "Core 2"
    assert [g["name"] for g in api.get("/resource-groups").json()] == ["Core 2"]

    # Someone else's group, shared with the owner at manage level: once the owner puts a
    # resource in it, the group's owner manages that resource too.
    colleague = user_make("password_admin")
    theirs = rgroup_make(colleague, name="Theirs")
    api_for(colleague).post(
        "/shares",
        {"resource_group_id": str(theirs.pk), "user_id": str(owner.pk), "level": "manage"},
    )
    assert (
        api.post(
            f"/resource-groups/{theirs.pk}/resources", {"resource_id": str(resource.pk)}
        ).status_code
        == 204
    )
    assert selectors.resource_access_level(user=colleague, resource=resource) == AccessLevel.MANAGE

    assert api.delete(f"/resource-groups/{gid}/resources/{resource.pk}").status_code == 204
    assert api.get(f"/resource-groups/{gid}").json()["resource_count"] == 0
    assert api.delete(f"/resource-groups/{gid}").status_code == 204
    assert Resource.objects.filter(pk=resource.pk).exists()


def test_who_has_access_lists_every_path():
    owner = user_make("password_admin", username="owner")
    direct = user_make("password_user", username="direct")
    member = user_make("password_user", username="member")
    gone = user_make("password_user", username="gone")
    team = group_make(member, gone, name="team")
    via_rg = user_make("password_user", username="via-rg")
    resource = resource_make(owner)
    rg = rgroup_make(owner, resource, name="RG")
    api = api_for(owner)
    for body in (
        {"resource_id": str(resource.pk), "user_id": str(direct.pk), "level": "view"},
        {"resource_id": str(resource.pk), "user_group_id": str(team.pk), "level": "modify"},
        {"resource_group_id": str(rg.pk), "user_id": str(via_rg.pk), "level": "manage"},
        {"resource_group_id": str(rg.pk), "user_id": str(direct.pk), "level": "modify"},
    ):
        assert api.post("/shares", body).status_code == 201
    from factories import deactivate

    deactivate(gone)
    access = api.get(f"/resources/{resource.pk}/access").json()
    vias = sorted((g["via"], g["principal_name"], g["level_name"]) for g in access["grants"])
    assert vias == [
        ("owner", "owner", "manage"),
        ("resource_group_owner", "owner", "manage"),
        ("resource_group_share", "direct", "modify"),
        ("resource_group_share", "via-rg", "manage"),
        ("share", "direct", "view"),
        ("share", "team", "modify"),
    ]
    users = {u["username"]: u for u in access["users"]}
    assert set(users) == {"owner", "direct", "member", "via-rg"}  # "gone" is inactive
    assert users["direct"]["level_name"] == "modify"
    assert {g["via"] for g in users["direct"]["grants"]} == {"share", "resource_group_share"}
    assert users["member"]["level_name"] == "modify"
    assert users["member"]["grants"][0]["principal_name"] == "team"
    assert users["via-rg"]["grants"][0]["resource_group_name"] == "RG"


def test_openapi_schema_describes_the_vault_endpoints(client):
    schema = client.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/resources",
        "/api/v1/resources/{resource_id}/access",
        "/api/v1/accounts/{account_id}/password",
        "/api/v1/accounts/{account_id}/history/{history_id}/password",
        "/api/v1/resource-groups/{group_id}/resources",
        "/api/v1/shares",
        "/api/v1/import",
    ):
        assert path in paths, path
    assert "post" in paths["/api/v1/accounts/{account_id}/password"]
    assert "get" not in paths["/api/v1/accounts/{account_id}/password"]
