"""Web UI request handling shared by every app's pages.

- inactivity timeout (see web/session.py) and the "why am I signed out" message;
- a user whose password was reset must change it before reaching any other page;
- ``Cache-Control: no-store`` on every dynamic response: signed-in pages show secrets
  (recovery codes, tokens, TOTP secrets, passwords), and the sign-in pages carry CSRF
  tokens, so no page of ours belongs in a browser or proxy cache;
- typed application errors that escape a view become the 403 / 404 / error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers

from strongroom.core.errors import AppError, NotFound, PermissionDenied
from strongroom.web import session

logger = logging.getLogger(__name__)


def passive(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that the page calls by itself (polling): it does not count as activity."""
    view.strongroom_passive = True  # type: ignore[attr-defined]
    return view


def allowed_before_password_change(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view a user who must change their password may still reach."""
    view.strongroom_before_password_change = True  # type: ignore[attr-defined]
    return view


# Health probes answer without looking at the session (and stay the benchmark's bare floor).
_PROBES = frozenset({"/livez", "/healthz"})


def _is_static(path: str) -> bool:
    return path.startswith(settings.STATIC_URL) or path in _PROBES


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


class WebSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _is_static(request.path):
            return self.get_response(request)
        clear_marker = False
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and session.session_is_idle(request):
            logger.info("session of user id %s ended after inactivity", user.pk)
            session.session_expire_for_inactivity(request)
            clear_marker = True
        elif (
            user is not None
            and not user.is_authenticated
            and session.SIGNED_IN_COOKIE in request.COOKIES
            and not _is_api(request.path)
        ):
            # This browser was signed in and did not sign out: either its session cookie
            # expired (no request for the whole timeout) or the session was ended elsewhere
            # (password changed or reset, user deactivated).
            if settings.SESSION_COOKIE_NAME in request.COOKIES:
                messages.info(request, "Your session has ended. Please sign in again.")
            else:
                messages.info(request, session.timeout_message())
            clear_marker = True
        response = self.get_response(request)
        if clear_marker:
            session.clear_signed_in(response)
        response.headers["Cache-Control"] = "no-store"
        patch_vary_headers(response, ("Cookie",))
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(view_func, "strongroom_passive", False):
            session.session_touch(request)
        if (
            user.must_change_password
            and not _is_api(request.path)
            and not getattr(view_func, "strongroom_before_password_change", False)
        ):
            messages.warning(
                request, "Your password was reset. Choose a new password before you continue."
            )
            return HttpResponseRedirect(reverse("accounts:password_change"))
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if _is_api(request.path) or not isinstance(exception, AppError):
            return None
        if isinstance(exception, PermissionDenied):
            return render(request, "403.html", {"reason": exception.message}, status=403)
        if isinstance(exception, NotFound):
            return render(request, "404.html", status=404)
        view_name = getattr(request.resolver_match, "view_name", "?")
        logger.info("page %s refused: %s", view_name, exception.code)
        return render(
            request,
            "web/error.html",
            {"message": exception.message, "status": exception.status},
            status=exception.status,
        )
