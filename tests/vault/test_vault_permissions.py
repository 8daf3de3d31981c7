"""The permission matrix: every role and every way of reaching a resource.

Roles decide only who may create resources, resource groups and imports; access to vault
objects comes from ownership and shares alone. Each case builds its world through the real
services and then checks, through the API, exactly what the user sees and may do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from factories import (
    ROLES,
    Api,
    account_make,
    api_for,
    deactivate,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.accounts.models import User
from strongroom.core.errors import NotFound
from strongroom.vault import selectors, services
from strongroom.vault.models import AccessLevel, Account, Resource

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

VIEW, MODIFY, MANAGE = AccessLevel.VIEW, AccessLevel.MODIFY, AccessLevel.MANAGE
CAN_CREATE = {"admin", "password_admin"}
TOTP_SEED = "JBSWY3DPEHPK3PXP"


@dataclass
class World:
    owner: User
    user: User
    bystander: User
    resource: Resource
    account: Account
    spare_account: Account
    hidden: Resource


def _share_resource(w: World, level: int, *, to_group: bool = False) -> None:
    if to_group:
        team = group_make(w.user)
        services.share_grant(
            actor=w.owner, resource_id=w.resource.pk, user_group_id=team.pk, level=level
        )
    else:
        services.share_grant(
            actor=w.owner, resource_id=w.resource.pk, user_id=w.user.pk, level=level
        )


def _share_rgroup(w: World, level: int, *, to_group: bool = False) -> None:
    rg = rgroup_make(w.owner, w.resource)
    if to_group:
        team = group_make(w.user)
        services.share_grant(
            actor=w.owner, resource_group_id=rg.pk, user_group_id=team.pk, level=level
        )
    else:
        services.share_grant(actor=w.owner, resource_group_id=rg.pk, user_id=w.user.pk, level=level)


def _mixed(w: World) -> None:
    # A direct view share and a manage share through a group: the highest level wins.
    _share_resource(w, VIEW)
    _share_rgroup(w, MANAGE, to_group=True)


def _inactive(w: World) -> None:
    _share_resource(w, MANAGE)
    deactivate(w.user)


# name -> (setup, expected level or None)
COMBOS: dict[str, tuple[Callable[[World], None], int | None]] = {
    "owner": (lambda w: None, MANAGE),  # the world is built with the user as owner
    "user-view": (lambda w: _share_resource(w, VIEW), VIEW),
    "user-modify": (lambda w: _share_resource(w, MODIFY), MODIFY),
    "user-manage": (lambda w: _share_resource(w, MANAGE), MANAGE),
    "group-view": (lambda w: _share_resource(w, VIEW, to_group=True), VIEW),
    "group-modify": (lambda w: _share_resource(w, MODIFY, to_group=True), MODIFY),
    "group-manage": (lambda w: _share_resource(w, MANAGE, to_group=True), MANAGE),
    "rgroup-user-view": (lambda w: _share_rgroup(w, VIEW), VIEW),
    "rgroup-user-modify": (lambda w: _share_rgroup(w, MODIFY), MODIFY),
    "rgroup-user-manage": (lambda w: _share_rgroup(w, MANAGE), MANAGE),
    "rgroup-group-view": (lambda w: _share_rgroup(w, VIEW, to_group=True), VIEW),
    "rgroup-group-manage": (lambda w: _share_rgroup(w, MANAGE, to_group=True), MANAGE),
    "mixed-view-and-manage": (_mixed, MANAGE),
    "no-share": (lambda w: None, None),
    "inactive": (_inactive, None),
}


def _world(role: str, combo: str) -> World:
    user = user_make(role)
    owner = user if combo == "owner" else user_make("password_admin")
    resource = resource_make(owner, name="target")
    account = account_make(owner, resource, username="root", password="pw-1", totp_seed=TOTP_SEED)
    services.account_update(actor=owner, account_id=account.pk, password="pw-2")  # history
    spare = account_make(owner, resource, username="spare", password="spare-pw")
    hidden = resource_make(user_make("password_admin"), name="never-shared")
    account_make(hidden.owner, hidden)
    return World(owner, user, user_make("password_user"), resource, account, spare, hidden)


def _expect(level: int | None, needed: int, ok: int) -> int:
    if level is None:
        return 404
    return ok if level >= needed else 403


def _check_api(api: Api, w: World, level: int | None) -> None:
    r, a = w.resource.pk, w.account.pk
    listed = api.get("/resources").json()
    assert [item["id"] for item in listed["items"]] == ([str(r)] if level else [])
    assert listed["total"] == (1 if level else 0)

    got = api.get(f"/resources/{r}")
    assert got.status_code == _expect(level, VIEW, 200)
    if level:
        assert got.json()["access_level"] == level
    assert api.get(f"/resources/{w.hidden.pk}").status_code == 404

    accounts = api.get(f"/resources/{r}/accounts")
    assert accounts.status_code == _expect(level, VIEW, 200)
    if level:
        assert {x["username"] for x in accounts.json()} == {"root", "spare"}
    assert api.get(f"/accounts/{a}").status_code == _expect(level, VIEW, 200)

    password = api.post(f"/accounts/{a}/password", {"reason": "matrix"})
    assert password.status_code == _expect(level, VIEW, 200)
    if level:
        assert password.json() == {"password": "pw-2"}
    history = api.get(f"/accounts/{a}/history")
    assert history.status_code == _expect(level, VIEW, 200)
    if level:
        hid = history.json()[0]["id"]
        old = api.post(f"/accounts/{a}/history/{hid}/password", {"reason": "matrix"})
        assert old.json() == {"password": "pw-1"}
    assert api.post(f"/accounts/{a}/totp").status_code == _expect(level, VIEW, 200)

    created = api.post(f"/resources/{r}/accounts", {"username": "new", "password": "x"})
    assert created.status_code == _expect(level, MODIFY, 201)
    patched = api.patch(f"/accounts/{a}", {"notes": "changed"})
    assert patched.status_code == _expect(level, MODIFY, 200)

    assert api.patch(f"/resources/{r}", {"location": "moved"}).status_code == _expect(
        level, MANAGE, 200
    )
    assert api.get(f"/resources/{r}/access").status_code == _expect(level, MANAGE, 200)
    assert api.get(f"/shares?resource_id={r}").status_code == _expect(level, MANAGE, 200)
    grant = api.post(
        "/shares", {"resource_id": str(r), "user_id": str(w.bystander.pk), "level": "view"}
    )
    assert grant.status_code == _expect(level, MANAGE, 201)
    assert api.delete(f"/accounts/{w.spare_account.pk}").status_code == _expect(level, MANAGE, 204)
    assert api.delete(f"/resources/{r}").status_code == _expect(level, MANAGE, 204)
    assert Resource.objects.filter(pk=r).exists() == (level != MANAGE)


def _check_role_permissions(api: Api, role: str) -> None:
    allowed = role in CAN_CREATE
    assert api.post("/resources", {"name": "mine"}).status_code == (201 if allowed else 403)
    assert api.post("/resource-groups", {"name": "mine"}).status_code == (201 if allowed else 403)
    csv = (
        b"resource_name,resource_type,host,url,department,location,description,"
        b"username,password,notes,totp_seed\nimported,,,,,,,u,p,,\n"
    )
    assert api.upload("/import", csv, "strongroom").status_code == (200 if allowed else 403)


# Password users and auditors cannot own resources: they may not create or import any
# (test_role_decides_who_creates_and_imports), so they have no "owner" case.
MATRIX = [
    (role, combo) for role in ROLES for combo in COMBOS if combo != "owner" or role in CAN_CREATE
]


@pytest.mark.parametrize(("role", "combo"), MATRIX)
def test_role_and_sharing_matrix(role: str, combo: str) -> None:
    setup, expected = COMBOS[combo]
    w = _world(role, combo)
    api = api_for(w.user)
    setup(w)
    w.user.refresh_from_db()

    assert selectors.resource_access_level(user=w.user, resource=w.resource) == expected
    assert list(selectors.resources_visible(user=w.user)) == ([w.resource] if expected else [])

    if combo == "inactive":
        # The user's token stops working, so every endpoint refuses before any lookup.
        for path in ("/resources", f"/resources/{w.resource.pk}", f"/accounts/{w.account.pk}"):
            assert api.get(path).status_code == 401
        assert api.post(f"/accounts/{w.account.pk}/password").status_code == 401
        with pytest.raises(NotFound):
            services.password_retrieve(actor=w.user, account_id=w.account.pk)
        return

    _check_api(api, w, expected)


@pytest.mark.parametrize("role", ROLES)
def test_role_decides_who_creates_and_imports(role: str) -> None:
    _check_role_permissions(api_for(user_make(role)), role)


def test_owning_a_resource_group_manages_what_it_contains() -> None:
    group_owner = user_make("password_admin")
    resource_owner = user_make("password_admin")
    resource = resource_make(resource_owner)
    rg = rgroup_make(group_owner)
    services.share_grant(
        actor=group_owner, resource_group_id=rg.pk, user_id=resource_owner.pk, level=MANAGE
    )
    assert selectors.resource_access_level(user=group_owner, resource=resource) is None
    services.resource_group_add_resource(
        actor=resource_owner, resource_group_id=rg.pk, resource_id=resource.pk
    )
    assert selectors.resource_access_level(user=group_owner, resource=resource) == MANAGE


def test_managing_a_group_does_not_let_you_pull_in_resources_you_do_not_manage() -> None:
    manager = user_make("password_admin")
    stranger_owner = user_make("password_admin")
    rg = rgroup_make(manager)
    visible = resource_make(stranger_owner)
    services.share_grant(
        actor=stranger_owner, resource_id=visible.pk, user_id=manager.pk, level=MODIFY
    )
    invisible = resource_make(stranger_owner)
    api = api_for(manager)
    assert (
        api.post(
            f"/resource-groups/{rg.pk}/resources", {"resource_id": str(visible.pk)}
        ).status_code
        == 403
    )
    assert (
        api.post(
            f"/resource-groups/{rg.pk}/resources", {"resource_id": str(invisible.pk)}
        ).status_code
        == 404
    )
    assert (
        api.post(
            f"/resource-groups/{rg.pk}/resources", {"resource_id": str(uuid.uuid4())}
        ).status_code
        == 404
    )
    assert rg.resources.count() == 0


def test_a_modify_sharee_cannot_escalate_by_sharing() -> None:
    owner = user_make("password_admin")
    modifier = user_make("password_user")
    resource = resource_make(owner)
    services.share_grant(actor=owner, resource_id=resource.pk, user_id=modifier.pk, level=MODIFY)
    api = api_for(modifier)
    me = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(modifier.pk), "level": "manage"}
    )
    assert me.status_code == 403
    assert selectors.resource_access_level(user=modifier, resource=resource) == MODIFY


def test_a_manage_sharee_can_share_on_and_revoke_but_not_touch_the_owner() -> None:
    owner = user_make("password_admin")
    manager = user_make("password_user")
    third = user_make("password_user")
    resource = resource_make(owner)
    services.share_grant(actor=owner, resource_id=resource.pk, user_id=manager.pk, level=MANAGE)
    api = api_for(manager)
    shared = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(third.pk), "level": "view"}
    )
    assert shared.status_code == 201
    assert selectors.resource_access_level(user=third, resource=resource) == VIEW
    assert api.delete(f"/shares/{shared.json()['id']}").status_code == 204
    assert selectors.resource_access_level(user=third, resource=resource) is None
    # Demoting the owner is impossible: ownership is not a share.
    demote = api.post(
        "/shares", {"resource_id": str(resource.pk), "user_id": str(owner.pk), "level": "view"}
    )
    assert demote.status_code == 400
    assert selectors.resource_access_level(user=owner, resource=resource) == MANAGE


def test_resource_group_visibility_and_levels() -> None:
    owner = user_make("password_admin")
    viewer = user_make("password_user")
    manager_member = user_make("password_user")
    outsider = user_make("password_user")
    rg = rgroup_make(owner, resource_make(owner), name="Shared RG")
    rgroup_make(owner, name="Private RG")
    team = group_make(manager_member)
    services.share_grant(actor=owner, resource_group_id=rg.pk, user_id=viewer.pk, level=VIEW)
    services.share_grant(actor=owner, resource_group_id=rg.pk, user_group_id=team.pk, level=MANAGE)

    assert [g["name"] for g in api_for(owner).get("/resource-groups").json()] == [
        "Private RG",
        "Shared RG",
    ]
    viewer_groups = api_for(viewer).get("/resource-groups").json()
    assert [(g["name"], g["access_level_name"], g["resource_count"]) for g in viewer_groups] == [
        ("Shared RG", "view", 1)
    ]
    assert api_for(viewer).patch(f"/resource-groups/{rg.pk}", {"name": "x"}).status_code == 403
    member_api = api_for(manager_member)
    assert member_api.patch(f"/resource-groups/{rg.pk}", {"name": "Renamed"}).status_code == 200
    assert api_for(outsider).get("/resource-groups").json() == []
    assert api_for(outsider).get(f"/resource-groups/{rg.pk}").status_code == 404


def test_leaving_a_user_group_ends_the_access_it_gave() -> None:
    from strongroom.accounts.services import user_group_remove_member

    owner = user_make("password_admin")
    member = user_make("password_user")
    team = group_make(member)
    resource = resource_make(owner)
    services.share_grant(actor=owner, resource_id=resource.pk, user_group_id=team.pk, level=MODIFY)
    assert selectors.resource_access_level(user=member, resource=resource) == MODIFY
    user_group_remove_member(actor=user_make("admin"), group=team, user=member)
    assert selectors.resource_access_level(user=member, resource=resource) is None
    assert api_for(member).get(f"/resources/{resource.pk}").status_code == 404
