"""My account: API tokens.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from strongroom.accounts import selectors, services
from strongroom.accounts.forms import TokenCreateForm
from strongroom.accounts.models import User
from strongroom.accounts.reauth import reauth_from_request
from strongroom.accounts.views.reauth import reauth_fresh, reauth_redirect
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.web.errors import form_error


def _tokens_page(request: HttpRequest, form: TokenCreateForm | None = None) -> HttpResponse:
    now = timezone.now()
    tokens = []
    for token in selectors.api_token_list(user=request.user):  # type: ignore[arg-type]
        if token.revoked_at is not None:
            state = "revoked"
        elif token.expires_at is not None and token.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        tokens.append({"token": token, "state": state})
    return render(
        request,
        "accounts/tokens.html",
        {"tokens": tokens, "form": form or TokenCreateForm()},
    )


@login_required
def tokens_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _tokens_page(request)
    if not reauth_fresh(request):
        return reauth_redirect(request, reverse("accounts:tokens"))
    form = TokenCreateForm(request.POST)
    if form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = None if days == "never" else timezone.now() + timedelta(days=int(days))
        try:
            issued = services.api_token_create(
                user=request.user,  # type: ignore[arg-type]
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=expires_at,
                reauth=reauth_from_request(request),
                client_ip=client_ip(request),
            )
        except services.ReauthRequired:
            return reauth_redirect(request, reverse("accounts:tokens"))
        except AppError as exc:
            form_error(form, exc)
        else:
            return render(
                request,
                "accounts/token_created.html",
                {"token": issued.token, "raw_token": issued.raw},
            )
    return _tokens_page(request, form)


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    token = selectors.api_token_get(user=user, token_id=token_id)
    services.api_token_revoke(user=user, token=token, client_ip=client_ip(request))
    messages.success(request, f"The token “{token.name}” was revoked.")
    return redirect("accounts:tokens")
