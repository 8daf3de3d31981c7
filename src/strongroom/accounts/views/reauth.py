"""Confirm it's you: the re-authentication page other pages send people to.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from strongroom.accounts import services
from strongroom.accounts.forms import ReauthForm
from strongroom.accounts.models import User
from strongroom.accounts.reauth import confirm_url, reauth_from_request, session_reauth_store
from strongroom.core.errors import AuthenticationFailed, Throttled
from strongroom.core.request import client_ip
from strongroom.web.helpers import safe_next, throttle_message
from strongroom.web.middleware import allowed_before_password_change


def reauth_fresh(request: HttpRequest) -> bool:
    return services.reauth_is_fresh(
        user=request.user,  # type: ignore[arg-type]
        reauth=reauth_from_request(request),
    )


def reauth_redirect(request: HttpRequest, next_url: str) -> HttpResponse:
    """Off to "Confirm it's you", coming back to the page of the action (a POST cannot be
    replayed through a redirect, so the user repeats it there)."""
    messages.info(request, "Confirm it's you to continue.")
    return redirect(confirm_url(next_url))


@login_required
@allowed_before_password_change
@sensitive_post_parameters("password", "otp")
@sensitive_variables("password")
def reauth_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    next_url = safe_next(request, default=reverse("accounts:account"))
    form = ReauthForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            proof = services.reauth_verify(
                user=user,
                password=form.cleaned_data["password"],
                otp=form.cleaned_data["otp"],
                client_ip=client_ip(request),
            )
        except Throttled as exc:
            form.add_error(None, throttle_message(exc))
            status = 429
        except AuthenticationFailed as exc:
            if exc.details.get("field") == "otp":
                form.add_error("otp", "That code is not correct, or it was already used.")
            else:
                form.add_error("password", "That password is not correct.")
        else:
            session_reauth_store(request, proof)
            return redirect(next_url)
    return render(
        request,
        "accounts/reauth.html",
        {
            "form": form,
            "next": next_url,
            "needs_code": user.totp_enabled,
            "minutes": max(1, round(services.reauth_max_age().total_seconds() / 60)),
        },
        status=status,
    )
