"""My account: the overview and the password change.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters

from strongroom.accounts import selectors, services
from strongroom.accounts.forms import PasswordChangeForm
from strongroom.accounts.models import Role, User
from strongroom.accounts.reauth import reauth_from_request
from strongroom.accounts.views.reauth import reauth_fresh
from strongroom.accounts.views.two_factor import recovery_codes_left
from strongroom.core.errors import AppError, AuthenticationFailed
from strongroom.core.request import client_ip
from strongroom.web.errors import form_error
from strongroom.web.middleware import allowed_before_password_change


@login_required
def account_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    tokens = list(selectors.api_token_list(user=user))
    now = timezone.now()
    active_tokens = [
        t for t in tokens if t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
    ]
    return render(
        request,
        "accounts/account.html",
        {
            "account": user,
            "role_label": Role(user.role).label,
            "active_token_count": len(active_tokens),
            "recovery_codes_left": recovery_codes_left(user),
        },
    )


@login_required
@allowed_before_password_change
@sensitive_post_parameters()
def password_change_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    # The form is its own re-authentication: the current password and, with 2FA, a code
    # (not asked again if the user confirmed it's them in the last minutes).
    needs_code = user.totp_enabled and not reauth_fresh(request)
    form = PasswordChangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_password_change(
                user=user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
                otp=form.cleaned_data["otp"],
                reauth=reauth_from_request(request),
                client_ip=client_ip(request),
            )
        except services.ReauthRequired:
            form.add_error("otp", "Enter a code from your authenticator app, or a recovery code.")
        except AuthenticationFailed as exc:
            if exc.details.get("field") == "otp":
                form.add_error("otp", "That code is not correct, or it was already used.")
            else:
                form_error(form, exc)
        except AppError as exc:
            form_error(form, exc)
        else:
            # This session stays signed in; every other session of the user ends.
            update_session_auth_hash(request, user)
            messages.success(request, "Your password was changed.")
            return redirect("accounts:account")
    return render(
        request,
        "accounts/password_change.html",
        {"form": form, "must_change": user.must_change_password, "needs_code": needs_code},
    )
