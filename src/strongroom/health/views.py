"""The password health page: the reader's report (accounts they can retrieve, with what was
found), the organisation's counts for administrators and auditors, the Refresh button that
queues a run, and the administrators' breached-list upload. The same selectors and services
as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from strongroom.accounts.permissions import Perm, has_perm
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.health import selectors, services
from strongroom.web.errors import form_error
from strongroom.web.helpers import paginate


class BreachedListForm(forms.Form):
    file = forms.FileField(
        label="List file",
        help_text="A Pwned Passwords SHA-1 file: one SHA1:COUNT line per hash (docs/health.md).",
    )


def _page(request: HttpRequest, form: BreachedListForm | None = None, status: int = 200) -> Any:
    actor: Any = request.user
    report = selectors.health_report(actor=actor)
    wanted = request.GET.get("only", "")
    rows = (
        [a for a in report.accounts if wanted in a.findings]
        if wanted in selectors.FINDINGS
        else [a for a in report.accounts if a.findings or a.stale or a.unchecked]
        if wanted == "problems"
        else report.accounts
    )
    admin = has_perm(actor, Perm.SETTINGS_MANAGE)
    return render(
        request,
        "health/index.html",
        {
            "report": report,
            "rows": paginate(request, rows, per_page=100),
            "wanted": wanted if wanted in (*selectors.FINDINGS, "problems") else "",
            "query": f"only={wanted}" if wanted in (*selectors.FINDINGS, "problems") else "",
            "findings": selectors.FINDINGS,
            "can_load": admin,
            "form": form or (BreachedListForm() if admin else None),
        },
        status=status,
    )


@login_required
def health_index(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def health_refresh(request: HttpRequest) -> HttpResponse:
    try:
        services.health_run_request(actor=request.user, client_ip=client_ip(request))  # type: ignore[arg-type]
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "A new check was asked for; this page shows its results when it is done."
        )
    return redirect("health:index")


@login_required
@require_POST
def breached_list(request: HttpRequest) -> HttpResponse:
    actor: Any = request.user
    if request.POST.get("action") == "clear":
        try:
            services.breached_list_clear(actor=actor, client_ip=client_ip(request))
        except AppError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The breached list was removed.")
        return redirect("health:index")
    form = BreachedListForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            loaded = services.breached_list_load(
                actor=actor, source=upload, name=upload.name or "", client_ip=client_ip(request)
            )
        except AppError as exc:
            form_error(form, exc, fields={"name": "file"})
        else:
            messages.success(
                request,
                f"The breached list was loaded ({loaded.hash_count:,} hashes). "
                "Refresh the report to check passwords against it.",
            )
            return redirect("health:index")
    return _page(request, form=form, status=400)
