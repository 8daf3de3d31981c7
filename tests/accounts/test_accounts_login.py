"""Sign-in over the API: sessions, identical failures, throttling across nodes, CSRF."""

from __future__ import annotations

import pytest
from django.test import Client

from factories import PASSWORD, Api, error_code
from strongroom.accounts import services
from strongroom.audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def test_login_starts_a_session_and_me_describes_the_user(make_user):
    user = make_user("password_admin", username="alice", full_name="Alice A")
    api = Api()
    response = api.login("ALICE")  # usernames are case-insensitive at sign-in
    assert response.status_code == 200, response.content
    assert response.json()["username"] == "alice"
    assert "sessionid" in api.client.cookies

    me = api.get("/me")
    assert me.status_code == 200
    body = me.json()
    assert body["id"] == str(user.pk)
    assert body["role"] == "password_admin"
    assert body["full_name"] == "Alice A"
    assert "resources.create" in body["permissions"]
    assert "users.manage" not in body["permissions"]

    event = AuditEvent.objects.filter(action="auth.login").get()
    assert event.actor_id == user.pk
    assert event.client_ip == "127.0.0.1"
    assert event.outcome == "success"


def test_me_without_credentials_is_401():
    response = Api().get("/me")
    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"


def test_unknown_user_and_wrong_password_look_identical(make_user, caplog):
    make_user(username="bob")
    wrong = Api().login("bob", "Not-the-password-123")
    unknown = Api().login("nobody-here", "Not-the-password-123")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "invalid_credentials"

    reasons = {
        e.object_name: e.details["reason"]
        for e in AuditEvent.objects.filter(action="auth.login_failed")
    }
    assert reasons == {"bob": "bad_password", "nobody-here": "unknown_user"}
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert all(e.outcome == "failure" and e.actor_id is None for e in failed)
    dumped = " ".join(str(v) for e in AuditEvent.objects.values() for v in e.values())
    assert "Not-the-password-123" not in dumped
    assert "Not-the-password-123" not in caplog.text


def test_login_requires_a_json_body():
    """The CSRF exemption of the sign-in endpoint rests on this (see docs/permissions.md)."""
    response = Client().post(
        "/api/v1/auth/login",
        '{"username": "x", "password": "y"}',
        content_type="text/plain",
    )
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


def test_inactive_user_cannot_sign_in(make_user, admin):
    user = make_user(username="carol")
    services.user_deactivate(actor=admin, user=user)
    response = Api().login("carol")
    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"
    assert (
        AuditEvent.objects.filter(action="auth.login_failed").get().details["reason"] == "inactive"
    )


def test_throttled_by_username_even_with_the_right_password(make_user, settings):
    settings.LOGIN_THROTTLE_FAILURES = 3
    make_user(username="dave")
    for n in range(3):  # from three different addresses: the username alone trips it
        assert Api().login("dave", "wrong-password", ip=f"10.0.0.{n}").status_code == 401
    response = Api().login("dave", ip="10.9.9.9")
    assert response.status_code == 429
    assert error_code(response) == "throttled"
    retry_after = response.json()["error"]["details"]["retry_after"]
    assert 0 < retry_after <= settings.LOGIN_THROTTLE_WINDOW_SECONDS
    assert response["Retry-After"] == str(retry_after)
    last = AuditEvent.objects.order_by("-seq").first()
    assert (last.action, last.details["reason"]) == ("auth.login_failed", "throttled")


def test_throttled_by_address_across_usernames(make_user, settings):
    settings.LOGIN_THROTTLE_FAILURES = 3
    make_user(username="erin")
    for name in ("x1", "x2", "x3"):
        assert Api().login(name, "guess", ip="192.0.2.7").status_code == 401
    assert Api().login("erin", ip="192.0.2.7").status_code == 429
    assert Api().login("erin", ip="192.0.2.8").status_code == 200


def test_success_clears_the_username_count(make_user, settings):
    settings.LOGIN_THROTTLE_FAILURES = 2
    make_user(username="frank")
    assert Api().login("frank", "wrong", ip="10.1.0.1").status_code == 401
    assert Api().login("frank", ip="10.1.0.2").status_code == 200
    assert Api().login("frank", "wrong", ip="10.1.0.3").status_code == 401
    assert Api().login("frank", ip="10.1.0.4").status_code == 200  # one failure since success
    assert Api().login("frank", "wrong", ip="10.1.0.5").status_code == 401
    assert Api().login("frank", "wrong", ip="10.1.0.6").status_code == 401
    assert Api().login("frank", ip="10.1.0.7").status_code == 429


def test_throttle_lifts_when_the_window_passes(make_user, settings, clock):
    settings.LOGIN_THROTTLE_FAILURES = 2
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 1
    make_user(username="fay")
    assert Api().login("fay", "wrong", ip="10.2.0.1").status_code == 401
    assert Api().login("fay", "wrong", ip="10.2.0.2").status_code == 401
    throttled = Api().login("fay", ip="10.2.0.3")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["details"]["retry_after"] == 1
    clock.advance(0.5)
    assert Api().login("fay", ip="10.2.0.4").status_code == 429  # still inside the window
    clock.advance(0.6)
    assert Api().login("fay", ip="10.2.0.5").status_code == 200


def test_logout_ends_the_session(make_user):
    make_user(username="gina")
    api = Api()
    assert api.login("gina").status_code == 200
    assert api.post("/auth/logout").status_code == 204
    assert api.get("/me").status_code == 401
    assert AuditEvent.objects.filter(action="auth.logout").count() == 1


def test_session_writes_need_the_csrf_token(make_user):
    make_user(username="hank")
    api = Api(client=Client(enforce_csrf_checks=True))
    assert api.login("hank").status_code == 200  # sign-in itself is exempt (JSON only)
    token = {"name": "cli", "scopes": ["read"]}
    refused = api.post("/me/tokens", token)
    assert refused.status_code == 403
    assert api.post("/auth/logout").status_code == 403
    assert api.post("/auth/reauth", {"password": PASSWORD}).status_code == 403
    assert api.get("/me").status_code == 200  # safe methods need no token

    csrf = api.client.cookies["csrftoken"].value
    confirmed = api.post("/auth/reauth", {"password": PASSWORD}, **{"X-CSRFToken": csrf})
    assert confirmed.status_code == 200 and confirmed.json()["reauth"] is None
    created = api.post("/me/tokens", token, **{"X-CSRFToken": csrf})
    assert created.status_code == 201
    assert api.post("/auth/logout", **{"X-CSRFToken": csrf}).status_code == 204


def test_deactivation_and_password_reset_end_existing_sessions(make_user, admin):
    user = make_user(username="ivan")
    api = Api()
    assert api.login("ivan").status_code == 200
    services.user_password_reset(actor=admin, user=user)
    assert api.get("/me").status_code == 401

    other = make_user(username="judy")
    api2 = Api()
    assert api2.login("judy").status_code == 200
    services.user_deactivate(actor=admin, user=other)
    assert api2.get("/me").status_code == 401


def test_must_change_password_is_reported_and_cleared(make_user, admin):
    user = make_user(username="kate")
    reset = services.user_password_reset(actor=admin, user=user)
    api = Api()
    response = api.login("kate", reset.generated_password)
    assert response.status_code == 200
    assert response.json()["must_change_password"] is True
    changed = api.post(
        "/me/password",
        {"current_password": reset.generated_password, "new_password": "A-new-long-passphrase-9"},
    )
    assert changed.status_code == 204
    me = api.get("/me")  # this session survives the change
    assert me.status_code == 200
    assert me.json()["must_change_password"] is False
