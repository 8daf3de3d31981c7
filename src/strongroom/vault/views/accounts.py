"""Vault pages: accounts, password and TOTP retrieval (JSON for the page script), history.

Thin like the REST API (``vault.api``): read through ``vault.selectors``, change through
``vault.services``; every response carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from strongroom.core.errors import Conflict, ValidationFailed
from strongroom.vault import selectors, services
from strongroom.vault.forms import AccountForm
from strongroom.vault.models import AccessLevel, Resource
from strongroom.vault.views.common import (
    _actor,
    _ip,
    _reason,
    _reason_required,
    vault_json,
    vault_page,
)
from strongroom.web.errors import form_error


def _account_form_page(
    request: HttpRequest, form: AccountForm, resource: Resource, account: Any = None
) -> HttpResponse:
    return render(
        request,
        "vault/account_form.html",
        {"form": form, "resource": resource, "account": account},
    )


@vault_page
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = selectors.resource_get(
        user=user, resource_id=resource_id, min_level=AccessLevel.MODIFY
    )
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_create(
                actor=user, resource_id=resource.pk, client_ip=_ip(request), **form.create_kwargs()
            )
        except (ValidationFailed, Conflict) as exc:
            form_error(form, exc, verbatim=True)
        else:
            messages.success(request, "Account added.")
            return redirect("vault:resource_detail", resource_id=resource.pk)
    return _account_form_page(request, form, resource)


@vault_page
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id, min_level=AccessLevel.MODIFY)
    has_totp = account.totp_seed is not None
    initial = {"username": account.username, "notes": selectors.account_notes(account=account)}
    form = AccountForm(request.POST or None, initial=initial, editing=True, has_totp=has_totp)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(
                actor=user, account_id=account.pk, client_ip=_ip(request), **form.update_kwargs()
            )
        except (ValidationFailed, Conflict) as exc:
            form_error(form, exc, verbatim=True)
        else:
            messages.success(request, "Account saved.")
            return redirect("vault:resource_detail", resource_id=account.resource_id)
    return _account_form_page(request, form, account.resource, account)


@vault_page
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id, min_level=AccessLevel.MANAGE)
    if request.method == "POST":
        services.account_delete(actor=user, account_id=account.pk, client_ip=_ip(request))
        messages.success(request, "Account deleted.")
        return redirect("vault:resource_detail", resource_id=account.resource_id)
    return render(
        request,
        "vault/confirm_delete.html",
        {
            "title": "Delete account",
            "object_name": f"{account.resource.name} / {account.username}",
            "consequence": "Its password and password history are deleted. This cannot be undone.",
            "cancel_url": reverse("vault:resource_detail", args=[account.resource_id]),
        },
    )


@vault_json
def password_retrieve(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    password = services.password_retrieve(
        actor=_actor(request),
        account_id=account_id,
        reason=_reason(request),
        client_ip=_ip(request),
    )
    return JsonResponse({"password": password})


@vault_json
def totp_code(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    code = services.account_totp_code(
        actor=_actor(request),
        account_id=account_id,
        reason=_reason(request),
        client_ip=_ip(request),
    )
    return JsonResponse(
        {"code": code.code, "period": code.period, "remaining_seconds": code.remaining_seconds}
    )


@vault_page
def password_history(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id)
    entries = services.password_history_list(actor=user, account_id=account.pk)
    return render(
        request,
        "vault/password_history.html",
        {
            "account": account,
            "resource": account.resource,
            "entries": entries,
            "reason_required": _reason_required(),
        },
    )


@vault_json
def password_history_retrieve(
    request: HttpRequest, account_id: uuid.UUID, history_id: uuid.UUID
) -> HttpResponse:
    password = services.password_history_retrieve(
        actor=_actor(request),
        account_id=account_id,
        history_id=history_id,
        reason=_reason(request),
        client_ip=_ip(request),
    )
    return JsonResponse({"password": password})
