"""OAuth connections (Dropbox, Box): start an authorisation, finish it with the code.

The flow's secrets live server-side in the database (``OAuthPending``), so any web node can
finish what another started: the ``state`` is stored only as its SHA-256 digest, the PKCE
verifier only sealed. A pending authorisation is bound to the user who started it and, in
the web UI, to that user's session (the session holds the state); it is single-use (claimed
by a conditional UPDATE, so two concurrent completions cannot both succeed) and expires
after ``settings.OAUTH_PENDING_SECONDS``.

Completion exchanges the code through the provider class (``Provider.oauth_exchange_code``),
then saves the connection with ``services.storage_connection_save``, which verifies the
tokens with a real request (``check``) before anything is stored. A bad code changes
nothing: no connection is created or altered, and for the "paste" flow the pending
authorisation stays usable until it expires, so the user can paste the right code. For the
"redirect" flow the state is spent by the first callback whatever its outcome (a replayed
or forged callback finds nothing to complete).

Redirect URIs are built from ``settings.PUBLIC_URL``, never from the request's Host header,
so the URI registered in the provider's console stays right whichever node answers.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from strongroom.audit.actions import AuditAction
from strongroom.core.errors import PermissionDenied, ValidationFailed
from strongroom.core.secrets import seal_into, unseal
from strongroom.storage import registry, services
from strongroom.storage.base import StorageError
from strongroom.storage.models import OAuthPending, StorageConnection

logger = logging.getLogger(__name__)

#: The longest code any provider issues is far below this; longer input is refused unread.
MAX_CODE_LENGTH = 2048


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def oauth_redirect_uri(provider: str) -> str:
    """The exact redirect URI to register in the provider's developer console."""
    return settings.PUBLIC_URL + reverse("storage:oauth_callback", args=[provider])


def _oauth_class(provider: str) -> Any:
    cls = services._enabled_class(provider)
    if cls.auth_kind != "oauth":
        raise ValidationFailed(f"{cls.label} does not connect with OAuth", field="provider")
    return cls


@dataclass(frozen=True)
class OAuthStart:
    authorize_url: str
    #: The state to send back with the code (kept by the web session, or the API client).
    state: str
    flow: str
    expires_at: Any


def storage_oauth_begin(
    *, actor: Any, provider: str, session_key: str = "", client_ip: str | None = None
) -> OAuthStart:
    """Start an authorisation of ``actor`` with ``provider``: a fresh state (and PKCE
    verifier), stored server-side; returns the provider's consent page URL. Starting again
    replaces the user's earlier unfinished authorisation with the same provider."""
    if actor is None or not getattr(actor, "is_active", False):
        raise PermissionDenied("sign in to connect cloud storage")
    cls = _oauth_class(provider)
    admin_config, admin_secret = registry.admin_settings(provider)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if cls.oauth_pkce else None  # 86 chars, RFC 7636
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if verifier
        else None
    )
    redirect_uri = oauth_redirect_uri(provider) if cls.oauth_flow == "redirect" else None
    url = cls.oauth_authorize_url(
        admin_config=admin_config,
        admin_secret=admin_secret,
        state=state,
        code_challenge=challenge,
        redirect_uri=redirect_uri,
    )
    now = timezone.now()
    expires = now + timedelta(seconds=settings.OAUTH_PENDING_SECONDS)
    with transaction.atomic():
        OAuthPending.objects.filter(user=actor, provider=provider, used_at=None).delete()
        OAuthPending.objects.filter(expires_at__lt=now).delete()
        services.storage_audit(
            AuditAction.STORAGE_OAUTH_START,
            actor=actor,
            label=cls.label,
            client_ip=client_ip,
            details={"provider": provider, "flow": cls.oauth_flow},
        )
        pending = OAuthPending(
            user=actor,
            provider=provider,
            state_digest=_digest(state),
            session_digest=_digest(session_key) if session_key else "",
            redirect_uri=redirect_uri or "",
            expires_at=expires,
        )
        if verifier:
            seal_into(pending, "code_verifier", verifier)
        pending.save()
    logger.info("user %s started an OAuth authorisation with %s", actor.pk, provider)
    return OAuthStart(authorize_url=url, state=state, flow=cls.oauth_flow, expires_at=expires)


def _refuse(
    *, actor: Any, cls: Any, provider: str, client_ip: str | None, message: str, code: str
) -> ValidationFailed:
    services.storage_audit(
        AuditAction.STORAGE_CONNECT,
        actor=actor,
        label=cls.label,
        client_ip=client_ip,
        outcome="failure",
        details={"provider": provider, "error": code, "message": message},
    )
    return ValidationFailed(message, code=code, field="code")


def storage_oauth_complete(
    *,
    actor: Any,
    provider: str,
    state: str,
    code: str,
    session_key: str = "",
    client_ip: str | None = None,
) -> StorageConnection:
    """Finish the authorisation that ``state`` names with the provider's ``code``.

    Refused, with a specific message and nothing changed: an empty or over-long code; a
    missing, unknown, expired, spent or another user's (or another session's) state; a code
    the provider rejects (wrong, expired, reused, or issued to another user's flow, whose
    PKCE verifier differs)."""
    if actor is None or not getattr(actor, "is_active", False):
        raise PermissionDenied("sign in to connect cloud storage")
    cls = _oauth_class(provider)
    code = (code or "").strip()
    state = (state or "").strip()

    def refuse(message: str, error: str) -> ValidationFailed:
        return _refuse(
            actor=actor,
            cls=cls,
            provider=provider,
            client_ip=client_ip,
            message=message,
            code=error,
        )

    if not state:
        raise refuse(
            f"no {cls.label} authorisation is in progress: click Authorize to start one",
            "oauth_no_state",
        )
    now = timezone.now()
    pending = OAuthPending.objects.filter(state_digest=_digest(state), provider=provider).first()
    if (
        pending is None
        or pending.user_id != actor.pk
        or (pending.session_digest and pending.session_digest != _digest(session_key or ""))
    ):
        raise refuse(
            f"this {cls.label} authorisation was not started by you in this session: "
            "click Authorize to start again",
            "oauth_state_mismatch",
        )
    if pending.used_at is not None:
        raise refuse(
            f"this {cls.label} authorisation was already used: click Authorize to start again",
            "oauth_state_used",
        )
    if pending.expires_at <= now:
        raise refuse(
            f"this {cls.label} authorisation expired: click Authorize to start again",
            "oauth_state_expired",
        )
    redirect_flow = cls.oauth_flow == "redirect"
    if redirect_flow and not _claim(pending, now):
        # The state is spent by the first callback, whatever happens next.
        raise refuse(
            f"this {cls.label} authorisation was already used: click Authorize to start again",
            "oauth_state_used",
        )
    if not code:
        raise refuse(
            f"paste the code {cls.label} showed you"
            if not redirect_flow
            else (f"{cls.label} sent no authorisation code: click Authorize to start again"),
            "oauth_code_missing",
        )
    if len(code) > MAX_CODE_LENGTH or any(c.isspace() or not c.isprintable() for c in code):
        raise refuse(f"that is not a {cls.label} authorisation code", "oauth_code_invalid")
    admin_config, admin_secret = registry.admin_settings(provider)
    try:
        credentials = cls.oauth_exchange_code(
            admin_config=admin_config,
            admin_secret=admin_secret,
            proxy=registry.proxy_config(),
            code=code,
            code_verifier=unseal(pending, "code_verifier"),
            redirect_uri=pending.redirect_uri or None,
        )
    except StorageError as exc:
        logger.info(
            "OAuth code exchange with %s refused for user %s: %s", provider, actor.pk, exc.code
        )
        raise refuse(f"{cls.label}: {exc.message}", "oauth_code_refused") from None
    if not redirect_flow and not _claim(pending, now):
        raise refuse(
            f"this {cls.label} authorisation was already used: click Authorize to start again",
            "oauth_state_used",
        )
    conn = services.storage_connection_save(
        actor=actor,
        provider=provider,
        config={},
        credentials=credentials,
        client_ip=client_ip,
    )
    OAuthPending.objects.filter(pk=pending.pk).delete()
    return conn


def _claim(pending: OAuthPending, now: Any) -> bool:
    """Mark ``pending`` used; False when another request got there first."""
    return bool(OAuthPending.objects.filter(pk=pending.pk, used_at=None).update(used_at=now))
