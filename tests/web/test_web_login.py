"""Sign-in through the web pages: the password step, the one-time code step (its state kept
on the server), throttling with the wait time, safe redirects, sign-out, the inactivity
timeout and the forced password change."""

from __future__ import annotations

import time

import pyotp
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from factories import PASSWORD, user_make
from strongroom.accounts import services
from strongroom.accounts.views.login import PENDING_KEY
from strongroom.audit.models import AuditEvent
from strongroom.core import secrets as sealed
from strongroom.web import session as web_session

from .conftest import client_for

pytestmark = pytest.mark.django_db

LOGIN = "/login/"
CODE = "/login/code/"


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra: str):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


def with_totp(user) -> pyotp.TOTP:
    services.user_totp_enrol(user=user, reauth=services.REAUTH_TRUSTED)
    user.refresh_from_db()
    totp = pyotp.TOTP(sealed.unseal(user, "totp_secret"))
    services.user_totp_confirm(user=user, code=totp.now(), reauth=services.REAUTH_TRUSTED)
    return totp


def next_code(totp: pyotp.TOTP) -> str:
    # The current step was used by the enrolment; the next one is accepted too.
    return totp.at(time.time() + totp.interval)


def test_password_sign_in_starts_a_session_and_redirects_home():
    user = user_make()
    client = Client()
    response = sign_in(client, user.username)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert response.cookies[web_session.SIGNED_IN_COOKIE]["httponly"]
    assert AuditEvent.objects.filter(action="auth.login", actor_id=user.pk).count() == 1


def test_wrong_password_shows_one_message_for_every_failure():
    user = user_make()
    for username, password in ((user.username, "wrong-password"), ("nobody", PASSWORD)):
        response = sign_in(Client(), username, password)
        assert response.status_code == 200
        assert b"The username or password is not correct." in response.content
        assert b"nobody" not in response.content or username == "nobody"


def test_sign_in_follows_only_local_next():
    user = user_make()
    assert sign_in(Client(), user.username, next="/account/tokens/")["Location"] == (
        "/account/tokens/"
    )
    for hostile in ("https://evil.test/", "//evil.test/", "/\\evil.test", "javascript:alert(1)"):
        assert sign_in(Client(), user.username, next=hostile)["Location"] == "/"


def test_throttled_sign_in_says_how_long_to_wait(settings):
    settings.LOGIN_THROTTLE_FAILURES = 3
    user = user_make()
    for _ in range(3):
        sign_in(Client(), user.username, "wrong-password")
    response = sign_in(Client(), user.username)  # even the right password waits
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed attempts" in text
    assert "Try again in 15 minutes." in text


def test_two_factor_sign_in_keeps_the_half_done_state_on_the_server():
    user = user_make()
    totp = with_totp(user)
    client = Client()
    response = sign_in(client, user.username)
    assert response.status_code == 302 and response["Location"] == CODE
    assert client.get("/").status_code == 302  # not signed in yet

    page = client.get(CODE)
    html = page.content.decode()
    assert page.status_code == 200 and user.username in html
    assert PASSWORD not in html and 'type="hidden" name="password"' not in html
    # The session row holds the pending state, the password only sealed.
    stored = Session.objects.get(session_key=client.session.session_key)
    assert PASSWORD not in stored.session_data
    decoded = stored.get_decoded()[PENDING_KEY]
    assert decoded["username"] == user.username and PASSWORD not in str(decoded)

    wrong = client.post(CODE, {"code": "000000"})
    assert b"That code is not correct" in wrong.content
    done = client.post(CODE, {"code": next_code(totp)})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/").status_code == 200
    assert PENDING_KEY not in client.session
    login = AuditEvent.objects.filter(action="auth.login", actor_id=user.pk).get()
    assert login.details == {"second_factor": "totp"}


def test_a_recovery_code_signs_in_once():
    user = user_make()
    services.user_totp_enrol(user=user, reauth=services.REAUTH_TRUSTED)
    user.refresh_from_db()
    totp = pyotp.TOTP(sealed.unseal(user, "totp_secret"))
    codes = services.user_totp_confirm(user=user, code=totp.now(), reauth=services.REAUTH_TRUSTED)
    first = Client()
    sign_in(first, user.username)
    assert first.post(CODE, {"code": codes[0].upper()})["Location"] == "/"
    again = Client()
    sign_in(again, user.username)
    assert b"not correct" in again.post(CODE, {"code": codes[0]}).content


def test_the_code_step_expires_and_cannot_be_reached_directly(monkeypatch):
    assert Client().get(CODE)["Location"] == LOGIN
    user = user_make()
    with_totp(user)
    client = Client()
    sign_in(client, user.username)
    session = client.session
    session[PENDING_KEY] = {**session[PENDING_KEY], "expires": int(time.time()) - 1}
    session.save()
    response = client.get(CODE, follow=True)
    assert response.redirect_chain == [(LOGIN, 302)]
    assert b"took too long" in response.content


def test_a_tampered_pending_state_is_refused():
    user = user_make()
    with_totp(user)
    client = Client()
    sign_in(client, user.username)
    session = client.session
    # Moving the sealed password to another username breaks its binding.
    session[PENDING_KEY] = {**session[PENDING_KEY], "username": "root-admin"}
    session.save()
    assert client.get(CODE)["Location"] == LOGIN


def test_sign_out_needs_a_post_and_ends_the_session():
    user = user_make()
    client = Client()
    sign_in(client, user.username)
    confirm = client.get("/logout/")
    assert confirm.status_code == 200 and b"Sign out?" in confirm.content
    assert client.get("/").status_code == 200  # GET changed nothing
    response = client.post("/logout/", follow=True)
    assert response.redirect_chain[-1][0] == LOGIN
    assert b"You have signed out." in response.content
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor_id=user.pk).count() == 1
    # Signing out clears the marker, so the sign-in page does not claim a timeout.
    assert b"inactivity" not in client.get(LOGIN).content


def test_inactivity_ends_the_session_with_a_message():
    user = user_make()
    client = Client()
    sign_in(client, user.username)
    assert client.get("/account/").status_code == 200
    session = client.session
    session[web_session.LAST_ACTIVITY_KEY] = int(time.time()) - settings.SESSION_COOKIE_AGE - 5
    session.save()
    response = client.get("/account/", follow=True)
    assert response.redirect_chain == [("/login/?next=/account/", 302)]
    minutes = settings.SESSION_COOKIE_AGE // 60
    assert f"You were signed out after {minutes} minutes of inactivity".encode() in (
        response.content
    )


def test_polling_is_not_activity():
    user = user_make()
    client = Client()
    sign_in(client, user.username)
    session = client.session
    idle_since = int(time.time()) - 60
    session[web_session.LAST_ACTIVITY_KEY] = idle_since
    session.save()
    assert client.get(reverse("notifications:feed")).json()["signed_in"] is True
    assert client.session[web_session.LAST_ACTIVITY_KEY] == idle_since
    client.get("/account/")
    assert client.session[web_session.LAST_ACTIVITY_KEY] > idle_since


def test_feed_poll_after_the_timeout_reports_signed_out():
    user = user_make()
    client = Client()
    sign_in(client, user.username)
    session = client.session
    session[web_session.LAST_ACTIVITY_KEY] = int(time.time()) - settings.SESSION_COOKIE_AGE - 1
    session.save()
    assert client.get(reverse("notifications:feed")).json()["signed_in"] is False
    assert b"of inactivity" in client.get(LOGIN).content


def test_an_expired_cookie_still_explains_the_sign_out():
    user = user_make()
    client = Client()
    sign_in(client, user.username)
    del client.cookies[settings.SESSION_COOKIE_NAME]  # the browser dropped it after the timeout
    response = client.get("/", follow=True)
    assert b"of inactivity" in response.content
    assert client.cookies[web_session.SIGNED_IN_COOKIE].value == ""  # said once


def test_a_reset_password_must_be_changed_first():
    admin = user_make("admin")
    user = user_make()
    reset = services.user_password_reset(actor=admin, user=user)
    client = Client()
    sign_in(client, user.username, reset.generated_password or "")
    for url in ("/", "/account/tokens/", "/admin/users/"):
        response = client.get(url)
        assert response["Location"] == reverse("accounts:password_change"), url
    page = client.get(reverse("accounts:password_change"))
    assert b"Choose a new password" in page.content
    changed = client.post(
        reverse("accounts:password_change"),
        {
            "current_password": reset.generated_password,
            "new_password": "A-brand-new-passphrase-99",
            "new_password_again": "A-brand-new-passphrase-99",
        },
    )
    assert changed["Location"] == reverse("accounts:account")
    assert client.get("/").status_code == 200


def test_a_deactivated_user_is_signed_out_at_once():
    admin = user_make("admin")
    user = user_make()
    client = client_for(user)
    assert client.get("/").status_code == 200
    services.user_deactivate(actor=admin, user=user)
    assert client.get("/")["Location"] == "/login/?next=/"
