"""Administrators' API for the OpenID Connect sign-in providers (the client secret is
write-only: it is never returned)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from strongroom.accounts.permissions import Perm, require_perm
from strongroom.core.errors import NotFound
from strongroom.core.request import client_ip
from strongroom.sso import services
from strongroom.sso.models import OidcProvider

router = Router(tags=["sign-in providers"])


class ProviderOut(Schema):
    slug: str
    name: str
    issuer: str
    client_id: str
    scopes: str
    username_claim: str
    allowed_domains: list[str]
    group_claim: str
    group_map: dict[str, str]
    role_map: dict[str, str]
    required_group: str
    default_role: str
    jit: bool
    trust_mfa: bool
    enabled: bool
    redirect_uri: str


class ProviderIn(Schema):
    slug: str
    name: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"
    username_claim: str = "preferred_username"
    allowed_domains: list[str] = []
    group_claim: str = ""
    group_map: dict[str, str] = {}
    role_map: dict[str, str] = {}
    required_group: str = ""
    default_role: str = "password_user"
    jit: bool = False
    trust_mfa: bool = False
    enabled: bool = True


class ProviderPatch(Schema):
    name: str | None = None
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: str | None = None
    username_claim: str | None = None
    allowed_domains: list[str] | None = None
    group_claim: str | None = None
    group_map: dict[str, str] | None = None
    role_map: dict[str, str] | None = None
    required_group: str | None = None
    default_role: str | None = None
    jit: bool | None = None
    trust_mfa: bool | None = None
    enabled: bool | None = None


class ProviderTestOut(Schema):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def _out(p: OidcProvider) -> dict[str, Any]:
    return {
        "slug": p.slug,
        "name": p.name,
        "issuer": p.issuer,
        "client_id": p.client_id,
        "scopes": p.scopes,
        "username_claim": p.username_claim,
        "allowed_domains": p.allowed_domains,
        "group_claim": p.group_claim,
        "group_map": p.group_map,
        "role_map": p.role_map,
        "required_group": p.required_group,
        "default_role": p.default_role,
        "jit": p.jit,
        "trust_mfa": p.trust_mfa,
        "enabled": p.enabled,
        "redirect_uri": services.redirect_uri(p),
    }


def _get(slug: str) -> OidcProvider:
    provider = OidcProvider.objects.filter(slug=slug).first()
    if provider is None:
        raise NotFound("no such sign-in provider", field="slug")
    return provider


@router.get("/sso/providers", response=list[ProviderOut])
def providers_list(request: HttpRequest) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    return [_out(p) for p in OidcProvider.objects.all()]


@router.post("/sso/providers", response={201: ProviderOut})
def provider_create(request: HttpRequest, body: ProviderIn) -> Any:
    values = body.dict()
    provider = services.provider_create(
        actor=request.auth,  # type: ignore[attr-defined]
        client_ip=client_ip(request),
        **values,
    )
    return 201, _out(provider)


@router.get("/sso/providers/{slug}", response=ProviderOut)
def provider_get(request: HttpRequest, slug: str) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    return _out(_get(slug))


@router.patch("/sso/providers/{slug}", response=ProviderOut)
def provider_update(request: HttpRequest, slug: str, body: ProviderPatch) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    values = {k: v for k, v in body.dict().items() if v is not None}
    secret = values.pop("client_secret", None)
    provider = services.provider_update(
        actor=request.auth,  # type: ignore[attr-defined]
        provider=_get(slug),
        client_secret=secret,
        client_ip=client_ip(request),
        **values,
    )
    return _out(provider)


@router.delete("/sso/providers/{slug}", response={204: None})
def provider_delete(request: HttpRequest, slug: str) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    services.provider_delete(
        actor=request.auth,  # type: ignore[attr-defined]
        provider=_get(slug),
        client_ip=client_ip(request),
    )
    return 204, None


@router.post("/sso/providers/{slug}/test", response=ProviderTestOut)
def provider_test(request: HttpRequest, slug: str) -> Any:
    meta = services.provider_test(actor=request.auth, provider=_get(slug))  # type: ignore[attr-defined]
    return {
        "issuer": meta.issuer,
        "authorization_endpoint": meta.authorization_endpoint,
        "token_endpoint": meta.token_endpoint,
        "jwks_uri": meta.jwks_uri,
    }
