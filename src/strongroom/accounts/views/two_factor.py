"""My account: two-factor sign-in (enrol, confirm, disable) and recovery codes.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

import pyotp
import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from strongroom.accounts import services
from strongroom.accounts.forms import TotpCodeForm, TotpDisableForm
from strongroom.accounts.models import User
from strongroom.accounts.reauth import reauth_from_request
from strongroom.accounts.views.reauth import reauth_redirect
from strongroom.core import secrets as sealed
from strongroom.core.errors import AppError, Conflict
from strongroom.core.request import client_ip
from strongroom.web.errors import form_error
from strongroom.web.helpers import sentence


def recovery_codes_left(user: User) -> int:
    return user.recovery_codes.filter(used_at__isnull=True).count()  # type: ignore[attr-defined]


def _group4(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _pending_enrolment(user: User) -> dict[str, str] | None:
    """The secret of an enrolment that was started but not confirmed, for display."""
    if user.totp_enabled or user.totp_secret is None:
        return None
    secret = sealed.unseal(user, "totp_secret")
    if secret is None:
        return None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=services.TOTP_ISSUER)
    qr = segno.make(uri, error="m")
    return {
        "secret": _group4(secret),
        "uri": uri,
        # An <img> data URI: no markup of ours is built from the URI, which holds the username.
        "qr_data_uri": qr.svg_data_uri(scale=5, border=2, dark="#000", light="#fff"),
    }


def _two_factor_page(
    request: HttpRequest,
    *,
    confirm_form: TotpCodeForm | None = None,
    disable_form: TotpDisableForm | None = None,
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    user.refresh_from_db(fields=["totp_secret", "totp_enabled"])
    return render(
        request,
        "accounts/two_factor.html",
        {
            "account": user,
            "pending": _pending_enrolment(user),
            "recovery_codes_left": recovery_codes_left(user) if user.totp_enabled else 0,
            "confirm_form": confirm_form or TotpCodeForm(),
            "disable_form": disable_form or TotpDisableForm(auto_id="id_disable_%s"),
        },
    )


@login_required
def two_factor_view(request: HttpRequest) -> HttpResponse:
    return _two_factor_page(request)


@login_required
@require_POST
def two_factor_start_view(request: HttpRequest) -> HttpResponse:
    try:
        services.user_totp_enrol(
            user=request.user,  # type: ignore[arg-type]
            reauth=reauth_from_request(request),
            client_ip=client_ip(request),
        )
    except services.ReauthRequired:
        return reauth_redirect(request, reverse("accounts:two_factor"))
    except AppError as exc:
        messages.error(request, sentence(exc.message))
    return redirect("accounts:two_factor")


_TWO_FACTOR_STATE_CHANGED = (
    "Two-factor sign-in changed in the meantime (another tab or a second click); "
    "this is how it stands now."
)


def _recovery_codes_page(
    request: HttpRequest, codes: list[str], *, first_time: bool
) -> HttpResponse:
    return render(
        request, "accounts/recovery_codes.html", {"codes": codes, "first_time": first_time}
    )


@login_required
@require_POST
@sensitive_post_parameters("code")
def two_factor_confirm_view(request: HttpRequest) -> HttpResponse:
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        try:
            codes = services.user_totp_confirm(
                user=request.user,  # type: ignore[arg-type]
                code=form.cleaned_data["code"],
                reauth=reauth_from_request(request),
                client_ip=client_ip(request),
            )
        except services.ReauthRequired:
            return reauth_redirect(request, reverse("accounts:two_factor"))
        except Conflict:
            # A second submit, or another tab: show the state as it is now.
            messages.info(request, _TWO_FACTOR_STATE_CHANGED)
            return redirect("accounts:two_factor")
        except AppError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Two-factor sign-in is on.")
            return _recovery_codes_page(request, codes, first_time=True)
    return _two_factor_page(request, confirm_form=form)


@login_required
@require_POST
def recovery_codes_regenerate_view(request: HttpRequest) -> HttpResponse:
    try:
        codes = services.user_recovery_codes_regenerate(
            user=request.user,  # type: ignore[arg-type]
            reauth=reauth_from_request(request),
            client_ip=client_ip(request),
        )
    except services.ReauthRequired:
        return reauth_redirect(request, reverse("accounts:two_factor"))
    except Conflict:
        messages.info(request, _TWO_FACTOR_STATE_CHANGED)
        return redirect("accounts:two_factor")
    messages.success(request, "New recovery codes were made; the old ones no longer work.")
    return _recovery_codes_page(request, codes, first_time=False)


@login_required
@require_POST
@sensitive_post_parameters("password", "code")
def two_factor_disable_view(request: HttpRequest) -> HttpResponse:
    form = TotpDisableForm(request.POST, auto_id="id_disable_%s")
    if form.is_valid():
        try:
            services.user_totp_disable(
                user=request.user,  # type: ignore[arg-type]
                password=form.cleaned_data["password"],
                code=form.cleaned_data["code"],
                client_ip=client_ip(request),
            )
        except Conflict:
            messages.info(request, _TWO_FACTOR_STATE_CHANGED)
            return redirect("accounts:two_factor")
        except AppError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Two-factor sign-in is off.")
            return redirect("accounts:two_factor")
    return _two_factor_page(request, disable_form=form)
