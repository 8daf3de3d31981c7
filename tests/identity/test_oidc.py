"""OpenID Connect sign-in against a real OpenID Provider (django-oauth-toolkit, its own
process and keys on 127.0.0.1): the whole authorization code flow with PKCE, and every
refusal (state, nonce, audience, expiry, signature, issuer, domain, group, JIT, SSRF)."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from joserfc import jwt
from joserfc.jwk import RSAKey

from factories import api_for, error_code, user_make
from strongroom.accounts import services as account_services
from strongroom.accounts.models import User
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import AuthenticationFailed, ValidationFailed
from strongroom.sso import services
from strongroom.sso.models import OidcIdentity, OidcProvider

from .op_server import CLIENT_ID, CLIENT_SECRET, PASSWORD, OpenIdProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> User:
    return user_make("admin")


def _provider(admin: User, op: OpenIdProvider, **values: Any) -> OidcProvider:
    fields: dict[str, Any] = {
        "name": "Test IdP",
        "issuer": op.issuer,
        "client_id": CLIENT_ID,
        "scopes": "openid email profile",
        "group_claim": "groups",
    }
    fields.update(values)
    return services.provider_create(actor=admin, slug="op", client_secret=CLIENT_SECRET, **fields)


def _op_login(authorize_url: str, username: str) -> str:
    """Sign in at the provider's own login page, as a browser would; the callback URL
    (on Strongroom) the provider redirects to."""
    s = requests.Session()
    s.trust_env = False
    page = s.get(authorize_url, timeout=10)
    assert page.status_code == 200 and "Test OpenID Provider" in page.text, page.text[:300]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    nxt = parse_qs(urlsplit(page.url).query)["next"][0]
    posted = s.post(
        page.url,
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": PASSWORD,
            "next": nxt,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 302, posted.text[:500]
    authorized = s.get(
        urljoin(page.url, posted.headers["Location"]), allow_redirects=False, timeout=10
    )
    assert authorized.status_code == 302, authorized.text[:500]
    return str(authorized.headers["Location"])


def _start(client: Client) -> str:
    response = client.get("/sso/op/start/")
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def _callback_path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/sso/op/callback/"
    return f"{parts.path}?{parts.query}"


def _sign_in(client: Client, username: str) -> Any:
    return client.get(_callback_path(_op_login(_start(client), username)))


def _signed_in_as(client: Client) -> str | None:
    me = client.get("/api/v1/me")
    return me.json()["username"] if me.status_code == 200 else None


def test_login_page_shows_the_provider_button(op_settings: OpenIdProvider, admin: User) -> None:
    _provider(admin, op_settings)
    page = Client().get("/login/")
    assert b"Sign in with Test IdP" in page.content
    assert b'href="/sso/op/start/?next=/"' in page.content


def test_jit_sign_in_creates_the_user_with_group_and_role(
    op_settings: OpenIdProvider, admin: User
) -> None:
    group = account_services.user_group_create(actor=admin, name="Vault admins")
    _provider(
        admin,
        op_settings,
        jit=True,
        required_group="strongroom-users",
        group_map={"vault-admins": "Vault admins"},
        role_map={"vault-admins": "password_admin"},
    )
    client = Client()
    response = _sign_in(client, "alice")
    assert response.status_code == 302 and response["Location"] == "/"
    assert _signed_in_as(client) == "alice"
    alice = User.objects.get(username="alice")
    assert alice.role == "password_admin"
    assert alice.email == "alice@example.com"
    assert not alice.has_usable_password()
    assert group.members.filter(pk=alice.pk).exists()
    identity = OidcIdentity.objects.get(user=alice)
    assert identity.provider.slug == "op" and identity.subject
    login = AuditEvent.objects.filter(action="auth.login", object_id=str(alice.pk)).get()
    assert login.details["method"] == "oidc:op"


def test_without_jit_only_existing_users_sign_in(op_settings: OpenIdProvider, admin: User) -> None:
    _provider(admin, op_settings, jit=False)
    client = Client()
    refused = _sign_in(client, "bob")
    assert refused.status_code == 403
    assert b"no Strongroom account" in refused.content
    assert not User.objects.filter(username="bob").exists()
    assert _signed_in_as(client) is None
    user_make(username="bob")
    assert _sign_in(client, "bob").status_code == 302
    assert _signed_in_as(client) == "bob"


def test_deactivated_user_cannot_sign_in(op_settings: OpenIdProvider, admin: User) -> None:
    _provider(admin, op_settings)
    bob = user_make(username="bob")
    account_services.user_deactivate(actor=admin, user=bob)
    client = Client()
    refused = _sign_in(client, "bob")
    assert refused.status_code == 403 and b"deactivated" in refused.content
    assert _signed_in_as(client) is None


def test_email_domain_and_required_group_refused(op_settings: OpenIdProvider, admin: User) -> None:
    _provider(
        admin,
        op_settings,
        jit=True,
        allowed_domains=["example.com"],
        required_group="strongroom-users",
    )
    client = Client()
    carol = _sign_in(client, "carol")  # elsewhere.org
    assert carol.status_code == 403 and b"e-mail domain" in carol.content
    dave = _sign_in(client, "dave")  # in no group
    assert dave.status_code == 403 and b"not in the group" in dave.content
    assert not User.objects.filter(username__in=["carol", "dave"]).exists()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 2


def test_missing_forged_and_reused_state_refused(op_settings: OpenIdProvider, admin: User) -> None:
    _provider(admin, op_settings, jit=True)
    client = Client()
    callback = _callback_path(_op_login(_start(client), "bob"))
    query = parse_qs(urlsplit(callback).query)
    code, state = query["code"][0], query["state"][0]
    # Forged state: refused, and the flow is spent.
    forged = client.get(f"/sso/op/callback/?code={code}&state=forged{state[:10]}")
    assert forged.status_code == 403 and b"state does not match" in forged.content
    # The real callback afterwards finds no flow (used once).
    reused = client.get(callback)
    assert reused.status_code == 403 and b"o sign-in was started" in reused.content
    # Missing state on a fresh flow.
    callback2 = _callback_path(_op_login(_start(client), "bob"))
    code2 = parse_qs(urlsplit(callback2).query)["code"][0]
    missing = client.get(f"/sso/op/callback/?code={code2}")
    assert missing.status_code == 403 and b"state does not match" in missing.content
    # A callback in another browser (no flow in its session).
    callback3 = _callback_path(_op_login(_start(client), "bob"))
    other = Client().get(callback3)
    assert other.status_code == 403
    assert _signed_in_as(client) is None
    assert not User.objects.filter(username="bob").exists()
    # The genuine, untouched flow works and cannot be replayed.
    good = _callback_path(_op_login(_start(client), "bob"))
    assert client.get(good).status_code == 302
    assert _signed_in_as(client) == "bob"
    assert Client().get(good).status_code == 403


# --- ID token checks: tokens forged with the provider's real key (or another key) --------


def _token(op: OpenIdProvider, key: Any = None, kid: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": op.issuer,
        "sub": "42",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": "n-123",
        "preferred_username": "alice",
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    header = {"alg": "RS256", "kid": kid or op.key_id}
    return jwt.encode(header, payload, RSAKey.import_key(key or op.private_key))


@pytest.fixture
def validate(op_settings: OpenIdProvider, admin: Any) -> Any:
    provider = _provider(admin, op_settings)
    meta = services.discover(provider.issuer)

    def run(token: str, nonce: str = "n-123") -> dict[str, Any]:
        return services.id_token_validate(provider=provider, meta=meta, id_token=token, nonce=nonce)

    return run


def test_a_well_formed_token_passes(validate: Any, op_settings: OpenIdProvider) -> None:
    assert validate(_token(op_settings))["sub"] == "42"


@pytest.mark.parametrize(
    ("claims", "nonce"),
    [
        ({"aud": "someone-else"}, "n-123"),  # wrong audience
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "n-123"),  # expired
        ({"iss": "http://127.0.0.1:1/o"}, "n-123"),  # unknown issuer
        ({}, "another-nonce"),  # nonce of another flow
        ({"nonce": None}, "n-123"),  # no nonce
        ({"sub": None}, "n-123"),  # no subject
    ],
    ids=["audience", "expired", "issuer", "nonce", "no-nonce", "no-sub"],
)
def test_bad_claims_refused(
    validate: Any, op_settings: OpenIdProvider, claims: Any, nonce: str
) -> None:
    with pytest.raises(AuthenticationFailed):
        validate(_token(op_settings, **claims), nonce=nonce)


def test_wrong_signature_refused(validate: Any, op_settings: OpenIdProvider) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthenticationFailed):
        validate(_token(op_settings, key=other))  # same kid, another key
    good = _token(op_settings)
    head, body, sig = good.split(".")
    tampered = body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB")
    with pytest.raises(AuthenticationFailed):
        validate(f"{head}.{tampered}.{sig}")
    with pytest.raises(AuthenticationFailed):  # alg "none": never accepted
        validate(f"eyJhbGciOiJub25lIn0.{body}.")


# --- Strongroom's own second factor -------------------------------------------------------


def _enrol_totp(user: User) -> str:
    enrolment = account_services.user_totp_enrol(user=user, reauth=account_services.REAUTH_TRUSTED)
    secret = enrolment.secret
    account_services.user_totp_confirm(
        user=user, code=pyotp.TOTP(secret).now(), reauth=account_services.REAUTH_TRUSTED
    )
    return secret


def test_totp_still_required_unless_provider_trusted(
    op_settings: OpenIdProvider, admin: User
) -> None:
    provider = _provider(admin, op_settings)
    bob = user_make(username="bob")
    secret = _enrol_totp(bob)
    client = Client()
    response = _sign_in(client, "bob")
    assert response.status_code == 302 and response["Location"] == "/sso/code/"
    assert _signed_in_as(client) is None
    wrong = client.post("/sso/code/", {"code": "000000"})
    assert wrong.status_code == 400 and _signed_in_as(client) is None
    ok = client.post("/sso/code/", {"code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert ok.status_code == 302 and _signed_in_as(client) == "bob"

    services.provider_update(actor=admin, provider=provider, trust_mfa=True)
    client2 = Client()
    assert _sign_in(client2, "bob")["Location"] == "/"
    assert _signed_in_as(client2) == "bob"


# --- Administration and outbound rules ----------------------------------------------------


def test_api_creates_provider_with_sealed_write_only_secret(
    op_settings: OpenIdProvider, admin: User
) -> None:
    api = api_for(admin)
    created = api.post(
        "/sso/providers",
        {
            "slug": "corp",
            "name": "Corp",
            "issuer": op_settings.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "jit": True,
        },
    )
    assert created.status_code == 201, created.content
    assert CLIENT_SECRET not in created.content.decode()
    assert created.json()["redirect_uri"] == "http://testserver/sso/corp/callback/"
    row = OidcProvider.objects.get(slug="corp")
    assert CLIENT_SECRET.encode() not in bytes(row.client_secret)
    tested = api.post("/sso/providers/corp/test")
    assert tested.status_code == 200 and tested.json()["token_endpoint"].startswith(
        op_settings.issuer
    )
    bad = api.post(
        "/sso/providers",
        {"slug": "x", "name": "X", "issuer": "ftp://x", "client_id": "a", "client_secret": "b"},
    )
    assert bad.status_code == 400 and error_code(bad) == "invalid"
    assert not OidcProvider.objects.filter(slug="x").exists()
    user_token = api_for(user_make())
    assert user_token.get("/sso/providers").status_code == 403
    assert api.call("delete", "/sso/providers/corp").status_code == 204
    assert not OidcProvider.objects.filter(slug="corp").exists()


def test_internal_issuer_refused_unless_allow_listed(
    op_settings: OpenIdProvider, admin: User, settings: Any
) -> None:
    settings.SSO_INTERNAL_ALLOWED = []
    with pytest.raises(ValidationFailed):  # plain http to a not allow-listed host
        _provider(admin, op_settings)
    # https to loopback / private addresses: refused before any connection is made.
    for issuer in (f"https://127.0.0.1:{op_settings.port}/o", "https://10.1.2.3/o"):
        with pytest.raises(AuthenticationFailed, match="internal address"):
            services.discover(issuer)


def test_discovery_naming_another_issuer_refused(op_settings: OpenIdProvider) -> None:
    with pytest.raises(AuthenticationFailed):
        services.discover(f"http://{op_settings.host_port}/o/")  # not the exact issuer


def test_leaving_the_allowed_group_deactivates_at_next_sign_in(
    op_settings: OpenIdProvider, admin: User
) -> None:
    provider = _provider(admin, op_settings, jit=True, required_group="strongroom-users")
    client = Client()
    assert _sign_in(client, "bob").status_code == 302
    bob = User.objects.get(username="bob")
    assert bob.is_active
    # The administrator now requires a group bob is not in (as if he had left it).
    services.provider_update(actor=admin, provider=provider, required_group="vault-admins")
    refused = _sign_in(Client(), "bob")
    assert refused.status_code == 403 and b"not in the group" in refused.content
    bob.refresh_from_db()
    assert not bob.is_active
    event = AuditEvent.objects.filter(action="user.deactivate", object_id=str(bob.pk)).get()
    assert event.actor is None
    # The session he had stops working too.
    assert _signed_in_as(client) is None


def test_admin_page_adds_and_edits_a_provider(op_settings: OpenIdProvider, admin: User) -> None:
    client = Client()
    client.force_login(admin)
    assert b"Sign-in providers" in client.get("/").content
    page = client.get("/admin/sign-in-providers/")
    assert page.status_code == 200 and b"Add provider" in page.content
    form = {
        "slug": "keycloak",
        "name": "Keycloak",
        "issuer": op_settings.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": "openid email profile",
        "username_claim": "preferred_username",
        "allowed_domains": "example.com, example.org",
        "group_claim": "groups",
        "role_map": "vault-admins = password_admin",
        "default_role": "password_user",
        "jit": "on",
        "enabled": "on",
    }
    added = client.post("/admin/sign-in-providers/", form)
    assert added.status_code == 302, added.content[:2000]
    provider = OidcProvider.objects.get(slug="keycloak")
    assert provider.allowed_domains == ["example.com", "example.org"]
    assert provider.role_map == {"vault-admins": "password_admin"}
    assert provider.jit and not provider.trust_mfa
    detail = client.get("/admin/sign-in-providers/keycloak/")
    assert b"http://testserver/sso/keycloak/callback/" in detail.content
    assert CLIENT_SECRET.encode() not in detail.content
    # Edit without a secret keeps the stored one; a bad role is refused and changes nothing.
    bad = client.post(
        "/admin/sign-in-providers/keycloak/", {**form, "client_secret": "", "role_map": "x = pope"}
    )
    assert bad.status_code == 200 and b"unknown role" in bad.content.lower()
    provider.refresh_from_db()
    assert provider.role_map == {"vault-admins": "password_admin"}
    saved = client.post(
        "/admin/sign-in-providers/keycloak/", {**form, "client_secret": "", "trust_mfa": "on"}
    )
    assert saved.status_code == 302
    provider.refresh_from_db()
    assert provider.trust_mfa
    assert services.provider_test(actor=admin, provider=provider).issuer == op_settings.issuer
    tested = client.post("/admin/sign-in-providers/keycloak/test/", follow=True)
    assert b"discovery document and keys are valid" in tested.content
    # Not for other roles.
    other = Client()
    other.force_login(user_make())
    assert other.get("/admin/sign-in-providers/").status_code == 403


def test_api_bad_input_is_refused_and_changes_nothing(
    op_settings: OpenIdProvider, admin: User
) -> None:
    api = api_for(admin)
    base = {
        "slug": "p",
        "name": "P",
        "issuer": op_settings.issuer,
        "client_id": CLIENT_ID,
        "client_secret": "s",
    }
    for bad in (
        {"client_id": "x" * 301},
        {"scopes": "email profile"},  # no openid
        {"group_map": {"a\u0000": "b"}},
        {"group_map": {"admins": "no such group"}},
        {"role_map": {"admins": "pope"}},
        {"allowed_domains": ["not a domain"]},
        {"slug": "Bad Slug"},
    ):
        response = api.post("/sso/providers", {**base, **bad})
        assert response.status_code == 400, (bad, response.content)
    assert not OidcProvider.objects.exists()
    assert api.call("patch", "/sso/providers/nope", {"name": "x"}).status_code == 404
