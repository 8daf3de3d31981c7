"""Guessing IDs: for every vault endpoint, an object you cannot see answers 404 exactly like
one that does not exist, an object you can see without the needed level answers 403, and
nothing changes either way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from factories import Api, account_make, api_for, error, resource_make, rgroup_make, user_make
from strongroom.audit.models import AuditEvent
from strongroom.vault import services
from strongroom.vault.models import (
    AccessLevel,
    Account,
    PasswordHistory,
    Resource,
    ResourceGroup,
    Share,
)

pytestmark = pytest.mark.django_db

VIEW, MODIFY, MANAGE = AccessLevel.VIEW, AccessLevel.MODIFY, AccessLevel.MANAGE

# (method, path, body, level needed). Placeholders: {r} resource, {a} account, {h} history
# entry of {a}, {g} resource group, {s} share, {u} a user to share with.
ENDPOINTS: list[tuple[str, str, Any, int]] = [
    ("GET", "/resources/{r}", None, VIEW),
    ("PATCH", "/resources/{r}", {"description": "x"}, MANAGE),
    ("DELETE", "/resources/{r}", None, MANAGE),
    ("GET", "/resources/{r}/accounts", None, VIEW),
    ("POST", "/resources/{r}/accounts", {"username": "u", "password": "p"}, MODIFY),
    ("GET", "/resources/{r}/access", None, MANAGE),
    ("GET", "/resources?group={g}", None, VIEW),
    ("GET", "/accounts/{a}", None, VIEW),
    ("PATCH", "/accounts/{a}", {"notes": "x"}, MODIFY),
    ("DELETE", "/accounts/{a}", None, MANAGE),
    ("POST", "/accounts/{a}/password", {"reason": "r"}, VIEW),
    ("GET", "/accounts/{a}/history", None, VIEW),
    ("POST", "/accounts/{a}/history/{h}/password", {"reason": "r"}, VIEW),
    ("POST", "/accounts/{a}/totp", {"reason": "r"}, VIEW),
    ("GET", "/resource-groups/{g}", None, VIEW),
    ("PATCH", "/resource-groups/{g}", {"name": "x"}, MANAGE),
    ("DELETE", "/resource-groups/{g}", None, MANAGE),
    ("GET", "/resource-groups/{g}/resources", None, VIEW),
    ("POST", "/resource-groups/{g}/resources", {"resource_id": "{r}"}, MANAGE),
    ("DELETE", "/resource-groups/{g}/resources/{r}", None, MANAGE),
    ("GET", "/shares?resource_id={r}", None, MANAGE),
    ("GET", "/shares?resource_group_id={g}", None, MANAGE),
    ("POST", "/shares", {"resource_id": "{r}", "user_id": "{u}", "level": "view"}, MANAGE),
    ("POST", "/shares", {"resource_group_id": "{g}", "user_id": "{u}", "level": "view"}, MANAGE),
    ("GET", "/shares/{s}", None, MANAGE),
    ("DELETE", "/shares/{s}", None, MANAGE),
]
OK = {"GET": 200, "POST": 200, "PATCH": 200, "DELETE": 204}


@dataclass
class World:
    ids: dict[str, str]
    outsider: Api
    viewer: Api
    owner: Api


@pytest.fixture
def world() -> World:
    owner = user_make("password_admin")
    resource = resource_make(owner, name="secret-server")
    account = account_make(owner, resource, password="first", totp_seed="JBSWY3DPEHPK3PXP")
    services.account_update(actor=owner, account_id=account.pk, password="second")
    rg = rgroup_make(owner, resource)
    viewer = user_make("password_user")
    share = services.share_grant(
        actor=owner, resource_id=resource.pk, user_id=viewer.pk, level=VIEW
    )
    services.share_grant(actor=owner, resource_group_id=rg.pk, user_id=viewer.pk, level=VIEW)
    ids = {
        "r": str(resource.pk),
        "a": str(account.pk),
        "h": str(PasswordHistory.objects.get(account=account).pk),
        "g": str(rg.pk),
        "s": str(share.pk),
        "u": str(user_make("password_user").pk),
    }
    return World(ids, api_for(user_make("password_admin")), api_for(viewer), api_for(owner))


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, real in ids.items():
            value = value.replace("{" + key + "}", real)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _snapshot() -> tuple[int, ...]:
    return (
        Resource.objects.count(),
        Account.objects.count(),
        ResourceGroup.objects.count(),
        ResourceGroup.resources.through.objects.count(),
        Share.objects.count(),
        AuditEvent.objects.exclude(
            action__in=["password.retrieve", "password_history.retrieve", "totp.generate"]
        ).count(),
    )


def _call(api: Api, method: str, path: str, body: Any, ids: dict[str, str]) -> Any:
    return api.call(method, _fill(path, ids), _fill(body, ids))


def test_outsider_gets_404_for_every_endpoint(world: World) -> None:
    before = _snapshot()
    wrong = []
    for method, path, body, _level in ENDPOINTS:
        response = _call(world.outsider, method, path, body, world.ids)
        if response.status_code != 404 or error(response)["code"] != "not_found":
            wrong.append((method, path, response.status_code))
        assert "secret-server" not in response.content.decode()
    assert wrong == []
    assert _snapshot() == before


def test_random_uuid_gets_404_for_every_endpoint(world: World) -> None:
    # As the owner, who may do everything with the real objects: only the guess fails.
    before = _snapshot()
    wrong = []
    for method, path, body, _level in ENDPOINTS:
        for key in [k for k in world.ids if "{" + k + "}" in f"{path}{body}" and k != "u"]:
            ids = {**world.ids, key: str(uuid.uuid4())}
            response = _call(world.owner, method, path, body, ids)
            if response.status_code != 404:
                wrong.append((method, path, key, response.status_code))
    assert wrong == []
    assert _snapshot() == before


def test_viewer_gets_403_above_their_level_and_nothing_changes(world: World) -> None:
    before = _snapshot()
    wrong = []
    for method, path, body, level in ENDPOINTS:
        response = _call(world.viewer, method, path, body, world.ids)
        expected = 403 if level > VIEW else OK[method]
        if response.status_code != expected:
            wrong.append((method, path, response.status_code, expected))
        elif expected == 403:
            assert error(response)["code"] == "forbidden"
    assert wrong == []
    assert _snapshot() == before


def test_ids_of_the_wrong_kind_or_from_another_object_are_not_found(world: World) -> None:
    owner_api = api_for(Resource.objects.get(pk=world.ids["r"]).owner)
    other = account_make(
        Resource.objects.get(pk=world.ids["r"]).owner,
        resource_make(Resource.objects.get(pk=world.ids["r"]).owner),
    )
    # An account ID where a resource ID belongs, and the reverse.
    assert owner_api.get(f"/resources/{world.ids['a']}").status_code == 404
    assert owner_api.get(f"/accounts/{world.ids['r']}").status_code == 404
    # A real history entry, asked for under a different account.
    response = owner_api.post(f"/accounts/{other.pk}/history/{world.ids['h']}/password", {})
    assert response.status_code == 404
    # Not a UUID at all: rejected by the API's parameter validation, never a lookup.
    assert owner_api.get("/resources/1%20OR%201=1").status_code == 422


def test_without_a_token_everything_is_401(world: World) -> None:
    anonymous = Api(token="sr_not-a-real-token")
    for method, path, body, _level in ENDPOINTS:
        response = _call(anonymous, method, path, body, world.ids)
        assert response.status_code == 401, (method, path)
