"""Pages: the user's "Cloud storage" (connect, status, disconnect) and Admin » Integration »
Cloud Storage (providers, S3 endpoint allow-list, proxy, test connection). Thin: the forms
check shape, the services validate, verify with a real request, and audit."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.http import require_POST

from strongroom.accounts.permissions import Perm
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.storage import oauth, registry, services
from strongroom.storage.forms import (
    ConnectForm,
    DisconnectForm,
    OAuthCodeForm,
    ProviderSettingsForm,
    ProxyForm,
)
from strongroom.storage.models import StorageConnection
from strongroom.web.errors import form_error
from strongroom.web.helpers import perm_required, sentence


def _connect_form(provider: str, data: Any = None) -> ConnectForm:
    admin_config, _ = registry.admin_settings(provider)
    return ConnectForm(data, provider=provider, admin_config=admin_config, auto_id=f"{provider}_%s")


_JUST_CONNECTED = "storage_just_connected"


def _connections_render(
    request: HttpRequest, *, forms: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    forms = forms or {}
    existing = {c.provider: c for c in services.storage_connections_for(request.user)}
    cards = []
    for name in registry.providers_available():
        cls = registry.provider_class(name)
        if cls.auth_kind == "oauth":
            form = forms.get(name) or OAuthCodeForm(auto_id=f"{name}_%s")
        else:
            form = forms.get(name) or _connect_form(name)
        conn = existing.get(name)
        cards.append(
            {
                "name": name,
                "label": cls.label,
                "oauth_flow": cls.oauth_flow if cls.auth_kind == "oauth" else "",
                "connection": conn,
                "form": form,
                "disconnect_form": DisconnectForm(auto_id=f"dc_{name}_%s"),
            }
        )
    # Set by the redirect flow's callback for the one page load that follows it (in the window
    # the provider sent back): storage.js tells the window that started the flow to reload.
    just_connected = request.session.pop(_JUST_CONNECTED, "")
    context = {"cards": cards, "just_connected": just_connected}
    return render(request, "storage/connections.html", context, status=status)


@login_required
def connections(request: HttpRequest) -> HttpResponse:
    return _connections_render(request)


@login_required
@require_POST
def connect(request: HttpRequest, provider: str) -> HttpResponse:
    if (
        provider not in registry.providers_available()
        or registry.provider_class(provider).auth_kind != "keys"
    ):
        messages.error(request, "This storage provider is not enabled.")
        return redirect("storage:connections")
    form = _connect_form(provider, request.POST)
    if form.is_valid():
        config, creds = form.split()
        try:
            conn = services.storage_connection_save(
                actor=request.user,
                provider=provider,
                config=config,
                credentials=creds,
                client_ip=client_ip(request),
            )
        except AppError as exc:
            form_error(form, exc)
            _offer_confirmation(form, exc)
        else:
            label = registry.provider_class(provider).label
            messages.success(request, sentence(f"{label} connected: {conn.account_label}"))
            return redirect("storage:connections")
    return _connections_render(request, forms={provider: form}, status=400)


def _offer_confirmation(form: ConnectForm, exc: AppError) -> None:
    """A provider that needs the user to confirm something the server presented (an SFTP
    host key) names the field and value in ``details["confirm"]``: the form is shown again
    with that value filled in and the confirm button labelled (secrets are asked again)."""
    confirm = exc.details.get("confirm")
    if not isinstance(confirm, dict) or confirm.get("field") not in form.fields:
        return
    data = dict(form.data.items())
    data[str(confirm["field"])] = str(confirm.get("value") or "")
    form.data = data
    form.confirm = confirm  # type: ignore[attr-defined]


# -- OAuth providers (Dropbox, Box): storage/oauth.py ---------------------------------


def _state_key(provider: str) -> str:
    return f"strongroom.oauth_state.{provider}"


@login_required
def oauth_authorize(request: HttpRequest, provider: str) -> HttpResponse:
    """Start an authorisation and send the browser to the provider's consent page.

    A GET link, opened in a new window (both flows): a form POST could not redirect
    to the provider's origin under ``form-action 'self'``. It only creates a pending
    authorisation for the signed-in user, so a forged request gains an attacker nothing.
    """
    if provider not in registry.providers_available():
        messages.error(request, "This storage provider is not enabled.")
        return redirect("storage:connections")
    if request.session.session_key is None:
        request.session.save()
    try:
        start = oauth.storage_oauth_begin(
            actor=request.user,
            provider=provider,
            session_key=request.session.session_key or "",
            client_ip=client_ip(request),
        )
    except AppError as exc:
        messages.error(request, sentence(exc.message))
        return redirect("storage:connections")
    request.session[_state_key(provider)] = start.state
    response = HttpResponseRedirect(start.authorize_url)
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
def oauth_code(request: HttpRequest, provider: str) -> HttpResponse:
    """The paste flow: the code the provider showed the user."""
    if provider not in registry.providers_available():
        messages.error(request, "This storage provider is not enabled.")
        return redirect("storage:connections")
    form = OAuthCodeForm(request.POST, auto_id=f"{provider}_%s")
    form.is_valid()
    try:
        conn = oauth.storage_oauth_complete(
            actor=request.user,
            provider=provider,
            state=request.session.get(_state_key(provider), ""),
            code=form.cleaned_data.get("code", ""),
            session_key=request.session.session_key or "",
            client_ip=client_ip(request),
        )
    except AppError as exc:
        form_error(form, exc)
        if any(
            c.provider == provider and c.status == "connected"
            for c in services.storage_connections_for(request.user)
        ):
            # A connected card shows no code form (a code posted from a stale tab): say it
            # where the page shows messages instead.
            messages.error(request, sentence(exc.message))
        return _connections_render(request, forms={provider: form}, status=400)
    request.session.pop(_state_key(provider), None)
    label = registry.provider_class(provider).label
    messages.success(request, sentence(f"{label} connected: {conn.account_label}"))
    return redirect("storage:connections")


@login_required
def oauth_callback(request: HttpRequest, provider: str) -> HttpResponse:
    """The redirect flow: the provider sends the browser back with ``code`` and ``state``."""
    if provider not in registry.providers_available():
        messages.error(request, "This storage provider is not enabled.")
        return redirect("storage:connections")
    label = registry.provider_class(provider).label
    error = request.GET.get("error", "")
    if error:
        # The user denied access, or the provider refused the request: nothing to complete.
        request.session.pop(_state_key(provider), None)
        text = "access was denied" if error == "access_denied" else f"error {error[:80]}"
        messages.error(request, sentence(f"{label} did not authorise Strongroom: {text}"))
        return redirect("storage:connections")
    # The service checks that this state was started by this user in this session (so a
    # callback carrying another user's state links nothing) and spends it.
    request.session.pop(_state_key(provider), None)
    try:
        conn = oauth.storage_oauth_complete(
            actor=request.user,
            provider=provider,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            session_key=request.session.session_key or "",
            client_ip=client_ip(request),
        )
    except AppError as exc:
        messages.error(request, sentence(exc.message))
        return redirect("storage:connections")
    messages.success(request, sentence(f"{label} connected: {conn.account_label}"))
    request.session[_JUST_CONNECTED] = provider
    return redirect("storage:connections")


@login_required
@require_POST
def disconnect(request: HttpRequest, connection_id: Any) -> HttpResponse:
    form = DisconnectForm(request.POST)
    form.is_valid()
    try:
        conn = services.storage_connection_disconnect(
            actor=request.user,
            connection_id=connection_id,
            delete_remote_copy=bool(form.cleaned_data.get("delete_remote_copy")),
            client_ip=client_ip(request),
        )
    except AppError as exc:
        messages.error(request, sentence(exc.message))
    else:
        messages.success(request, sentence(f"Disconnected; {conn.status_message}"))
    return redirect("storage:connections")


# -- admin ----------------------------------------------------------------------------


def _admin_render(
    request: HttpRequest,
    *,
    provider_forms: dict[str, Any] | None = None,
    proxy_form: ProxyForm | None = None,
    test_result: Any = None,
    status: int = 200,
) -> HttpResponse:
    provider_forms = provider_forms or {}
    cards = []
    for name in registry.provider_names():
        row = services.provider_settings_get(name)
        initial = ProviderSettingsForm.initial_from(name, enabled=row.enabled, config=row.config)
        cards.append(
            {
                "name": name,
                "label": registry.provider_class(name).label,
                # Set-up guide of a provider that needs one: storage/admin_guide_<name>.html.
                "guide": _template_or_none(f"storage/admin_guide_{name}.html"),
                "redirect_uri": oauth.oauth_redirect_uri(name),
                "row": row,
                "form": provider_forms.get(name)
                or ProviderSettingsForm(initial=initial, provider=name, auto_id=f"{name}_%s"),
                "test_result": (
                    test_result if test_result and test_result.provider == name else None
                ),
                "connections": StorageConnection.objects.filter(
                    provider=name, status=StorageConnection.Status.CONNECTED
                ).count(),
            }
        )
    proxy = services.proxy_settings_get()
    if proxy_form is None:
        proxy_form = ProxyForm(
            initial={
                "enabled": proxy.enabled,
                "host": proxy.host,
                "port": proxy.port,
                "username": proxy.username,
            },
            auto_id="proxy_%s",
        )
    context = {
        "cards": cards,
        "proxy_form": proxy_form,
        "proxy_has_password": proxy.password is not None,
    }
    return render(request, "storage/admin.html", context, status=status)


def _template_or_none(name: str) -> str | None:
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return None
    return name


@perm_required(Perm.SETTINGS_MANAGE)
def admin_settings(request: HttpRequest) -> HttpResponse:
    return _admin_render(request)


@perm_required(Perm.SETTINGS_MANAGE)
@require_POST
def admin_provider(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in registry.provider_names():
        messages.error(request, "Unknown storage provider.")
        return redirect("storage:admin")
    form = ProviderSettingsForm(request.POST, provider=provider, auto_id=f"{provider}_%s")
    if form.is_valid():
        try:
            services.provider_settings_update(
                actor=request.user,
                provider=provider,
                enabled=form.cleaned_data["enabled"],
                config=form.config(),
                secret=form.secret(),
                client_ip=client_ip(request),
            )
        except AppError as exc:
            form_error(form, exc)
        else:
            label = registry.provider_class(provider).label
            messages.success(request, f"{label} settings saved.")
            return redirect("storage:admin")
    return _admin_render(request, provider_forms={provider: form}, status=400)


@perm_required(Perm.SETTINGS_MANAGE)
@require_POST
def admin_proxy(request: HttpRequest) -> HttpResponse:
    form = ProxyForm(request.POST, auto_id="proxy_%s")
    if form.is_valid():
        data = form.cleaned_data
        password: str | None = data["password"] or None
        if data["clear_password"]:
            password = ""
        try:
            services.proxy_settings_update(
                actor=request.user,
                enabled=data["enabled"],
                host=data["host"],
                port=data["port"],
                username=data["username"],
                password=password,
                client_ip=client_ip(request),
            )
        except AppError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Proxy settings saved.")
            return redirect("storage:admin")
    return _admin_render(request, proxy_form=form, status=400)


@perm_required(Perm.SETTINGS_MANAGE)
@require_POST
def admin_test(request: HttpRequest, provider: str) -> HttpResponse:
    try:
        result = services.provider_test_connection(
            actor=request.user, provider=provider, client_ip=client_ip(request)
        )
    except AppError as exc:
        messages.error(request, sentence(exc.message))
        return redirect("storage:admin")
    return _admin_render(request, test_result=result)
