"""How the API authenticates: bearer tokens are judged alone, and a user who must change
their password reaches nothing else until they do."""

from __future__ import annotations

import pytest
from django.test import Client

from factories import PASSWORD
from strongroom.accounts.services import (
    REAUTH_TRUSTED,
    api_token_create,
    api_token_revoke,
    user_create,
    user_password_reset,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(admin):
    return user_create(actor=None, username="tech", password=PASSWORD, role="password_user")


def test_bad_bearer_token_is_401_even_with_a_valid_session(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    issued = api_token_create(user=user, name="script", reauth=REAUTH_TRUSTED)
    api_token_revoke(user=user, token=issued.token)
    for method in ("get", "post"):
        response = getattr(client, method)(
            "/api/v1/me", headers={"Authorization": f"Bearer {issued.raw}"}
        )
        assert response.status_code in (401, 405), response.content
        if response.status_code == 401:
            body = response.json()
            assert body["error"]["code"] == "unauthenticated"
            assert "revoked" in body["error"]["message"]
    response = client.post(
        "/api/v1/user-groups",
        {"name": "x"},
        content_type="application/json",
        headers={"Authorization": "Bearer sr_not-a-real-token"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_no_credentials_is_401_in_the_common_error_shape():
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_must_change_password_blocks_everything_but_me_and_password_change(admin, user):
    user_password_reset(actor=admin, user=user, new_password="Temporary-password-42x")
    issued = api_token_create(user=user, name="script", reauth=REAUTH_TRUSTED)
    auth = {"Authorization": f"Bearer {issued.raw}"}
    client = Client()

    blocked = client.get("/api/v1/resources", headers=auth)
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "must_change_password"
    assert client.get("/api/v1/me", headers=auth).status_code == 200

    # Confirming it's you stays reachable: a password change needs it.
    confirmed = client.post(
        "/api/v1/auth/reauth",
        {"password": "Temporary-password-42x"},
        content_type="application/json",
        headers=auth,
    )
    assert confirmed.status_code == 200, confirmed.content
    changed = client.post(
        "/api/v1/me/password",
        {"current_password": "Temporary-password-42x", "new_password": "Brand-new-passphrase-99"},
        content_type="application/json",
        headers={**auth, "X-Strongroom-Reauth": confirmed.json()["reauth"]},
    )
    assert changed.status_code == 204, changed.content
    assert client.get("/api/v1/resources", headers=auth).status_code == 200
