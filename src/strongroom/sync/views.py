"""Web pages: the "Sync with <provider>" dialog's target (in the Export menu) and the sync
history. Thin: the form checks shape, ``sync.services`` applies the policy and audits."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.exports import policy as export_policy
from strongroom.exports.views import _app_error_json, _form_errors_json, _wants_json
from strongroom.sync import selectors, services
from strongroom.sync.forms import SyncForm
from strongroom.web.helpers import sentence


@login_required
@require_POST
def sync_start(request: HttpRequest, connection_id: str) -> HttpResponse:
    form = SyncForm(request.POST, policy=export_policy.policy_get())
    if not form.is_valid():
        if _wants_json(request):
            return _form_errors_json(form)
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("exports:menu")
    try:
        job = services.sync_request(
            actor=request.user,  # type: ignore[arg-type]
            connection_id=connection_id,
            passphrase=form.cleaned_data["passphrase"],
            reason=form.cleaned_data.get("reason") or "",
            client_ip=client_ip(request),
        )
    except AppError as exc:
        if _wants_json(request):
            return _app_error_json(exc)
        messages.error(request, sentence(exc.message))
        return redirect("exports:menu")
    text = (
        "Sync started: the encrypted copy is being uploaded. You will be notified when it is there."
    )
    if _wants_json(request):
        return JsonResponse(
            {"job_id": str(job.pk), "state": job.state, "message": text}, status=202
        )
    messages.success(request, text)
    return redirect("sync:history")


@login_required
def sync_history(request: HttpRequest) -> HttpResponse:
    user = request.user
    sees_all = services.sync_history_visible_to_all(user)  # type: ignore[arg-type]
    user_id = request.GET.get("user") if sees_all else None
    jobs = selectors.sync_jobs_list(actor=user, user_id=user_id or (None if sees_all else user.pk))  # type: ignore[arg-type]
    return render(
        request,
        "sync/history.html",
        {"jobs": jobs, "sees_all": sees_all, "copies": selectors.sync_copies_list(user=user)},  # type: ignore[arg-type]
    )
