"""Vault pages: CSV import.

Thin like the REST API (``vault.api``): read through ``vault.selectors``, change through
``vault.services``; every response carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from strongroom.accounts.permissions import Perm, require_perm
from strongroom.core.errors import ValidationFailed
from strongroom.vault import importers, services
from strongroom.vault.forms import ImportForm
from strongroom.vault.views.common import _actor, _ip, vault_page
from strongroom.web.errors import form_error


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


@vault_page
@require_http_methods(["GET", "POST"])
def import_csv(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    require_perm(user, Perm.IMPORT)
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        # One byte past the limit, so an oversized file is reported without reading it all.
        data = upload.read(importers.MAX_IMPORT_BYTES + 1)
        try:
            report = services.import_csv(
                actor=user,
                data=data,
                fmt=form.cleaned_data["format"],
                mode=form.cleaned_data["mode"] or "skip",
                password=form.cleaned_data["password"] or None,
                client_ip=_ip(request),
            )
        except ValidationFailed as exc:
            form_error(form, exc, verbatim=True)
        else:
            if report.ok and not (report.skipped_count or report.updated_count):
                messages.success(request, _sentence(report.summary()))
                return redirect("vault:resource_list")
    return render(
        request,
        "vault/import.html",
        {
            "form": form,
            "summary": _sentence(report.summary()) if report else "",
            "report": report,
            "max_mib": importers.MAX_IMPORT_BYTES // (1024 * 1024),
            "max_rows": importers.MAX_IMPORT_ROWS,
        },
        status=400 if report is not None and not report.ok else 200,
    )
