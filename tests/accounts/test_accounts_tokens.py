"""API tokens: shown once, stored as a hash, revocable, expiring, tied to an active user."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from factories import Api, api_for, error_code
from strongroom.accounts import services
from strongroom.accounts.models import ApiToken
from strongroom.audit.models import AuditEvent

from .helpers import confirmed_api_for

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def test_token_is_shown_once_and_stored_only_as_a_hash(make_user):
    user = make_user(username="ann")
    api = confirmed_api_for(user)
    created = api.post("/me/tokens", {"name": "backup script", "scopes": ["read"]})
    assert created.status_code == 201
    body = created.json()
    raw = body["token"]
    assert raw.startswith("sr_") and len(raw) > 40
    assert body["prefix"] == raw[:9]

    row = ApiToken.objects.get(pk=body["id"])
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = " ".join(str(v) for v in ApiToken.objects.filter(pk=row.pk).values().get().values())
    assert raw not in stored

    listed = api.get("/me/tokens").json()
    assert {t["name"] for t in listed} == {"tests", "backup script"}
    assert all("token" not in t for t in listed)
    assert raw not in api.get("/me/tokens").content.decode()

    assert Api(token=raw).get("/me").json()["username"] == "ann"
    audit = AuditEvent.objects.get(action="api_token.create", object_id=body["id"])
    assert audit.details["prefix"] == raw[:9]
    dumped = " ".join(str(v) for e in AuditEvent.objects.values() for v in e.values())
    assert raw not in dumped


def test_last_used_is_recorded_at_most_once_a_minute(make_user):
    user = make_user()
    issued = services.api_token_create(user=user, name="cron", reauth=services.REAUTH_TRUSTED)
    assert issued.token.last_used_at is None
    api = Api(token=issued.raw)
    assert api.get("/me").status_code == 200
    first = ApiToken.objects.get(pk=issued.token.pk).last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=10)
    assert api.get("/me").status_code == 200
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at == first


def test_revoked_token_is_refused(make_user):
    user = make_user()
    api = api_for(user)
    issued = services.api_token_create(user=user, name="old", reauth=services.REAUTH_TRUSTED)
    assert Api(token=issued.raw).get("/me").status_code == 200
    assert api.delete(f"/me/tokens/{issued.token.pk}").status_code == 204
    refused = Api(token=issued.raw).get("/me")
    assert refused.status_code == 401
    assert error_code(refused) == "unauthenticated"
    revoked = [t for t in api.get("/me/tokens").json() if t["id"] == str(issued.token.pk)]
    assert revoked[0]["revoked_at"] is not None
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1


def test_expired_token_is_refused(make_user, clock):
    user = make_user()
    issued = services.api_token_create(
        user=user,
        name="short",
        expires_at=clock() + timedelta(seconds=1),
        reauth=services.REAUTH_TRUSTED,
    )
    api = Api(token=issued.raw)
    assert api.get("/me").status_code == 200
    clock.advance(0.999)
    assert api.get("/me").status_code == 200
    clock.advance(0.001)  # the expiry instant itself is past it
    assert api.get("/me").status_code == 401


def test_deactivated_users_tokens_stop_working_until_reactivated(make_user, admin):
    user = make_user()
    api = api_for(user)
    services.user_deactivate(actor=admin, user=user)
    assert api.get("/me").status_code == 401
    services.user_activate(actor=admin, user=user)
    assert api.get("/me").status_code == 200


def test_another_users_token_cannot_be_revoked_or_seen(make_user):
    mine, theirs = make_user(), make_user()
    their_token = services.api_token_create(
        user=theirs, name="theirs", reauth=services.REAUTH_TRUSTED
    )
    api = api_for(mine)
    assert api.delete(f"/me/tokens/{their_token.token.pk}").status_code == 404
    assert api.delete("/me/tokens/not-a-uuid").status_code == 404
    assert str(their_token.token.pk) not in api.get("/me/tokens").content.decode()
    assert Api(token=their_token.raw).get("/me").status_code == 200


def test_logout_with_a_token_leaves_the_token_working(make_user):
    api = api_for(make_user())
    assert api.post("/auth/logout").status_code == 204
    assert api.get("/me").status_code == 200
    assert not AuditEvent.objects.filter(action="auth.logout").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2999-01-01T00:00:00"}, "expires_at"),
        (
            {
                "name": "x",
                "scopes": ["read"],
                "expires_at": "2999-01-01T00:00:00Z",
                "expires_in_days": 3,
            },
            None,
        ),
    ],
)
def test_bad_token_requests_are_refused(make_user, body, field):
    api = confirmed_api_for(make_user())
    response = api.post("/me/tokens", body)
    assert response.status_code == 400
    if field:
        assert response.json()["error"]["details"]["field"] == field
    assert ApiToken.objects.count() == 1


def test_expiry_in_days(make_user):
    api = confirmed_api_for(make_user())
    body = api.post(
        "/me/tokens", {"name": "month", "scopes": ["read"], "expires_in_days": 30}
    ).json()
    expires = ApiToken.objects.get(pk=body["id"]).expires_at
    assert timedelta(days=29) < expires - timezone.now() <= timedelta(days=30)


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer sr_" + "A" * 43, "Basic abc"])
def test_unknown_credentials_are_401(header):
    response = Api().get("/me", Authorization=header)
    assert response.status_code == 401
