"""Single sign-on pages: "Sign in with <provider>", the provider's callback, Strongroom's
own one-time code step when it still applies, and the administrator's provider pages."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from strongroom.accounts import services as account_services
from strongroom.accounts.forms import LoginCodeForm
from strongroom.accounts.models import Role, User
from strongroom.accounts.permissions import Perm
from strongroom.core.errors import AppError, AuthenticationFailed, Throttled
from strongroom.core.request import client_ip
from strongroom.sso import services
from strongroom.sso.models import OidcProvider
from strongroom.web import session
from strongroom.web.errors import form_error
from strongroom.web.helpers import perm_required, safe_next, sentence, throttle_message
from strongroom.web.middleware import allowed_before_password_change

FLOW_KEY = "strongroom.sso_flow"
PENDING_KEY = "strongroom.sso_pending"
PENDING_SECONDS = 300


def _login_error(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "sso/error.html", {"message": sentence(message)}, status=status)


@require_http_methods(["GET", "POST"])
@allowed_before_password_change
def sso_start_view(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        provider = services.provider_for_login(slug)
    except AppError as exc:
        raise Http404(str(exc)) from exc
    try:
        url, flow = services.login_begin(provider=provider, next_url=safe_next(request))
    except AuthenticationFailed as exc:
        return _login_error(request, str(exc), status=502)
    request.session[FLOW_KEY] = flow.as_dict()
    return redirect(url)


def _finish(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    session.session_begin(request, user)
    response = redirect(next_url)
    session.mark_signed_in(response)
    return response


@allowed_before_password_change
def sso_callback_view(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        provider = services.provider_for_login(slug)
    except AppError as exc:
        raise Http404(str(exc)) from exc
    # The flow is used once, whatever happens: a replayed callback finds nothing.
    flow = services.Flow.from_dict(request.session.pop(FLOW_KEY, None))
    ip = client_ip(request)
    try:
        signin = services.login_complete(
            flow=flow,
            provider=provider,
            state=request.GET.get("state"),
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            client_ip=ip,
        )
        next_url = flow.next_url if flow else "/"
        if signin.needs_code:
            request.session[PENDING_KEY] = {
                "user_id": str(signin.user.pk),
                "provider": provider.slug,
                "expires": int(time.time()) + PENDING_SECONDS,
                "next": next_url,
            }
            return redirect("sso:code")
        user = account_services.login_external_complete(
            user=signin.user,
            method=f"oidc:{provider.slug}",
            otp_code=None,
            skip_second_factor=True,
            client_ip=ip,
        )
    except Throttled as exc:
        return _login_error(request, throttle_message(exc), status=429)
    except AuthenticationFailed as exc:
        return _login_error(request, str(exc), status=403)
    return _finish(request, user, next_url)


@sensitive_post_parameters("code")
@allowed_before_password_change
def sso_code_view(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("expires", 0) < time.time():
        request.session.pop(PENDING_KEY, None)
        messages.error(request, "Your sign-in expired. Please start again.")
        return redirect("accounts:login")
    user = User.objects.filter(pk=pending["user_id"]).first()
    if user is None:
        request.session.pop(PENDING_KEY, None)
        return redirect("accounts:login")
    form = LoginCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = account_services.login_external_complete(
                user=user,
                method=f"oidc:{pending['provider']}",
                otp_code=form.cleaned_data["code"],
                skip_second_factor=False,
                client_ip=client_ip(request),
            )
        except Throttled as exc:
            form.add_error(None, throttle_message(exc))
            status = 429
        except AuthenticationFailed as exc:
            form.add_error(None, sentence(str(exc)))
            status = 400
        else:
            return _finish(request, user, pending.get("next") or "/")
    return render(
        request, "sso/code.html", {"form": form, "username": user.username}, status=status
    )


# ---------------------------------------------------------------------------------------
# Administration
# ---------------------------------------------------------------------------------------


class ProviderForm(forms.Form):
    slug = forms.SlugField(max_length=50, label="Short name (in the callback URL)")
    name = forms.CharField(
        max_length=100, label="Button label", help_text="Shown as “Sign in with …”."
    )
    issuer = forms.CharField(max_length=500, label="Issuer URL")
    client_id = forms.CharField(max_length=300, label="Client ID")
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Client secret",
        help_text="Stored sealed. Leave empty to keep the stored one.",
    )
    scopes = forms.CharField(max_length=300, initial="openid email profile")
    username_claim = forms.CharField(
        max_length=100, initial="preferred_username", label="User-name claim"
    )
    allowed_domains = forms.CharField(
        required=False, label="Allowed e-mail domains", help_text="Comma-separated; empty: any."
    )
    group_claim = forms.CharField(required=False, max_length=100, label="Group claim")
    required_group = forms.CharField(
        required=False, max_length=300, label="Group required to sign in"
    )
    group_map = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Group claim → user group",
        help_text="One per line: claim value = user group name.",
    )
    role_map = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Group claim → role",
        help_text="One per line: claim value = admin, password_admin, password_user or auditor.",
    )
    default_role = forms.ChoiceField(
        choices=Role.choices, initial=Role.PASSWORD_USER, label="Role of new users"
    )
    jit = forms.BooleanField(required=False, label="Create users on first sign-in (just-in-time)")
    trust_mfa = forms.BooleanField(
        required=False, label="Trust this provider's MFA (skip Strongroom's one-time code)"
    )
    enabled = forms.BooleanField(required=False, initial=True)


def _parse_map(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(line)
            out[key.strip()] = value.strip()
    return out


def _form_values(form: ProviderForm) -> dict[str, Any] | None:
    data = dict(form.cleaned_data)
    data.pop("slug")
    data.pop("client_secret")
    for key in ("group_map", "role_map"):
        try:
            data[key] = _parse_map(data[key])
        except ValueError:
            form.add_error(key, "Write one “claim value = name” per line.")
            return None
    return data


def _initial(provider: OidcProvider) -> dict[str, Any]:
    return {
        "slug": provider.slug,
        "name": provider.name,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scopes": provider.scopes,
        "username_claim": provider.username_claim,
        "allowed_domains": ", ".join(provider.allowed_domains),
        "group_claim": provider.group_claim,
        "required_group": provider.required_group,
        "group_map": "\n".join(f"{k} = {v}" for k, v in provider.group_map.items()),
        "role_map": "\n".join(f"{k} = {v}" for k, v in provider.role_map.items()),
        "default_role": provider.default_role,
        "jit": provider.jit,
        "trust_mfa": provider.trust_mfa,
        "enabled": provider.enabled,
    }


@perm_required(Perm.SETTINGS_MANAGE)
@sensitive_post_parameters("client_secret")
def provider_list_view(request: HttpRequest) -> HttpResponse:
    form = ProviderForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        values = _form_values(form)
        if values is not None:
            try:
                services.provider_create(
                    actor=request.user,  # type: ignore[arg-type]
                    slug=form.cleaned_data["slug"],
                    client_secret=form.cleaned_data["client_secret"],
                    client_ip=client_ip(request),
                    **values,
                )
            except AppError as exc:
                form_error(form, exc)
            else:
                messages.success(request, f"Added the sign-in provider {values['name']}.")
                return redirect("sso:provider_list")
    providers = [(p, services.redirect_uri(p)) for p in OidcProvider.objects.all()]
    return render(request, "sso/admin/providers.html", {"form": form, "providers": providers})


@perm_required(Perm.SETTINGS_MANAGE)
@sensitive_post_parameters("client_secret")
def provider_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    provider = OidcProvider.objects.filter(slug=slug).first()
    if provider is None:
        raise Http404("no such provider")
    form = ProviderForm(
        request.POST if request.method == "POST" else None, initial=_initial(provider)
    )
    form.fields["slug"].disabled = True
    if request.method == "POST" and form.is_valid():
        values = _form_values(form)
        if values is not None:
            try:
                services.provider_update(
                    actor=request.user,  # type: ignore[arg-type]
                    provider=provider,
                    client_secret=form.cleaned_data["client_secret"] or None,
                    client_ip=client_ip(request),
                    **values,
                )
            except AppError as exc:
                form_error(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("sso:provider_detail", slug=provider.slug)
    return render(
        request,
        "sso/admin/provider.html",
        {"form": form, "provider": provider, "redirect_uri": services.redirect_uri(provider)},
    )


@require_POST
@perm_required(Perm.SETTINGS_MANAGE)
def provider_test_view(request: HttpRequest, slug: str) -> HttpResponse:
    provider = OidcProvider.objects.filter(slug=slug).first()
    if provider is None:
        raise Http404("no such provider")
    try:
        services.provider_test(actor=request.user, provider=provider)  # type: ignore[arg-type]
    except AppError as exc:
        messages.error(request, sentence(str(exc)))
    else:
        messages.success(request, "The provider answered: discovery document and keys are valid.")
    return redirect("sso:provider_detail", slug=provider.slug)


@require_POST
@perm_required(Perm.SETTINGS_MANAGE)
def provider_delete_view(request: HttpRequest, slug: str) -> HttpResponse:
    provider = OidcProvider.objects.filter(slug=slug).first()
    if provider is None:
        raise Http404("no such provider")
    services.provider_delete(actor=request.user, provider=provider, client_ip=client_ip(request))  # type: ignore[arg-type]
    messages.success(request, f"Removed the sign-in provider {provider.name}.")
    return redirect("sso:provider_list")
