"""Vault pages: an account's attachments (list, upload, download, delete).

Works without script: uploads are a plain multipart form, downloads a POST form (with the
reason field when the administrator requires one) answered with the file itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from strongroom.core.errors import Conflict, ValidationFailed
from strongroom.vault import attachments, selectors
from strongroom.vault.models import AccessLevel
from strongroom.vault.views.common import _actor, _ip, _reason, _reason_required, vault_page
from strongroom.web.errors import form_error


class AttachmentForm(forms.Form):
    file = forms.FileField(label="File", allow_empty_file=True)
    name = forms.CharField(
        label="Name (optional)",
        required=False,
        strip=False,
        max_length=10_000,
        help_text="Leave empty to keep the file's own name.",
    )


def _page(request: HttpRequest, account: Any, form: AttachmentForm, status: int = 200) -> Any:
    level = account.access_level
    return render(
        request,
        "vault/attachments.html",
        {
            "account": account,
            "resource": account.resource,
            "attachments": attachments.attachments_list(
                actor=_actor(request), account_id=account.pk
            ),
            "form": form,
            "can_modify": level >= AccessLevel.MODIFY,
            "reason_required": _reason_required(),
            "max_bytes": attachments.attachment_max_bytes(),
            "max_count": attachments.MAX_PER_ACCOUNT,
        },
        status=status,
    )


@vault_page
@require_http_methods(["GET", "POST"])
def attachment_list(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id)
    form = AttachmentForm(request.POST or None, request.FILES or None)
    if request.method != "POST":
        return _page(request, account, AttachmentForm())
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            attachment = attachments.attachment_upload(
                actor=user,
                account_id=account.pk,
                name=form.cleaned_data["name"] or upload.name or "",
                data=upload.read(attachments.attachment_max_bytes() + 1),
                client_ip=_ip(request),
            )
        except (ValidationFailed, Conflict) as exc:
            form_error(form, exc, verbatim=True)
        else:
            messages.success(request, f"Attached {attachment.name}.")
            return redirect("vault:attachment_list", account_id=account.pk)
    return _page(request, account, form, status=400)


@vault_page
@require_POST
def attachment_download(
    request: HttpRequest, account_id: uuid.UUID, attachment_id: uuid.UUID
) -> HttpResponse:
    attachment, data = attachments.attachment_download(
        actor=_actor(request),
        account_id=account_id,
        attachment_id=attachment_id,
        reason=_reason(request),
        client_ip=_ip(request),
    )
    return attachments.download_response(attachment, data)


@vault_page
@require_http_methods(["GET", "POST"])
def attachment_delete(
    request: HttpRequest, account_id: uuid.UUID, attachment_id: uuid.UUID
) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id, min_level=AccessLevel.MODIFY)
    found = attachments.attachments_list(actor=user, account_id=account.pk).filter(pk=attachment_id)
    attachment = found.first()
    if request.method == "POST" or attachment is None:
        # A missing attachment answers 404 through the service, as the API does.
        attachments.attachment_delete(
            actor=user, account_id=account.pk, attachment_id=attachment_id, client_ip=_ip(request)
        )
        messages.success(request, "Attachment deleted.")
        return redirect("vault:attachment_list", account_id=account.pk)
    return render(
        request,
        "vault/confirm_delete.html",
        {
            "title": "Delete attachment",
            "object_name": attachment.name,
            "consequence": "The file is deleted from this account. This cannot be undone.",
            "cancel_url": reverse("vault:attachment_list", args=[account.pk]),
        },
    )
