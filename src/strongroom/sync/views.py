"""Web pages: the "Sync with <provider>" dialog's target (in the Export menu) and the sync
history. Thin: the form checks shape, ``sync.services`` applies the policy and audits."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.exports import policy as export_policy
from strongroom.sync import copies, selectors, services
from strongroom.sync.common import provider_label
from strongroom.sync.forms import RekeyForm, SyncForm
from strongroom.web.errors import error_json, form_errors_json, wants_json
from strongroom.web.helpers import sentence


@login_required
@require_POST
def sync_start(request: HttpRequest, connection_id: str) -> HttpResponse:
    form = SyncForm(request.POST, policy=export_policy.policy_get())
    if not form.is_valid():
        if wants_json(request):
            return form_errors_json(form)
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("exports:menu")
    try:
        job = services.sync_request(
            actor=request.user,  # type: ignore[arg-type]
            connection_id=connection_id,
            passphrase=form.cleaned_data["passphrase"],
            reason=form.cleaned_data.get("reason") or "",
            client_ip=client_ip(request),
            keep_in_sync=bool(form.cleaned_data.get("keep_in_sync")),
            fmt=form.cleaned_data.get("format") or "html",
        )
    except AppError as exc:
        if wants_json(request):
            return error_json(exc)
        messages.error(request, sentence(exc.message))
        return redirect("exports:menu")
    # Accurate whether or not the queue took it at once: the job is stored, the worker (or,
    # after a queue outage, the sweep) starts it.
    text = (
        "Sync started: the encrypted copy is queued and will be uploaded in the background. "
        "You will be notified when it is there."
    )
    if wants_json(request):
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
    rows = [{"job": job, "label": provider_label(job.provider)} for job in jobs]
    return render(
        request,
        "sync/history.html",
        {"rows": rows, "sees_all": sees_all, "copies": selectors.sync_copies_list(user=user)},  # type: ignore[arg-type]
    )


def _copy_rows(copies: Any, *, actor: Any, policy: export_policy.Policy) -> list[dict[str, Any]]:
    copies = list(copies)
    attempts = selectors.sync_copies_last_attempts(copies)
    return [
        {
            "copy": c,
            "attempt": attempts.get(c.pk),
            "label": provider_label(c.connection.provider),
            "next_at": selectors.sync_copy_next_at(c),
            "mine": c.user_id == actor.pk,
            "rekey_form": RekeyForm(policy=policy, auto_id=f"rekey_{c.pk}_%s")
            if c.user_id == actor.pk
            else None,
        }
        for c in copies
    ]


@login_required
def sync_copies(request: HttpRequest) -> HttpResponse:
    """Each synced copy: provider, location, state, last synced, last error, next scheduled,
    with the controls (stop, keep up to date, re-sync now, new passphrase). Administrators
    see everyone's and can stop any."""
    user = request.user
    sees_all = services.sync_history_visible_to_all(user)  # type: ignore[arg-type]
    copies = selectors.sync_copies_visible(actor=user, user_id=None if sees_all else user.pk)  # type: ignore[arg-type]
    return render(
        request,
        "sync/copies.html",
        {
            "rows": _copy_rows(copies, actor=user, policy=export_policy.policy_get()),
            "sees_all": sees_all,
        },
    )


@login_required
@require_POST
def sync_copy_action(request: HttpRequest, copy_id: str, action: str) -> HttpResponse:
    actor: Any = request.user
    ip = client_ip(request)
    try:
        if action == "stop":
            copies.sync_copy_keep_set(actor=actor, copy_id=copy_id, keep=False, client_ip=ip)
            text = "The copy is no longer kept up to date. The last file stays where it is."
        elif action == "keep":
            copies.sync_copy_keep_set(actor=actor, copy_id=copy_id, keep=True, client_ip=ip)
            text = "The copy is kept up to date again; it is being rebuilt now."
        elif action == "resync":
            copies.sync_copy_resync(actor=actor, copy_id=copy_id, client_ip=ip)
            text = "Re-sync started. You will be notified when the copy is there."
        elif action == "passphrase":
            form = RekeyForm(request.POST, policy=export_policy.policy_get())
            if not form.is_valid():
                messages.error(
                    request, " ".join(str(e) for errs in form.errors.values() for e in errs)
                )
                return redirect("sync:copies")
            copies.sync_copy_rekey(
                actor=actor,
                copy_id=copy_id,
                passphrase=form.cleaned_data["passphrase"],
                reason=form.cleaned_data.get("reason") or "",
                client_ip=ip,
            )
            text = (
                "New passphrase set: the copy is being rebuilt with it. Until the upload lands "
                "the old passphrase opens the file in your storage."
            )
        else:
            return HttpResponse(status=404)
    except AppError as exc:
        messages.error(request, sentence(exc.message))
        return redirect("sync:copies")
    messages.success(request, text)
    return redirect("sync:copies")
