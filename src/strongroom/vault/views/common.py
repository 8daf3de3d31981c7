"""Plumbing every vault page shares: no-store responses, the error page, the page and
JSON decorators, the actor/address/reason of a request.

Thin like the REST API (``vault.api``): read through ``vault.selectors``, change through
``vault.services``; every response carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from strongroom.core.errors import AppError, AuthenticationFailed, ValidationFailed
from strongroom.core.request import client_ip
from strongroom.core.settings_store import setting_get
from strongroom.vault.models import AccessLevel
from strongroom.web.errors import error_json

PAGE_SIZE = 50


GROUP_ADD_RESULTS = 20


FILTER_CHOICES_LIMIT = 500


View = Callable[..., HttpResponse]


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _error_page(request: HttpRequest, exc: AppError) -> HttpResponse:
    titles = {
        404: "Not found",
        403: "Not allowed",
        400: "That did not work",
        409: "Changed by someone else",
        503: "Temporarily unavailable",
    }
    return render(
        request,
        "vault/error.html",
        {"title": titles.get(exc.status, "Something went wrong"), "error": exc},
        status=exc.status,
    )


def vault_page(view: View) -> View:
    """A page for signed-in users: typed errors become an error page; never cached."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            response = view(request, *args, **kwargs)
        except AppError as exc:
            response = _error_page(request, exc)
        return _no_store(response)

    return wrapper


def vault_json(view: View) -> View:
    """A POST endpoint for the page script. Answers JSON, errors in the API's one shape
    (``{"error": {"code", "message", "details"}}``); never cached."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            exc: AppError = AuthenticationFailed("your session has ended; sign in again")
            return _no_store(error_json(exc))
        try:
            response = view(request, *args, **kwargs)
        except AppError as exc:
            response = error_json(exc)
        return _no_store(response)

    return require_POST(wrapper)


def _actor(request: HttpRequest) -> Any:
    return request.user


def _ip(request: HttpRequest) -> str:
    return client_ip(request)


def _reason(request: HttpRequest) -> str:
    """The reason from a JSON body (the page script) or a form body; empty when absent."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed("the request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise ValidationFailed("the request body must be a JSON object")
        reason = body.get("reason", "")
    else:
        reason = request.POST.get("reason", "")
    if not isinstance(reason, str):
        raise ValidationFailed("reason must be text", field="reason")
    return reason


def _reason_required() -> bool:
    return bool(setting_get("retrieval_reason_required"))


def _level_name(level: int | None) -> str:
    return AccessLevel(level).label if level else ""


def _http_url(url: str) -> str | None:
    """The URL as a link target only when it is plainly http(s); anything else (``javascript:``,
    ``data:``) is shown as text."""
    lowered = url.strip().lower()
    return url.strip() if lowered.startswith(("http://", "https://")) else None
