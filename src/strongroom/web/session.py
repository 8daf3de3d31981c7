"""The web session: starting and ending it, and the inactivity timeout.

A session ends after ``SESSION_COOKIE_AGE`` seconds without *activity*. Django already drops
the cookie after that long without any request (``SESSION_SAVE_EVERY_REQUEST``), but the
notification area polls in the background, and a poll is not a person using the page: so the
last real request's time is kept in the session and checked on every request, polls
included. A small marker cookie (no secret in it) tells the sign-in page that the browser
*was* signed in, so it can say why the user has to sign in again.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.http import HttpRequest, HttpResponse

from strongroom.accounts.models import User

LAST_ACTIVITY_KEY = "strongroom.last_activity"
SIGNED_IN_COOKIE = "strongroom_was_signed_in"


def timeout_minutes() -> int:
    return max(1, round(settings.SESSION_COOKIE_AGE / 60))


def timeout_message() -> str:
    minutes = timeout_minutes()
    unit = "minute" if minutes == 1 else "minutes"
    return f"You were signed out after {minutes} {unit} of inactivity. Please sign in again."


def session_begin(request: HttpRequest, user: User) -> None:
    """Sign ``user`` in to this browser (a new session key: no fixation)."""
    django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[LAST_ACTIVITY_KEY] = int(time.time())


def session_end(request: HttpRequest) -> None:
    django_logout(request)


def mark_signed_in(response: HttpResponse) -> None:
    response.set_cookie(
        SIGNED_IN_COOKIE,
        "1",
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def clear_signed_in(response: HttpResponse) -> None:
    response.delete_cookie(SIGNED_IN_COOKIE, samesite="Lax")


def session_is_idle(request: HttpRequest) -> bool:
    last = request.session.get(LAST_ACTIVITY_KEY)
    return isinstance(last, int) and time.time() - last > settings.SESSION_COOKIE_AGE


def session_touch(request: HttpRequest) -> None:
    # Whole seconds, and only when it moved: keeps the session row's writes cheap.
    now = int(time.time())
    if request.session.get(LAST_ACTIVITY_KEY) != now:
        request.session[LAST_ACTIVITY_KEY] = now


def session_expire_for_inactivity(request: HttpRequest) -> None:
    session_end(request)
    messages.info(request, timeout_message())
