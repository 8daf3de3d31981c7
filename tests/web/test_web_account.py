""" "My account" pages: password change, two-factor enrolment with QR code, recovery codes,
turning 2FA off, API tokens. Secrets are shown once, in the response that made them."""

from __future__ import annotations

import re
import time
from urllib.parse import unquote

import pyotp
import pytest
from django.urls import reverse

from factories import PASSWORD, user_make
from strongroom.accounts import services
from strongroom.accounts.models import ApiToken, User
from strongroom.audit.models import AuditEvent
from strongroom.core import secrets as sealed

from .conftest import client_for, confirm_its_me
from .test_web_pages import assert_secure_page

pytestmark = pytest.mark.django_db


def _secret_from_page(html: str) -> str:
    match = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert match, "no secret on the page"
    return match.group(1).replace(" ", "")


def _later_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + totp.interval)


def test_password_change_keeps_this_session_and_audits():
    user = user_make()
    client = client_for(user, confirmed=True)
    other = client_for(user)
    url = reverse("accounts:password_change")
    mismatch = client.post(
        url,
        {
            "current_password": PASSWORD,
            "new_password": "Another-long-passphrase-42",
            "new_password_again": "Another-long-passphrase-43",
        },
    )
    assert b"The two new passwords do not match." in mismatch.content
    weak = client.post(
        url, {"current_password": PASSWORD, "new_password": "1234", "new_password_again": "1234"}
    )
    assert b"at least 12 characters" in weak.content
    done = client.post(
        url,
        {
            "current_password": PASSWORD,
            "new_password": "Another-long-passphrase-42",
            "new_password_again": "Another-long-passphrase-42",
        },
    )
    assert done["Location"] == reverse("accounts:account")
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302  # the other session ended
    user.refresh_from_db()
    assert user.check_password("Another-long-passphrase-42")
    assert AuditEvent.objects.filter(action="user.password_change", outcome="success").count() == 1


def test_two_factor_enrolment_shows_secret_uri_and_qr_then_recovery_codes_once():
    user = user_make()
    client = client_for(user, confirmed=True)
    page = reverse("accounts:two_factor")
    assert b"Set up two-factor sign-in" in client.get(page).content
    assert client.post(reverse("accounts:two_factor_start"))["Location"] == page

    enrol = client.get(page)
    html = enrol.content.decode()
    assert_secure_page(enrol)
    secret = _secret_from_page(html)
    assert f"otpauth://totp/Strongroom:{user.username}?secret={secret}" in html.replace(
        "&amp;", "&"
    )
    qr = re.search(r'<img class="qr" src="data:image/svg\+xml;charset=utf-8,([^"]+)"', html)
    assert qr and "<svg" in unquote(qr.group(1)) and "<path" in unquote(qr.group(1))
    assert client.get(page).content.decode().count(secret[:4]) >= 1  # reload shows it again

    wrong = client.post(reverse("accounts:two_factor_confirm"), {"code": "000000"})
    assert b"The one-time code is not correct." in wrong.content
    assert secret[:4] in wrong.content.decode()  # still enrolling with the same key

    done = client.post(reverse("accounts:two_factor_confirm"), {"code": _later_code(secret)})
    codes = re.findall(r"<li><code>([a-z2-7-]{19})</code></li>", done.content.decode())
    assert len(codes) == 10
    assert_secure_page(done)
    user.refresh_from_db()
    assert user.totp_enabled
    after = client.get(page).content.decode()
    assert secret[:4] not in after and codes[0] not in after
    assert "10 unused recovery codes left" in after


def test_recovery_codes_regenerate_and_two_factor_off():
    user = user_make()
    services.user_totp_enrol(user=user, reauth=services.REAUTH_TRUSTED)
    user.refresh_from_db()
    secret = sealed.unseal(user, "totp_secret") or ""
    old_codes = services.user_totp_confirm(
        user=user, code=pyotp.TOTP(secret).now(), reauth=services.REAUTH_TRUSTED
    )
    client = client_for(user)

    asked = client.post(reverse("accounts:recovery_codes_regenerate"))
    assert asked["Location"].startswith(reverse("accounts:reauth"))
    confirm_its_me(client, otp=old_codes[0])
    new = client.post(reverse("accounts:recovery_codes_regenerate"))
    new_codes = re.findall(r"<li><code>([a-z2-7-]{19})</code></li>", new.content.decode())
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)

    wrong_password = client.post(
        reverse("accounts:two_factor_disable"), {"password": "nope", "code": new_codes[0]}
    )
    assert b"The password is not correct." in wrong_password.content
    off = client.post(
        reverse("accounts:two_factor_disable"), {"password": PASSWORD, "code": new_codes[1]}
    )
    assert off["Location"] == reverse("accounts:two_factor")
    user.refresh_from_db()
    assert not user.totp_enabled and user.totp_secret is None


def test_api_token_shown_once_listed_and_revoked():
    user = user_make()
    client = client_for(user, confirmed=True)
    created = client.post(
        reverse("accounts:tokens"),
        {"name": "<b>backup</b>", "expires_in_days": "never", "scopes": ["read", "retrieve"]},
    )
    html = created.content.decode()
    raw = re.search(r'id="new-token">(sr_[A-Za-z0-9_-]+)<', html).group(1)
    assert_secure_page(created)
    assert "&lt;b&gt;backup&lt;/b&gt;" in html and "<b>backup</b>" not in html
    assert services.api_token_authenticate(raw_token=raw) == user
    token = ApiToken.objects.get(user=user)
    assert token.expires_at is None
    assert token.scopes == ["read", "retrieve"]

    listing = client.get(reverse("accounts:tokens")).content.decode()
    assert raw not in listing and token.prefix in listing and "Active" in listing
    revoked = client.post(reverse("accounts:token_revoke", args=[token.pk]), follow=True)
    assert "was revoked" in revoked.content.decode()
    assert services.api_token_authenticate(raw_token=raw) is None


def test_token_with_expiry_and_invalid_name():
    user = user_make()
    client = client_for(user, confirmed=True)
    client.post(
        reverse("accounts:tokens"), {"name": "ci", "expires_in_days": "30", "scopes": ["read"]}
    )
    token = ApiToken.objects.get(user=user)
    assert 29 <= (token.expires_at - token.created_at).days <= 30
    empty = client.post(
        reverse("accounts:tokens"), {"name": "   ", "expires_in_days": "30", "scopes": ["read"]}
    )
    assert b"This field is required." in empty.content
    assert ApiToken.objects.filter(user=user).count() == 1


def test_nobody_revokes_another_users_token():
    owner = user_make()
    token = services.api_token_create(user=owner, name="mine", reauth=services.REAUTH_TRUSTED).token
    response = client_for(user_make()).post(reverse("accounts:token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_account_overview_escapes_and_summarises():
    user = user_make(full_name="<img src=x onerror=alert(1)>")
    services.api_token_create(user=user, name="a", reauth=services.REAUTH_TRUSTED)
    html = client_for(user).get(reverse("accounts:account")).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "1 active token for scripts" in html
    assert User.objects.get(pk=user.pk).full_name.startswith("<img")


def test_qr_code_is_an_image_not_markup():
    user = user_make(username="o'brien&co")
    client = client_for(user, confirmed=True)
    client.post(reverse("accounts:two_factor_start"))
    html = client.get(reverse("accounts:two_factor")).content.decode()
    main = html.split('<main id="main"')[1]
    assert "<svg" not in main  # the QR code's SVG travels as an <img> data URI
    src = re.search(r'<img class="qr" src="([^"]+)"', html).group(1)
    assert src.startswith("data:image/svg+xml;charset=utf-8,%3Csvg")
    assert "o'brien" not in html.split('class="qr"')[1].split(">")[0]  # escaped in the attribute


def test_two_factor_forms_after_the_state_changed_elsewhere():
    user = user_make()
    client = client_for(user, confirmed=True)
    for name, data in (
        ("accounts:two_factor_confirm", {"code": "123456"}),  # never started
        ("accounts:recovery_codes_regenerate", {}),  # not on
        ("accounts:two_factor_disable", {"password": PASSWORD, "code": "123456"}),
    ):
        response = client.post(reverse(name), data, follow=True)
        assert response.redirect_chain == [(reverse("accounts:two_factor"), 302)], name
        assert "changed in the meantime" in response.content.decode()
    user.refresh_from_db()
    assert not user.totp_enabled
