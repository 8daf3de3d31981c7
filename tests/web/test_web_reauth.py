""" "Confirm it's you" in the web UI, played as someone holding a stolen session cookie:
every account-takeover form sends them to the confirm page and changes nothing; the owner
confirms and comes back to the page; ``next`` never leaves the site; wrong passwords are
throttled like sign-in; the proof lasts REAUTH_MAX_AGE_SECONDS of the (injected) clock."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.urls import reverse

from factories import PASSWORD, user_make
from strongroom.accounts import services
from strongroom.accounts.models import ApiToken, User
from strongroom.core import secrets as sealed

from .conftest import client_for, confirm_its_me

pytestmark = pytest.mark.django_db

CONFIRM = reverse("accounts:reauth")


def sent_to_confirm(response, back_to: str) -> None:
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == CONFIRM
    assert parse_qs(location.query)["next"] == [back_to]


def test_a_stolen_session_is_sent_to_confirm_and_changes_nothing():
    user = user_make()
    thief = client_for(user)
    tokens = reverse("accounts:tokens")
    two_factor = reverse("accounts:two_factor")
    password = reverse("accounts:password_change")

    sent_to_confirm(
        thief.post(tokens, {"name": "backdoor", "expires_in_days": "never", "scopes": ["read"]}),
        tokens,
    )
    sent_to_confirm(thief.post(reverse("accounts:two_factor_start")), two_factor)
    sent_to_confirm(thief.post(reverse("accounts:two_factor_confirm"), {"code": "1"}), two_factor)
    # The password form is its own proof: the current password (and a code, with 2FA).
    guessed = thief.post(
        password,
        {
            "current_password": "guess",
            "new_password": "Thief-chosen-passphrase-1",
            "new_password_again": "Thief-chosen-passphrase-1",
        },
    )
    assert b"current password is not correct" in guessed.content
    user.refresh_from_db()
    assert not ApiToken.objects.filter(user=user).exists()
    assert user.totp_secret is None and user.check_password(PASSWORD)

    # The owner confirms, comes back to the page, and the same form works.
    page = thief.post(CONFIRM, {"password": PASSWORD, "next": tokens}, follow=True)
    assert page.redirect_chain == [(tokens, 302)]
    created = thief.post(
        tokens, {"name": "mine", "expires_in_days": "7", "scopes": ["read", "write"]}
    )
    assert created.status_code == 200 and b"sr_" in created.content
    assert ApiToken.objects.get(user=user).scopes == ["read", "write"]


def test_an_administrators_own_account_needs_the_proof_others_do_not():
    admin = user_make("admin", username="chief")
    user_make("admin", username="deputy")
    services.user_totp_enrol(user=admin, reauth=services.REAUTH_TRUSTED)
    admin.refresh_from_db()
    secret = sealed.unseal(admin, "totp_secret") or ""
    services.user_totp_confirm(
        user=admin, code=pyotp.TOTP(secret).now(), reauth=services.REAUTH_TRUSTED
    )
    thief = client_for(admin)
    own = reverse("accounts:user_detail", args=[admin.pk])
    for name in ("accounts:user_password_reset", "accounts:user_totp_reset"):
        sent_to_confirm(thief.post(reverse(name, args=[admin.pk])), own)
    sent_to_confirm(thief.post(own, {"full_name": "", "email": "", "role": "auditor"}), own)
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD) and admin.totp_enabled and admin.role == "admin"
    assert not admin.must_change_password

    other = user_make()
    reset = thief.post(reverse("accounts:user_password_reset", args=[other.pk]))
    assert reset.status_code == 200  # someone else's account: the role is enough

    # The confirm page asks for the code too; the password alone is not enough.
    form = thief.get(CONFIRM).content.decode()
    assert 'name="otp"' in form
    refused = thief.post(CONFIRM, {"password": PASSWORD, "next": own})
    assert refused.status_code == 200 and "That code is not correct" in refused.content.decode()
    confirm_its_me(thief, otp=pyotp.TOTP(secret).at(time.time() + 30))
    thief.post(reverse("accounts:user_totp_reset", args=[admin.pk]))
    admin.refresh_from_db()
    assert not admin.totp_enabled


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example/account/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "account/tokens/",
    ],
)
def test_confirm_never_returns_off_site(next_url):
    client = client_for(user_make())
    response = client.post(CONFIRM, {"password": PASSWORD, "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:account")
    assert 'value="/account/"' in client.get(CONFIRM, {"next": next_url}).content.decode()


def test_wrong_passwords_on_the_confirm_page_are_throttled(settings):
    settings.LOGIN_THROTTLE_FAILURES = 2
    user = user_make()
    thief = client_for(user)
    for guess in ("guess-one", "guess-two"):
        wrong = thief.post(CONFIRM, {"password": guess, "next": "/account/"})
        assert wrong.status_code == 200 and b"That password is not correct." in wrong.content
    throttled = thief.post(CONFIRM, {"password": PASSWORD, "next": "/account/"})
    assert throttled.status_code == 429
    assert b"Too many failed attempts" in throttled.content
    sent_to_confirm(
        thief.post(reverse("accounts:two_factor_start")), reverse("accounts:two_factor")
    )


def test_the_confirmation_lasts_the_configured_minutes(clock, settings):
    settings.REAUTH_MAX_AGE_SECONDS = 300
    user = user_make()
    client = client_for(user, confirmed=True)
    two_factor = reverse("accounts:two_factor")
    clock.advance(299)
    started = client.post(reverse("accounts:two_factor_start"))
    assert started["Location"] == two_factor
    user.refresh_from_db()
    first_secret = bytes(user.totp_secret)
    clock.advance(2)
    sent_to_confirm(client.post(reverse("accounts:two_factor_start")), two_factor)
    user.refresh_from_db()
    assert bytes(user.totp_secret) == first_secret  # the late attempt changed nothing


def test_with_2fa_the_password_form_asks_for_a_code():
    user = user_make()
    services.user_totp_enrol(user=user, reauth=services.REAUTH_TRUSTED)
    user.refresh_from_db()
    secret = sealed.unseal(user, "totp_secret") or ""
    services.user_totp_confirm(
        user=user, code=pyotp.TOTP(secret).now(), reauth=services.REAUTH_TRUSTED
    )
    client = client_for(user)
    url = reverse("accounts:password_change")
    assert 'name="otp"' in client.get(url).content.decode()
    form = {
        "current_password": PASSWORD,
        "new_password": "A-new-long-passphrase-77",
        "new_password_again": "A-new-long-passphrase-77",
    }
    missing = client.post(url, form)
    assert b"Enter a code from your authenticator app" in missing.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    done = client.post(url, {**form, "otp": pyotp.TOTP(secret).at(time.time() + 30)})
    assert done["Location"] == reverse("accounts:account")
    assert User.objects.get(pk=user.pk).check_password("A-new-long-passphrase-77")
