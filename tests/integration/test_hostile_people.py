"""Hostile values in the people, token, reason and audit fields: stored and returned exactly
(markup, formula prefixes, RTL, emoji, 10 KB where the column allows), or refused with a
specific error that names the field and changes nothing (NUL, over-long values).

The vault's own fields are covered by tests/vault/test_vault_hostile.py.
"""

from __future__ import annotations

import pytest
from django.test import Client

from factories import PASSWORD
from strongroom.accounts.models import User, UserGroup
from strongroom.accounts.services import REAUTH_TRUSTED, api_token_create, user_create
from strongroom.audit.models import AuditEvent
from strongroom.vault.services import account_create, resource_create

pytestmark = pytest.mark.django_db

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script><!--",
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    '@HYPERLINK("http://x")',
    "\u202eevil.exe\u202c RTL",
    "emoji 🔑🙂 日本語 Grüße",
    "quote \" ' ` \\ & ; {{mustache}} ${x}",
]
TEN_KB = "ж<&>🔑" * 2048  # 10,240 characters, multi-byte


def api(user: User) -> tuple[Client, dict[str, str]]:
    """A token client that has also confirmed it's the user (creating tokens needs that)."""
    token = api_token_create(user=user, name="t", reauth=REAUTH_TRUSTED).raw
    client, auth = Client(), {"Authorization": f"Bearer {token}"}
    confirmed = client.post(
        "/api/v1/auth/reauth", {"password": PASSWORD}, content_type="application/json", headers=auth
    )
    assert confirmed.status_code == 200, confirmed.content
    return client, {**auth, "X-Strongroom-Reauth": confirmed.json()["reauth"]}


@pytest.mark.parametrize("value", HOSTILE)
def test_user_and_group_text_round_trips_exactly(admin, value):
    client, auth = api(admin)
    created = client.post(
        "/api/v1/users",
        {
            "username": value[:150],
            "password": PASSWORD,
            "role": "password_user",
            "full_name": value,
        },
        content_type="application/json",
        headers=auth,
    )
    assert created.status_code == 201, created.content
    fetched = client.get(f"/api/v1/users/{created.json()['id']}", headers=auth).json()
    assert fetched["username"] == value[:150]
    assert fetched["full_name"] == value

    group = client.post(
        "/api/v1/user-groups",
        {"name": value, "description": value + TEN_KB},
        content_type="application/json",
        headers=auth,
    )
    assert group.status_code == 201, group.content
    stored = UserGroup.objects.get(pk=group.json()["id"])
    assert (stored.name, stored.description) == (value, value + TEN_KB)

    token = client.post(
        "/api/v1/me/tokens",
        {"name": value, "scopes": ["read"]},
        content_type="application/json",
        headers=auth,
    )
    assert token.status_code == 201, token.content
    listed = client.get("/api/v1/me/tokens", headers=auth).json()
    assert value in [t["name"] for t in listed]


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        (
            "/api/v1/users",
            "full_name",
            {"username": "u1", "password": PASSWORD, "role": "password_user", "full_name": TEN_KB},
        ),
        (
            "/api/v1/users",
            "username",
            {"username": "nul\x00name", "password": PASSWORD, "role": "password_user"},
        ),
        (
            "/api/v1/users",
            "full_name",
            {
                "username": "u2",
                "password": PASSWORD,
                "role": "password_user",
                "full_name": "a\x00b",
            },
        ),
        ("/api/v1/user-groups", "name", {"name": TEN_KB}),
        ("/api/v1/user-groups", "description", {"name": "ok", "description": "a\x00b"}),
        ("/api/v1/me/tokens", "name", {"name": "tok\x00en", "scopes": ["read"]}),
    ],
)
def test_nul_and_oversized_values_are_refused_naming_the_field(admin, path, field, body):
    client, auth = api(admin)
    before = (User.objects.count(), UserGroup.objects.count(), AuditEvent.objects.count())
    response = client.post(path, body, content_type="application/json", headers=auth)
    assert response.status_code in (400, 422), response.content
    error = response.json()["error"]
    assert field in error["message"] or field in str(error["details"])
    assert (User.objects.count(), UserGroup.objects.count(), AuditEvent.objects.count()) == before


def _owned_account():
    owner = user_create(actor=None, username="owner", password=PASSWORD, role="password_admin")
    resource = resource_create(actor=owner, name="srv")
    account = account_create(actor=owner, resource_id=resource.pk, username="root", password="pw")
    return owner, account


@pytest.mark.parametrize("reason", [*HOSTILE, "long " * 200])
def test_retrieval_reason_is_audited_exactly_and_read_back_by_the_auditor(admin, reason):
    owner, account = _owned_account()
    auditor = user_create(actor=None, username="auditor", password=PASSWORD, role="auditor")
    client, auth = api(owner)
    got = client.post(
        f"/api/v1/accounts/{account.pk}/password",
        {"reason": reason},
        content_type="application/json",
        headers=auth,
    )
    assert got.status_code == 200
    client, auth = api(auditor)
    trail = client.get("/api/v1/audit", {"action": "password.retrieve"}, headers=auth).json()
    assert [e["reason"] for e in trail["items"]] == [reason]
    assert client.get("/api/v1/audit/verify", headers=auth).json()["ok"] is True


@pytest.mark.parametrize("reason", [TEN_KB, "why\x00"])
def test_oversized_or_nul_reason_is_refused_and_nothing_is_read_or_audited(admin, reason):
    owner, account = _owned_account()
    client, auth = api(owner)
    before = AuditEvent.objects.count()
    got = client.post(
        f"/api/v1/accounts/{account.pk}/password",
        {"reason": reason},
        content_type="application/json",
        headers=auth,
    )
    assert got.status_code == 400
    assert got.json()["error"]["details"]["field"] == "reason"
    assert "password" not in got.json()
    assert AuditEvent.objects.count() == before
