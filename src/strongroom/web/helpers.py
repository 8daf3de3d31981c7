"""Small pieces every app's pages share: permission gates, sentences, safe redirects after
sign-in, pagination. Typed service errors on forms and as JSON: ``web/errors.py``."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from strongroom.accounts.permissions import Perm, has_perm
from strongroom.core.errors import Throttled

View = TypeVar("View", bound=Callable[..., Any])

PAGE_SIZE = 50


def perm_required(perm: Perm) -> Callable[[View], View]:
    """Signed in, and the role grants ``perm``; otherwise the 403 page."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not has_perm(request.user, perm):
                raise DjangoPermissionDenied(
                    "Your role does not allow this page. Ask an administrator if you need it."
                )
            return view(request, *args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorate


def sentence(text: str) -> str:
    """Service messages are lower-case clauses; pages show sentences."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!", ")")) else text + "."


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def throttle_message(exc: Throttled) -> str:
    retry_after = int(exc.details.get("retry_after", 60))
    return (
        "Too many failed attempts for this account or from this address. "
        f"Try again in {wait_text(retry_after)}."
    )


def safe_next(request: HttpRequest, default: str = "/") -> str:
    """Where to go after signing in: ``next`` if it is a path on this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    local = candidate.startswith("/") and not candidate.startswith(("//", "/\\"))
    if local and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def paginate(request: HttpRequest, items: Any, *, per_page: int = PAGE_SIZE) -> Page:
    paginator = Paginator(items, per_page)
    return paginator.get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    """The current query string minus ``page``, for pager links that keep the filters."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
