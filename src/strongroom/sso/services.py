"""OpenID Connect sign-in: providers (admin), the authorization code flow with PKCE, state
and nonce, ID token validation (authlib), and who may sign in as whom.

Every request to a provider goes to the configured issuer's own endpoints only: the
discovery document at ``<issuer>/.well-known/openid-configuration``, then the token and key
endpoints it names. Each connection resolves the host once, refuses internal addresses
(loopback, private, link-local...) unless the operator allow-listed that exact
``host:port`` in ``STRONGROOM_SSO_INTERNAL_ALLOWED``, and connects to the address checked.
Plain ``http://`` is accepted only for such an allow-listed internal issuer.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from strongroom.accounts.models import Role, User, UserGroup
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.accounts.services.groups import user_group_add_member
from strongroom.accounts.services.users import user_create, user_deactivate
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core import secrets as sealed
from strongroom.core.errors import (
    AuthenticationFailed,
    Conflict,
    ErrorCode,
    NotFound,
    ValidationFailed,
)
from strongroom.sso.models import OidcIdentity, OidcProvider
from strongroom.storage import http, net

logger = logging.getLogger(__name__)

SERVICE = "the OpenID Provider"
TIMEOUT = 10.0
#: How long a started sign-in (state, nonce, PKCE verifier) stays usable.
FLOW_SECONDS = 600
#: Clock skew accepted on ``exp``/``iat``/``nbf``.
LEEWAY_SECONDS = 60
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]

_LIMITS = {
    "issuer": 500,
    "client_id": 300,
    "scopes": 300,
    "username_claim": 100,
    "group_claim": 100,
    "required_group": 300,
}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_:./-]{1,100}$")


def _refused(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, code=ErrorCode.SSO_REFUSED)


# ---------------------------------------------------------------------------------------
# Outbound requests
# ---------------------------------------------------------------------------------------


def internal_allowed() -> set[str]:
    return {e.lower() for e in settings.SSO_INTERNAL_ALLOWED}


def _host_port(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationFailed("the issuer must be an https:// URL", field="issuer")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname.lower(), port, parts.scheme


def _allow_internal(url: str) -> bool:
    host, port, scheme = _host_port(url)
    allowed = f"{host}:{port}" in internal_allowed()
    if scheme == "http" and not allowed:
        raise ValidationFailed(
            "the issuer must be an https:// URL (plain http only for an allow-listed "
            "internal test provider)",
            field="issuer",
        )
    return allowed


def _session(urls: Iterable[str]) -> Any:
    """The kit's guarded session: these origins only, no redirects, every connection
    resolved once, checked, and made to the checked address."""
    from requests.adapters import HTTPAdapter

    urls = list(urls)
    internal = {u for u in urls if _allow_internal(u)}

    class PinnedAdapter(HTTPAdapter):
        def __init__(self, allow: bool) -> None:
            self._allow = allow
            super().__init__(max_retries=0)

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = net.pinned_pool_classes(
                dict(self.poolmanager.pool_classes_by_scheme), allow_internal=self._allow
            )

    session = http.guarded_session(http.Origins(urls, service=SERVICE), proxy=None, timeout=TIMEOUT)
    for scheme in ("http://", "https://"):
        session.mount(scheme, PinnedAdapter(False))
    for url in internal:
        # Only the allow-listed origin itself may reach an internal address.
        session.mount(http.origin(url) + "/", PinnedAdapter(True))
    return session


def _get_json(url: str, allowed: Iterable[str], what: str) -> dict[str, Any]:
    import requests

    try:
        response = _session(allowed).get(url, headers={"Accept": "application/json"})
    except (net.AddressRefused, http.RefusedRequest) as exc:
        raise _refused(f"{what}: {exc}") from exc
    except requests.RequestException as exc:
        raise _refused(f"{what}: the provider could not be reached") from exc
    if response.status_code != 200:
        raise _refused(f"{what}: the provider answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise _refused(f"{what}: the provider's answer is not JSON") from exc
    if not isinstance(data, dict):
        raise _refused(f"{what}: the provider's answer is not a JSON object")
    return data


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str

    def origins(self) -> list[str]:
        return [self.issuer, self.token_endpoint, self.jwks_uri]


def discover(issuer: str) -> Metadata:
    """The provider's discovery document, checked: it names exactly this issuer, and every
    endpoint is an https:// URL (or an allow-listed internal one)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    data = _get_json(url, [issuer], "discovery")
    if data.get("issuer") != issuer:
        raise _refused("discovery: the document names another issuer than the one configured")
    endpoints = {}
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise _refused(f"discovery: the document has no {key}")
        try:
            _allow_internal(value)
        except ValidationFailed as exc:
            raise _refused(f"discovery: the {key} is not an https:// URL") from exc
        endpoints[key] = value
    return Metadata(issuer=issuer, **endpoints)


# ---------------------------------------------------------------------------------------
# Providers (administrator)
# ---------------------------------------------------------------------------------------

_FIELDS = (
    "name",
    "issuer",
    "client_id",
    "scopes",
    "username_claim",
    "allowed_domains",
    "group_claim",
    "group_map",
    "role_map",
    "required_group",
    "default_role",
    "jit",
    "trust_mfa",
    "enabled",
)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELDS:
            raise ValidationFailed(f"unknown field {key!r}", field=key)
        if key in (
            "name",
            "issuer",
            "client_id",
            "scopes",
            "username_claim",
            "group_claim",
            "required_group",
            "default_role",
        ):
            if not isinstance(value, str) or "\x00" in value:
                raise ValidationFailed(f"{key} must be text", field=key)
            value = value.strip()
        out[key] = value
    if "name" in out and not 1 <= len(out["name"]) <= 100:
        raise ValidationFailed("name must be 1-100 characters", field="name")
    for key, limit in _LIMITS.items():
        if key in out and len(out[key]) > limit:
            raise ValidationFailed(f"{key} must be at most {limit} characters", field=key)
    if "issuer" in out:
        out["issuer"] = out["issuer"].rstrip("/")
        _allow_internal(out["issuer"])
    if "client_id" in out and not out["client_id"]:
        raise ValidationFailed("the client ID is required", field="client_id")
    if "scopes" in out and "openid" not in out["scopes"].split():
        raise ValidationFailed("the scopes must include openid", field="scopes")
    for key in ("username_claim", "group_claim"):
        if out.get(key) and not _CLAIM.match(out[key]):
            raise ValidationFailed(f"{key} is not a claim name", field=key)
    if "username_claim" in out and not out["username_claim"]:
        raise ValidationFailed("the user-name claim is required", field="username_claim")
    if "allowed_domains" in out:
        domains = out["allowed_domains"]
        if isinstance(domains, str):
            domains = [d for d in re.split(r"[\s,]+", domains) if d]
        if not isinstance(domains, list) or not all(
            isinstance(d, str) and re.match(r"^[a-z0-9.-]+\.[a-z]{2,}$", d.lower()) for d in domains
        ):
            raise ValidationFailed("allowed e-mail domains: domain names", field="allowed_domains")
        out["allowed_domains"] = sorted({d.lower() for d in domains})
    for key in ("group_map", "role_map"):
        if key in out:
            mapping = out[key]
            if not isinstance(mapping, dict) or not all(
                isinstance(k, str)
                and isinstance(v, str)
                and 0 < len(k) <= 300
                and len(v) <= 300
                and "\x00" not in k + v
                for k, v in mapping.items()
            ):
                raise ValidationFailed(f"{key} maps claim values to names", field=key)
    for group_name in out.get("group_map", {}).values():
        if not UserGroup.objects.filter(name=group_name).exists():
            raise ValidationFailed(f"no user group named {group_name!r}", field="group_map")
    for role in [*out.get("role_map", {}).values(), out.get("default_role", Role.PASSWORD_USER)]:
        if role not in Role.values:
            raise ValidationFailed(
                f"unknown role {role!r}", field="role_map", allowed=list(Role.values)
            )
    for key in ("jit", "trust_mfa", "enabled"):
        if key in out and not isinstance(out[key], bool):
            raise ValidationFailed(f"{key} must be true or false", field=key)
    return out


def provider_create(
    *, actor: User, slug: str, client_secret: str, client_ip: str | None = None, **values: Any
) -> OidcProvider:
    require_perm(actor, Perm.SETTINGS_MANAGE)
    if not _SLUG.match(slug or ""):
        raise ValidationFailed("the short name must be lower-case letters, digits, -", field="slug")
    if OidcProvider.objects.filter(slug=slug).exists():
        raise ValidationFailed(f"a provider named {slug!r} already exists", field="slug")
    for required in ("name", "issuer", "client_id"):
        if not values.get(required):
            raise ValidationFailed(f"{required} is required", field=required)
    if not client_secret:
        raise ValidationFailed("the client secret is required", field="client_secret")
    provider = OidcProvider(slug=slug, **_clean(values))
    sealed.seal_into(provider, "client_secret", client_secret)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SSO_PROVIDER_CREATE,
            object_type="oidc_provider",
            object_id=str(provider.pk),
            object_name=provider.name,
            client_ip=client_ip,
            details={
                "issuer": provider.issuer,
                "jit": provider.jit,
                "trust_mfa": provider.trust_mfa,
            },
        )
        provider.save(force_insert=True)
    return provider


def provider_update(
    *,
    actor: User,
    provider: OidcProvider,
    client_secret: str | None = None,
    client_ip: str | None = None,
    **values: Any,
) -> OidcProvider:
    require_perm(actor, Perm.SETTINGS_MANAGE)
    cleaned = _clean(values)
    with transaction.atomic():
        provider = OidcProvider.objects.select_for_update().get(pk=provider.pk)
        for key, value in cleaned.items():
            setattr(provider, key, value)
        if client_secret:
            sealed.seal_into(provider, "client_secret", client_secret)
        audit_record(
            actor=actor,
            action=AuditAction.SSO_PROVIDER_UPDATE,
            object_type="oidc_provider",
            object_id=str(provider.pk),
            object_name=provider.name,
            client_ip=client_ip,
            details={"fields": sorted(cleaned) + (["client_secret"] if client_secret else [])},
        )
        provider.save()
    return provider


def provider_delete(*, actor: User, provider: OidcProvider, client_ip: str | None = None) -> None:
    require_perm(actor, Perm.SETTINGS_MANAGE)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SSO_PROVIDER_DELETE,
            object_type="oidc_provider",
            object_id=str(provider.pk),
            object_name=provider.name,
            client_ip=client_ip,
        )
        provider.delete()


def provider_test(*, actor: User, provider: OidcProvider) -> Metadata:
    """Fetch and check the discovery document and the key set (the admin's "Test")."""
    require_perm(actor, Perm.SETTINGS_MANAGE)
    meta = discover(provider.issuer)
    _jwks(meta)
    return meta


def redirect_uri(provider: OidcProvider) -> str:
    return f"{settings.PUBLIC_URL}/sso/{provider.slug}/callback/"


# ---------------------------------------------------------------------------------------
# The flow
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """What the browser's session keeps between the redirect and the callback."""

    provider_id: str
    state: str
    nonce: str
    verifier: str = field(repr=False)
    expires: int
    next_url: str = "/"

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "state": self.state,
            "nonce": self.nonce,
            "verifier": self.verifier,
            "expires": self.expires,
            "next": self.next_url,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Flow | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                provider_id=str(data["provider_id"]),
                state=str(data["state"]),
                nonce=str(data["nonce"]),
                verifier=str(data["verifier"]),
                expires=int(data["expires"]),
                next_url=str(data.get("next") or "/"),
            )
        except (KeyError, TypeError, ValueError):
            return None


def provider_for_login(slug: str) -> OidcProvider:
    provider = OidcProvider.objects.filter(slug=slug, enabled=True).first()
    if provider is None:
        raise NotFound("no such sign-in provider")
    return provider


def login_begin(
    *, provider: OidcProvider, next_url: str = "/", clock: Callable[[], float] = time.time
) -> tuple[str, Flow]:
    """The provider's authorization URL and the flow the caller keeps in the session."""
    meta = discover(provider.issuer)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    flow = Flow(
        provider_id=str(provider.pk),
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=verifier,
        expires=int(clock()) + FLOW_SECONDS,
        next_url=next_url,
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri(provider),
            "scope": provider.scopes,
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": challenge.decode("ascii"),
            "code_challenge_method": "S256",
        }
    )
    sep = "&" if "?" in meta.authorization_endpoint else "?"
    return f"{meta.authorization_endpoint}{sep}{query}", flow


def _jwks(meta: Metadata) -> Any:
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    data = _get_json(meta.jwks_uri, meta.origins(), "key set")
    try:
        return KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _refused("key set: the provider's keys could not be read") from exc


def id_token_validate(
    *,
    provider: OidcProvider,
    meta: Metadata,
    id_token: str,
    nonce: str,
    keys: Any = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The ID token's claims after checking its signature (the provider's published keys,
    asymmetric algorithms only: never ``none``, never HMAC with a public key), issuer,
    audience and ``azp``, expiry, issue time and nonce; AuthenticationFailed otherwise.

    JOSE by joserfc: Authlib's own JOSE implementation (same maintainer), which Authlib
    1.7+ uses under ``authlib.jose`` and recommends directly."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    if keys is None:
        keys = _jwks(meta)
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            now=int(clock()),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": meta.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(token.claims)
    except JoseError as exc:
        raise _refused(f"the ID token was refused ({exc.error})") from exc
    except (ValueError, TypeError) as exc:
        raise _refused("the ID token could not be read") from exc
    claims = dict(token.claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise _refused("the ID token was refused (azp)")
    if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise _refused("the ID token was refused (nonce)")
    return claims


def _token_exchange(*, provider: OidcProvider, meta: Metadata, code: str, verifier: str) -> str:
    import requests

    secret = sealed.unseal(provider, "client_secret") or ""
    try:
        response = _session(meta.origins()).post(
            meta.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri(provider),
                "code_verifier": verifier,
            },
            auth=(provider.client_id, secret),
            headers={"Accept": "application/json"},
        )
    except (net.AddressRefused, http.RefusedRequest) as exc:
        raise _refused(f"token: {exc}") from exc
    except requests.RequestException as exc:
        raise _refused("token: the provider could not be reached") from exc
    if response.status_code != 200:
        raise _refused(f"the provider refused the authorization code (HTTP {response.status_code})")
    try:
        data = response.json()
    except ValueError as exc:
        raise _refused("token: the provider's answer is not JSON") from exc
    id_token = data.get("id_token") if isinstance(data, dict) else None
    if not isinstance(id_token, str) or not id_token:
        raise _refused("the provider's answer has no ID token")
    return id_token


def _claim_list(claims: dict[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _user_for_claims(provider: OidcProvider, claims: dict[str, Any]) -> User:
    """The Strongroom user these claims sign in as; created only when the provider allows
    just-in-time users. Refuses when the e-mail domain, group or user state does not fit."""
    subject = str(claims["sub"])
    raw_email = claims.get("email")
    email = raw_email if isinstance(raw_email, str) else ""
    if provider.allowed_domains:
        domain = email.rpartition("@")[2].lower() if "@" in email else ""
        if domain not in provider.allowed_domains or claims.get("email_verified") is False:
            raise _refused("this e-mail domain may not sign in here")
    groups = _claim_list(claims, provider.group_claim) if provider.group_claim else []
    username = claims.get(provider.username_claim)
    if not isinstance(username, str) or not username.strip():
        raise _refused(f"the ID token has no {provider.username_claim} claim")
    username = username.strip()
    identity = (
        OidcIdentity.objects.filter(provider=provider, subject=subject)
        .select_related("user")
        .first()
    )
    user = identity.user if identity else User.objects.filter(username__iexact=username).first()
    if provider.required_group and provider.required_group not in groups:
        if identity is not None and identity.user.is_active:
            raise _LeftGroup(identity.user)
        raise _refused("you are not in the group allowed to sign in here")
    role = next((provider.role_map[g] for g in groups if g in provider.role_map), None)
    if user is None:
        if not provider.jit:
            raise _refused("there is no Strongroom account for you; ask an administrator")
        user = user_create(
            actor=None,
            username=username,
            password=secrets.token_urlsafe(32),
            role=role or provider.default_role,
            email=email or "",
            full_name=str(claims.get("name") or "")[:300],
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if not user.is_active:
        raise _refused("this Strongroom account is deactivated")
    if identity is None:
        if OidcIdentity.objects.filter(provider=provider, user=user).exists():
            raise _refused("this account is linked to another identity at this provider")
        identity = OidcIdentity.objects.create(provider=provider, subject=subject, user=user)
    if role and role != user.role and not (user.role == Role.ADMIN and _last_admin(user)):
        user.role = role
        user.save(update_fields=["role"])
    for claim_value, group_name in provider.group_map.items():
        if claim_value in groups:
            group = UserGroup.objects.filter(name=group_name).first()
            if group is not None:
                user_group_add_member(actor=None, group=group, user=user)
    identity.last_login = timezone.now()
    identity.save(update_fields=["last_login"])
    return user


class _LeftGroup(Exception):
    def __init__(self, user: User) -> None:
        super().__init__("left the allowed group")
        self.user = user


def _deactivate_leaver(provider: OidcProvider, user: User) -> None:
    """Someone this provider signed in before is no longer in the allowed group: deactivate
    them (their sessions, tokens and synced copies go, as for any deactivation). The last
    active administrator is kept (a Conflict): the break-glass account must survive."""
    try:
        with transaction.atomic():
            user_deactivate(actor=None, user=user)
    except Conflict:
        logger.warning("kept the last administrator (user id %s) active", user.pk)
        return
    logger.info("deactivated user id %s: left provider id %s's group", user.pk, provider.pk)


def _last_admin(user: User) -> bool:
    return not User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk).exists()


@dataclass(frozen=True)
class SignIn:
    user: User
    #: Strongroom's own TOTP step is still to do (the user has TOTP and the provider is not
    #: trusted for MFA).
    needs_code: bool
    provider: OidcProvider


def login_complete(
    *,
    flow: Flow | None,
    provider: OidcProvider,
    state: str | None,
    code: str | None,
    error: str | None = None,
    client_ip: str | None = None,
    clock: Callable[[], float] = time.time,
) -> SignIn:
    """The callback: check the state against the flow the session kept (a missing, forged,
    expired or reused state is refused), exchange the code with the PKCE verifier, validate
    the ID token, and find (or create) the user."""
    try:
        if flow is None:
            raise _refused("no sign-in was started in this browser (or it was already used)")
        if not state or not secrets.compare_digest(state.encode(), flow.state.encode()):
            raise _refused("the sign-in state does not match")
        if flow.provider_id != str(provider.pk):
            raise _refused("the sign-in was started with another provider")
        if flow.expires < clock():
            raise _refused("the sign-in took too long; start again")
        if error:
            raise _refused("the provider did not sign you in")
        if not code:
            raise _refused("the provider returned no authorization code")
        meta = discover(provider.issuer)
        id_token = _token_exchange(provider=provider, meta=meta, code=code, verifier=flow.verifier)
        claims = id_token_validate(
            provider=provider, meta=meta, id_token=id_token, nonce=flow.nonce, clock=clock
        )
        try:
            with transaction.atomic():
                user = _user_for_claims(provider, claims)
        except _LeftGroup as left:
            _deactivate_leaver(provider, left.user)
            raise _refused("you are not in the group allowed to sign in here") from None
    except AuthenticationFailed as exc:
        with transaction.atomic():
            audit_record(
                actor=None,
                action=AuditAction.AUTH_LOGIN_FAILED,
                object_type="oidc_provider",
                object_id=str(provider.pk),
                object_name=provider.name,
                client_ip=client_ip,
                details={"method": "oidc", "reason": str(exc)[:200]},
            )
        logger.info("single sign-on refused for provider id %s", provider.pk)
        raise
    return SignIn(
        user=user, needs_code=user.totp_enabled and not provider.trust_mfa, provider=provider
    )
