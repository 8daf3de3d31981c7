"""Where a request's re-authentication proof comes from (the services decide what it allows).

- A web session (and the API used with that session) keeps the proof in the session, which
  lives in the database, so every web node sees it; it belongs to the user who gave it and
  ends with the session (sign-out, password change elsewhere).
- A request made with an API token carries the secret that POST /api/v1/auth/reauth
  returned, in the ``X-Strongroom-Reauth`` header; it is valid only with that same token.
  The session is never consulted for a token request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from strongroom.accounts import services
from strongroom.accounts.models import ApiToken

REAUTH_HEADER = "X-Strongroom-Reauth"
SESSION_KEY = "strongroom.reauth"


def request_api_token(request: HttpRequest) -> ApiToken | None:
    """The API token that authenticated this request (set by api.auth.TokenAuth)."""
    token = getattr(request, "api_token", None)
    return token if isinstance(token, ApiToken) else None


def reauth_from_request(request: HttpRequest) -> services.Reauth | None:
    token = request_api_token(request)
    if token is not None:
        return services.api_token_reauth_proof(
            token=token, secret=request.headers.get(REAUTH_HEADER, "")
        )
    user: Any = getattr(request, "user", None)
    state = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if user is None or not user.is_authenticated or not isinstance(state, dict):
        return None
    if state.get("user") != str(user.pk):
        return None
    try:
        at = datetime.fromisoformat(state["at"])
    except (KeyError, TypeError, ValueError):
        return None
    return services.Reauth(user_id=user.pk, at=at)


def session_reauth_store(request: HttpRequest, proof: services.Reauth) -> None:
    request.session[SESSION_KEY] = {"user": str(proof.user_id), "at": proof.at.isoformat()}


def confirm_url(next_url: str) -> str:
    """The "Confirm it's you" page, coming back to ``next_url`` (a path on this site)."""
    return reverse("accounts:reauth") + "?" + urlencode({"next": next_url})
