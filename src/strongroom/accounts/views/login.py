"""Sign-in (with the one-time code step) and sign-out.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from strongroom.accounts import services
from strongroom.accounts.forms import LoginCodeForm, LoginForm
from strongroom.accounts.models import User
from strongroom.core import secrets as sealed
from strongroom.core.errors import AuthenticationFailed, Throttled
from strongroom.core.request import client_ip
from strongroom.web import session
from strongroom.web.helpers import safe_next, throttle_message
from strongroom.web.middleware import allowed_before_password_change

logger = logging.getLogger(__name__)


# Between the password step and the code step, the session holds the username and the
# password sealed under the active data key (AES-256-GCM, bound to a random nonce and the
# username), for at most PENDING_SECONDS. The code step hands both to login_authenticate,
# so the service still makes every decision (throttling, password, code, replay, audit).
# Nothing of it reaches the browser, and the database alone cannot unseal it.
PENDING_KEY = "strongroom.login_pending"


PENDING_SECONDS = 300


@dataclass(frozen=True)
class _PendingLogin:
    username: str
    password: str = field(repr=False)
    next_url: str = "/"


def _pending_names(nonce: str, username: str) -> dict[str, str]:
    return {
        "table": "web_session",
        "row_id": nonce,
        "field": "login_password:" + username.replace("\x00", ""),
    }


@sensitive_variables("password")
def _pending_store(request: HttpRequest, *, username: str, password: str, next_url: str) -> None:
    nonce = secrets.token_hex(16)
    blob = sealed.seal_transient(password, **_pending_names(nonce, username))
    request.session[PENDING_KEY] = {
        "username": username,
        "nonce": nonce,
        "sealed": base64.b64encode(blob).decode("ascii"),
        "expires": int(time.time()) + PENDING_SECONDS,
        "next": next_url,
    }


@sensitive_variables("password")
def _pending_load(request: HttpRequest) -> _PendingLogin | None:
    state = request.session.get(PENDING_KEY)
    if not isinstance(state, dict) or state.get("expires", 0) < time.time():
        request.session.pop(PENDING_KEY, None)
        return None
    try:
        blob = base64.b64decode(state["sealed"])
        password = sealed.unseal_transient(
            blob, **_pending_names(state["nonce"], state["username"])
        )
    except (KeyError, ValueError, sealed.UnsealFailed):
        logger.warning("discarded a half-finished sign-in that could not be unsealed")
        request.session.pop(PENDING_KEY, None)
        return None
    return _PendingLogin(
        username=state["username"],
        password=password,
        next_url=state.get("next") or "/",
    )


def _signed_in(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    session.session_begin(request, user)
    response = redirect(next_url)
    session.mark_signed_in(response)
    return response


@sensitive_post_parameters("password")
@allowed_before_password_change
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "GET":
        request.session.pop(PENDING_KEY, None)  # coming back here starts over
    elif form.is_valid():
        username = form.cleaned_data["username"]
        password = form.cleaned_data["password"]
        try:
            user = services.login_authenticate(
                username=username, password=password, otp_code=None, client_ip=client_ip(request)
            )
        except Throttled as exc:
            form.add_error(None, throttle_message(exc))
            status = 429
        except AuthenticationFailed as exc:
            if exc.code == "otp_required":
                _pending_store(request, username=username, password=password, next_url=next_url)
                return redirect("accounts:login_code")
            form.add_error(None, "The username or password is not correct.")
        else:
            return _signed_in(request, user, next_url)
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


@sensitive_post_parameters("code")
@sensitive_variables("pending")
@allowed_before_password_change
def login_code_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    pending = _pending_load(request)
    if pending is None:
        messages.info(request, "Your sign-in took too long or was not started. Please start again.")
        return redirect("accounts:login")
    form = LoginCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.login_authenticate(
                username=pending.username,
                password=pending.password,
                otp_code=form.cleaned_data["code"],
                client_ip=client_ip(request),
            )
        except Throttled as exc:
            form.add_error(None, throttle_message(exc))
            status = 429
        except AuthenticationFailed:
            form.add_error("code", "That code is not correct, or it was already used.")
        else:
            return _signed_in(request, user, pending.next_url)
    return render(
        request,
        "accounts/login_code.html",
        {"form": form, "username": pending.username},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@allowed_before_password_change
def logout_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if request.method == "GET":
        return render(request, "accounts/logout.html")
    services.user_logout(user=request.user, client_ip=client_ip(request))
    session.session_end(request)
    messages.success(request, "You have signed out.")
    response = redirect("accounts:login")
    session.clear_signed_in(response)
    return response
