"""User groups over the API: CRUD, members, the directory view, audit."""

from __future__ import annotations

import uuid

import pytest

from factories import api_for, error_code
from strongroom.accounts import services
from strongroom.accounts.models import UserGroup
from strongroom.audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def test_group_lifecycle(admin_api, make_user):
    ann, ben = make_user(username="ann"), make_user(username="ben")
    created = admin_api.post(
        "/user-groups", {"name": "Network team", "description": "<i>routers</i> " + "x" * 10240}
    )
    assert created.status_code == 201, created.content
    group_id = created.json()["id"]
    assert created.json()["members"] == []
    assert created.json()["description"].startswith("<i>routers</i> xxx")

    path = f"/user-groups/{group_id}"
    added = admin_api.post(f"{path}/members", {"user_id": str(ann.pk)})
    assert added.status_code == 200
    admin_api.post(f"{path}/members", {"user_id": str(ben.pk)})
    again = admin_api.post(f"{path}/members", {"user_id": str(ann.pk)})  # no-op
    assert [m["username"] for m in again.json()["members"]] == ["ann", "ben"]

    renamed = admin_api.patch(path, {"name": "Net team"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Net team"

    removed = admin_api.delete(f"{path}/members/{ann.pk}")
    assert [m["username"] for m in removed.json()["members"]] == ["ben"]
    missing = admin_api.delete(f"{path}/members/{ann.pk}")
    assert missing.status_code == 404

    members = admin_api.get(f"{path}/members").json()
    assert [m["id"] for m in members] == [str(ben.pk)]

    assert admin_api.delete(path).status_code == 204
    assert admin_api.get(path).status_code == 404
    actions = list(
        AuditEvent.objects.filter(object_id=group_id)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "user_group.create",
        "user_group.add_member",
        "user_group.add_member",
        "user_group.update",
        "user_group.remove_member",
        "user_group.delete",
    ]
    update = AuditEvent.objects.get(object_id=group_id, action="user_group.update")
    assert update.details["changes"]["name"] == {"old": "Network team", "new": "Net team"}


def test_everyone_sees_groups_and_members_as_a_directory(admin, make_user):
    member = make_user(username="cat", email="cat@example.test")
    group = services.user_group_create(actor=admin, name="DBAs")
    services.user_group_add_member(actor=admin, group=group, user=member)
    api = api_for(make_user("password_user"))
    listed = api.get("/user-groups").json()
    assert [g["name"] for g in listed] == ["DBAs"]
    assert listed[0]["members"] == [
        {"id": str(member.pk), "username": "cat", "full_name": "", "is_active": True}
    ]
    assert api.get(f"/user-groups/{group.pk}").json()["name"] == "DBAs"
    assert "cat@example.test" not in api.get("/user-groups").content.decode()


def test_group_names_are_unique_regardless_of_case(admin_api, admin):
    services.user_group_create(actor=admin, name="Ops")
    other = services.user_group_create(actor=admin, name="Dev")
    dup = admin_api.post("/user-groups", {"name": "OPS"})
    assert dup.status_code == 409 and error_code(dup) == "conflict"
    assert admin_api.patch(f"/user-groups/{other.pk}", {"name": "ops"}).status_code == 409
    assert admin_api.post("/user-groups", {"name": "  "}).status_code == 400
    assert admin_api.post("/user-groups", {"name": "bad\x00name"}).status_code == 400
    assert UserGroup.objects.count() == 2


@pytest.mark.parametrize("bad_id", [str(uuid.uuid4()), "nope"])
def test_unknown_group_or_member_ids_are_404(admin_api, admin, make_user, bad_id):
    group = services.user_group_create(actor=admin, name="Ops")
    user = make_user()
    assert admin_api.get(f"/user-groups/{bad_id}").status_code == 404
    assert admin_api.patch(f"/user-groups/{bad_id}", {"name": "x"}).status_code == 404
    assert admin_api.delete(f"/user-groups/{bad_id}").status_code == 404
    assert admin_api.get(f"/user-groups/{bad_id}/members").status_code == 404
    assert admin_api.post(
        f"/user-groups/{bad_id}/members", {"user_id": str(user.pk)}
    ).status_code == (404)
    assert admin_api.post(f"/user-groups/{group.pk}/members", {"user_id": bad_id}).status_code == (
        404
    )
    assert admin_api.delete(f"/user-groups/{group.pk}/members/{bad_id}").status_code == 404


def test_deleting_a_group_removes_the_access_it_granted(admin_api, admin, make_user):
    from strongroom.vault import services as vault_services
    from strongroom.vault.models import AccessLevel, Share

    owner = make_user("password_admin")
    group = services.user_group_create(actor=admin, name="Helpdesk")
    resource = vault_services.resource_create(actor=owner, name="mail01")
    vault_services.share_grant(
        actor=owner, resource_id=resource.pk, user_group_id=group.pk, level=AccessLevel.VIEW
    )
    assert Share.objects.filter(user_group=group).count() == 1
    assert admin_api.delete(f"/user-groups/{group.pk}").status_code == 204
    assert not Share.objects.filter(resource=resource).exists()
    event = AuditEvent.objects.get(action="user_group.delete")
    assert event.details == {"members": 0, "shares_removed": 1}
