"""Re-authentication ("sudo mode") played as the attacker: someone who stole a signed-in
session or an API token, but not the password or the phone, tries to keep the account
(their own second factor, more tokens, a new password, an administrator resetting their
own credentials). Each attempt is refused with 403 ``reauth_required`` and changes nothing;
the owner, after confirming it's them, succeeds; the proof expires; wrong answers are
throttled like sign-in."""

from __future__ import annotations

import time

import pyotp
import pytest

from factories import PASSWORD, Api, api_for, error_code, user_make
from strongroom.accounts import services
from strongroom.accounts.models import ApiToken, LoginAttempt, RecoveryCode, User
from strongroom.audit.models import AuditEvent
from strongroom.core import secrets as sealed

from .helpers import confirmed_api_for

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "A-completely-new-passphrase-31"


def stolen_session(user: User) -> Api:
    """A session cookie lifted from the owner's browser: signed in, nothing more."""
    api = Api()
    assert api.login(user.username).status_code == 200
    return api


def assert_reauth_required(response) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "reauth_required"


def totp_on(user: User) -> tuple[str, list[str]]:
    """2FA in force for ``user`` (built through the services); returns secret and codes."""
    services.user_totp_enrol(user=user, reauth=services.REAUTH_TRUSTED)
    user.refresh_from_db()
    secret = sealed.unseal(user, "totp_secret") or ""
    codes = services.user_totp_confirm(
        user=user, code=pyotp.TOTP(secret).now(), reauth=services.REAUTH_TRUSTED
    )
    return secret, codes


@pytest.mark.parametrize("thief", ["session", "token"])
def test_a_stolen_credential_cannot_take_the_account_over(thief):
    user = user_make(username="owner")
    api = stolen_session(user) if thief == "session" else api_for(user)
    tokens_before = ApiToken.objects.count()
    changes = AuditEvent.objects.filter(
        action__in=["user.totp_enrol", "api_token.create", "user.password_change"]
    )
    changes_before = changes.count()

    assert_reauth_required(api.post("/me/totp/enrol"))
    assert_reauth_required(api.post("/me/totp/confirm", {"code": "123456"}))
    assert_reauth_required(api.post("/me/tokens", {"name": "backdoor", "scopes": ["read"]}))
    # The password form carries its own proof, the current password: a guess is refused and
    # counts towards the sign-in throttle.
    guess = api.post("/me/password", {"current_password": "guess", "new_password": NEW_PASSWORD})
    assert guess.status_code == 401 and error_code(guess) == "bad_password"

    user.refresh_from_db()
    assert user.totp_secret is None and not user.totp_enabled
    assert ApiToken.objects.count() == tokens_before
    assert user.check_password(PASSWORD)
    assert changes.filter(outcome="success").count() == changes_before
    assert LoginAttempt.objects.filter(succeeded=False).count() == 1


def test_a_stolen_session_cannot_replace_the_owners_second_factor_or_codes():
    user = user_make(username="victim")
    secret, codes = totp_on(user)
    api = stolen_session_with_code(user, secret)
    assert_reauth_required(api.post("/me/totp/recovery-codes"))
    assert_reauth_required(api.post("/me/totp/enrol"))
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 10
    # Turning 2FA off carries its own proof (password and code in the body): without them
    # it is refused as before.
    wrong = api.post("/me/totp/disable", {"password": "guess", "code": codes[0]})
    assert wrong.status_code == 401
    user.refresh_from_db()
    assert user.totp_enabled


def test_with_2fa_a_phished_password_alone_does_not_change_the_password():
    user = user_make(username="phished")
    secret, codes = totp_on(user)
    api = stolen_session_with_code(user, secret)  # the thief also learnt the password
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_reauth_required(api.post("/me/password", body))
    wrong = api.post("/me/password", {**body, "otp": "000000"})
    assert wrong.status_code == 401 and error_code(wrong) == "bad_otp"
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    # The owner, with a code from the phone (here a recovery code), changes it in one request.
    assert api.post("/me/password", {**body, "otp": codes[0]}).status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    change = AuditEvent.objects.get(action="user.password_change", outcome="success")
    assert change.details == {"second_factor": "recovery_code"}


def stolen_session_with_code(user: User, secret: str) -> Api:
    api = Api()
    later = pyotp.TOTP(secret).at(time.time() + 30)  # confirming spent the current step
    assert api.login(user.username, otp=later).status_code == 200
    return api


@pytest.mark.parametrize("via", ["session", "token"])
def test_with_the_proof_the_owner_can(via):
    user = user_make(username="able")
    if via == "session":
        api = stolen_session(user)
        confirmed = api.reauth()
        assert confirmed.status_code == 200 and confirmed.json()["reauth"] is None
    else:
        api = confirmed_api_for(user)
        assert api.reauth_secret
    enrol = api.post("/me/totp/enrol")
    assert enrol.status_code == 200
    confirm = api.post("/me/totp/confirm", {"code": pyotp.TOTP(enrol.json()["secret"]).now()})
    assert confirm.status_code == 200
    created = api.post("/me/tokens", {"name": "script", "scopes": ["read"]})
    assert created.status_code == 201
    changed = api.post("/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204
    user.refresh_from_db()
    assert user.totp_enabled and user.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(action="auth.reauth", actor=user).count() == 1


def test_the_token_proof_needs_its_secret_and_its_own_token():
    user = user_make(username="bound")
    first = confirmed_api_for(user)
    secret = first.reauth_secret
    # The token alone (proof not in the request) is not enough.
    assert_reauth_required(Api(token=first.token).post("/me/totp/enrol"))
    # A wrong secret is not either.
    assert_reauth_required(Api(token=first.token, reauth_secret="x" * 43).post("/me/totp/enrol"))
    # The secret of one token does nothing for another token of the same user.
    other = api_for(user)
    other.reauth_secret = secret
    assert_reauth_required(other.post("/me/totp/enrol"))
    # A new confirmation replaces the old secret.
    assert first.reauth().status_code == 200
    assert_reauth_required(Api(token=first.token, reauth_secret=secret).post("/me/totp/enrol"))
    assert first.post("/me/totp/enrol").status_code == 200


def test_the_proof_expires(clock, settings):
    settings.REAUTH_MAX_AGE_SECONDS = 600
    user = user_make(username="clocky")
    session, token = stolen_session(user), api_for(user)
    assert session.reauth().status_code == 200
    assert token.reauth().status_code == 200
    clock.advance(599)
    assert session.post("/me/tokens", {"name": "a", "scopes": ["read"]}).status_code == 201
    assert token.post("/me/tokens", {"name": "b", "scopes": ["read"]}).status_code == 201
    clock.advance(2)
    assert_reauth_required(session.post("/me/tokens", {"name": "c", "scopes": ["read"]}))
    assert_reauth_required(token.post("/me/tokens", {"name": "d", "scopes": ["read"]}))
    assert set(ApiToken.objects.filter(user=user).values_list("name", flat=True)) == {
        "tests",
        "a",
        "b",
    }


def test_reauth_is_fresh_reads_the_injected_clock(clock):
    user = user_make()
    proof = services.Reauth(user_id=user.pk, at=clock())
    assert services.reauth_is_fresh(user=user, reauth=proof)
    clock.advance(services.reauth_max_age().total_seconds() + 1)
    assert not services.reauth_is_fresh(user=user, reauth=proof)
    mine = services.Reauth(user_id=user.pk, at=clock())
    assert not services.reauth_is_fresh(user=user_make(), reauth=mine)  # someone else's proof
    assert not services.reauth_is_fresh(user=user, reauth=None)


def test_a_second_factor_is_part_of_the_proof():
    user = user_make(username="twofa")
    secret, codes = totp_on(user)
    api = api_for(user)
    password_only = api.reauth()
    assert password_only.status_code == 401 and error_code(password_only) == "bad_otp"
    assert api.reauth(otp=codes[0]).status_code == 200  # a recovery code works once
    replay = api_for(user).reauth(otp=codes[0])
    assert replay.status_code == 401
    assert api.post("/me/totp/recovery-codes").status_code == 200
    failures = AuditEvent.objects.filter(action="auth.reauth", outcome="failure")
    assert sorted(e.details["reason"] for e in failures) == ["bad_otp", "bad_otp"]
    dumped = " ".join(str(v) for e in AuditEvent.objects.values() for v in e.values())
    assert codes[0] not in dumped and secret not in dumped


def test_wrong_reauth_attempts_are_throttled_like_sign_in(settings):
    settings.LOGIN_THROTTLE_FAILURES = 3
    user = user_make(username="guessed")
    thief = stolen_session(user)
    for guess in ("password1", "letmein", "hunter2"):
        wrong = thief.reauth(guess, ip="10.9.0.1")
        assert wrong.status_code == 401 and error_code(wrong) == "bad_password"
    throttled = thief.reauth(PASSWORD, ip="10.9.0.2")  # even the right one, from elsewhere
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert error_code(throttled) == "throttled"
    # The same counter guards sign-in: the guesses did not come for free.
    assert Api().login("guessed", ip="10.9.0.3").status_code == 429
    assert AuditEvent.objects.filter(action="auth.reauth", outcome="failure").count() == 3


@pytest.mark.parametrize(
    "action, body",
    [
        ("reset-password", {"password": "Someone-else-chose-this-1"}),
        ("reset-totp", None),
        ("deactivate", None),
    ],
)
def test_an_administrator_acting_on_their_own_account_must_confirm(action, body):
    admin = user_make("admin", username="boss")
    user_make("admin", username="other-boss")  # so the last-admin rule is not what refuses
    totp_on(admin)
    api = api_for(admin)
    path = f"/users/{admin.pk}/{action}"
    response = api.post(path, body) if body else api.post(path)
    if action == "deactivate":
        assert response.status_code == 409  # never allowed on oneself, proof or not
    else:
        assert_reauth_required(response)
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD) and admin.totp_enabled and admin.is_active
    assert not admin.must_change_password


def test_an_administrator_changes_their_own_role_only_after_confirming():
    admin = user_make("admin", username="chief")
    user_make("admin", username="deputy")
    api = api_for(admin)
    assert_reauth_required(api.patch(f"/users/{admin.pk}", {"role": "auditor"}))
    assert_reauth_required(api.patch(f"/users/{admin.pk}", {"email": "me@example.test"}))
    admin.refresh_from_db()
    assert admin.role == "admin" and admin.email == ""
    assert api.reauth().status_code == 200
    reset = api.post(f"/users/{admin.pk}/reset-totp")
    assert reset.status_code == 200
    assert api.patch(f"/users/{admin.pk}", {"role": "auditor"}).status_code == 200


def test_on_other_accounts_the_administrators_role_is_enough():
    admin = user_make("admin", username="ops")
    user = user_make(username="staff")
    api = api_for(admin)
    assert api.post(f"/users/{user.pk}/reset-password").status_code == 200
    assert api.post(f"/users/{user.pk}/reset-totp").status_code == 200
    assert api.patch(f"/users/{user.pk}", {"role": "auditor"}).status_code == 200
