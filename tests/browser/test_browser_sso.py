"""Single sign-on in Chromium: the "Sign in with …" button, the real OpenID Provider's own
login page (django-oauth-toolkit, tests/identity/op/), back to Strongroom signed in; and
Strongroom's own one-time code step on top when the provider is not trusted for MFA."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.identity import op_server
from tests.identity.op_server import CLIENT_SECRET, PASSWORD, OpenIdProvider

from strongroom.accounts import services as account_services
from strongroom.accounts.models import User
from strongroom.sso import services

from .conftest import totp_code

pytestmark = pytest.mark.browser

openid_provider = op_server.openid_provider  # the real OpenID Provider (its own process)

CLIENT_ID = "strongroom-browser"


@pytest.fixture
def provider(openid_provider: OpenIdProvider, server: str, settings: Any) -> Any:
    settings.PUBLIC_URL = server
    settings.SSO_INTERNAL_ALLOWED = [openid_provider.host_port]
    client_id = f"{CLIENT_ID}-{uuid.uuid4().hex[:8]}"
    openid_provider.add_client(client_id, f"{server}/sso/corp/callback/")
    admin = account_services.user_create(
        actor=None, username="root", password="Break-glass-admin-77", role="admin"
    )
    return services.provider_create(
        actor=admin,
        slug="corp",
        client_secret=CLIENT_SECRET,
        name="Corp Login",
        issuer=openid_provider.issuer,
        client_id=client_id,
        group_claim="groups",
        required_group="strongroom-users",
        jit=True,
    )


def _through_the_provider(page: Any, op: OpenIdProvider, username: str) -> None:
    page.goto("/login/")
    page.get_by_role("button", name="Sign in with Corp Login").click()
    page.wait_for_url(re.compile(rf"^http://127\.0\.0\.1:{op.port}/accounts/login/"))
    expect(page.get_by_role("heading", name="Test OpenID Provider")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("#op-signin").click()


def test_sign_in_through_the_provider_login_page(
    desktop_page: Any,
    provider: Any,
    openid_provider: OpenIdProvider,
    server: str,
) -> None:
    page = desktop_page
    _through_the_provider(page, openid_provider, "alice")
    page.wait_for_url(f"{server}/")
    assert User.objects.get(username="alice").is_active
    expect(page.get_by_text("alice").first).to_be_visible()


def test_own_totp_step_after_the_provider(
    desktop_page: Any,
    provider: Any,
    openid_provider: OpenIdProvider,
    server: str,
) -> None:
    bob = account_services.user_create(actor=None, username="bob", password="Bob-local-pass-99")
    enrolment = account_services.user_totp_enrol(user=bob, reauth=account_services.REAUTH_TRUSTED)
    secret = enrolment.secret
    account_services.user_totp_confirm(
        user=bob, code=totp_code(secret), reauth=account_services.REAUTH_TRUSTED
    )
    page = desktop_page
    _through_the_provider(page, openid_provider, "bob")
    page.wait_for_url(f"{server}/sso/code/")
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{server}/")
    expect(page.get_by_text("bob").first).to_be_visible()
