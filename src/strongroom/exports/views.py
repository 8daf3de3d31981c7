"""Web pages: the Export menu (encrypted HTML file, spreadsheets) and Admin → Export /
Offline Access. Thin: forms check shape, the services apply the policy and audit.

The download forms work without JavaScript (a POST answered with the file, or the page
again with the errors). With JavaScript (``exports/export.js``) they are sent with
``fetch``: errors come back as JSON in the API's shape (``web.errors``) and are shown in
the dialog by ``web/form_errors.js``, the file is saved from the response.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from strongroom.accounts.permissions import Perm
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.exports import policy as export_policy
from strongroom.exports import selectors, services
from strongroom.exports.forms import HtmlExportForm, PolicyForm, RuleForm, SpreadsheetExportForm
from strongroom.exports.services import ExportResult
from strongroom.web.errors import error_json, form_error, form_errors_json, wants_json
from strongroom.web.helpers import perm_required, sentence

# Downloads must never be rendered by the browser as a page of this site, nor cached.
DOWNLOAD_CSP = "sandbox; default-src 'none'"


def file_response(result: ExportResult) -> HttpResponse:
    response = HttpResponse(result.content, content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    response["Content-Length"] = str(len(result.content))
    response["X-Strongroom-SHA256"] = result.sha256
    response["X-Strongroom-Entry-Count"] = str(result.entry_count)
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["X-Content-Type-Options"] = "nosniff"
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store"
    return response


def _groups(user: Any) -> list[tuple[str, str]]:
    return [
        (str(pk), name)
        for pk, name in selectors.export_groups_choosable(user=user).values_list("pk", "name")
    ]


def _menu_context(
    request: HttpRequest,
    *,
    html_form: HtmlExportForm | None = None,
    sheet_form: SpreadsheetExportForm | None = None,
    open_dialog: bool = False,
) -> dict[str, Any]:
    user = request.user
    current = export_policy.policy_get()
    groups = _groups(user)
    return {
        "policy": current,
        "decision": export_policy.export_decision(user=user, policy=current),  # type: ignore[arg-type]
        "entry_count": selectors.export_count(user=user),  # type: ignore[arg-type]
        "html_form": html_form or HtmlExportForm(policy=current, groups=groups, auto_id="html_%s"),
        "sheet_form": sheet_form
        or SpreadsheetExportForm(policy=current, groups=groups, auto_id="sheet_%s"),
        "open_dialog": open_dialog,
    }


@login_required
def export_menu(request: HttpRequest) -> HttpResponse:
    response = render(request, "exports/menu.html", _menu_context(request))
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def export_html(request: HttpRequest) -> HttpResponse:
    current = export_policy.policy_get()
    form = HtmlExportForm(
        request.POST, policy=current, groups=_groups(request.user), auto_id="html_%s"
    )
    if form.is_valid():
        try:
            result = services.export_offline(
                actor=request.user,  # type: ignore[arg-type]
                passphrase=form.cleaned_data["passphrase"],
                fmt=form.cleaned_data["format"],
                reason=form.cleaned_data.get("reason") or "",
                resource_group_ids=form.resource_group_ids(),
                client_ip=client_ip(request),
            )
        except AppError as exc:
            if wants_json(request):
                return error_json(exc)
            form_error(form, exc)
        else:
            return file_response(result)
    elif wants_json(request):
        return form_errors_json(form)
    context = _menu_context(request, html_form=form, open_dialog=True)
    return render(request, "exports/menu.html", context)


@login_required
@require_POST
def export_spreadsheet(request: HttpRequest) -> HttpResponse:
    current = export_policy.policy_get()
    form = SpreadsheetExportForm(
        request.POST, policy=current, groups=_groups(request.user), auto_id="sheet_%s"
    )
    if form.is_valid():
        try:
            result = services.export_spreadsheet(
                actor=request.user,  # type: ignore[arg-type]
                fmt=form.cleaned_data["format"],
                with_passwords=bool(form.cleaned_data.get("with_passwords")),
                reason=form.cleaned_data.get("reason") or "",
                resource_group_ids=form.resource_group_ids(),
                client_ip=client_ip(request),
            )
        except AppError as exc:
            if wants_json(request):
                return error_json(exc)
            form_error(form, exc)
        else:
            return file_response(result)
    elif wants_json(request):
        return form_errors_json(form)
    return render(request, "exports/menu.html", _menu_context(request, sheet_form=form))


# --------------------------------------------------------------------------- a selection


def _selection_render(
    request: HttpRequest,
    *,
    html_form: HtmlExportForm | None = None,
    sheet_form: SpreadsheetExportForm | None = None,
    error: AppError | None = None,
    status: int = 200,
) -> HttpResponse:
    """The page for exporting the resources ticked in the resource list: the selection is
    resolved through the access rules (every one visible, or the refusal names each)."""
    user = request.user
    current = export_policy.policy_get()
    ids = request.POST.getlist("resource")
    scope = None
    refused: list[Any] = []
    if error is None:
        try:
            scope = selectors.export_scope_resolve(
                user=user,  # type: ignore[arg-type]
                resource_group_ids=None,
                resource_ids=ids,
            )
        except AppError as exc:
            error, status = exc, exc.status
    if error is not None:
        refused = error.details.get("refused", [])
    context = {
        "policy": current,
        "decision": export_policy.export_decision(user=user, policy=current),  # type: ignore[arg-type]
        "scope": scope,
        "entry_count": selectors.export_count(user=user, scope=scope) if scope else 0,  # type: ignore[arg-type]
        "error": error,
        "refused": refused,
        "html_form": html_form
        or HtmlExportForm(policy=current, groups=[], auto_id="html_%s", initial={"scope": "all"}),
        "sheet_form": sheet_form
        or SpreadsheetExportForm(
            policy=current, groups=[], auto_id="sheet_%s", initial={"scope": "all"}
        ),
        "next": request.POST.get("next", ""),
    }
    response = render(request, "exports/selection.html", context, status=status)
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def export_selection(request: HttpRequest) -> HttpResponse:
    """Export the selected resources (``resource`` fields): ``kind`` html (the offline
    copy) or sheet (CSV/XLSX); without ``kind``, the page with both forms. Same service,
    policy and audit as the Export menu, plus one record per selected resource."""
    kind = request.POST.get("kind", "")
    if kind not in {"html", "sheet"}:
        return _selection_render(request)
    current = export_policy.policy_get()
    ids = request.POST.getlist("resource")
    form: HtmlExportForm | SpreadsheetExportForm
    if kind == "html":
        form = HtmlExportForm(request.POST, policy=current, groups=[], auto_id="html_%s")
    else:
        form = SpreadsheetExportForm(request.POST, policy=current, groups=[], auto_id="sheet_%s")
    if form.is_valid():
        try:
            if isinstance(form, HtmlExportForm):
                result = services.export_offline(
                    actor=request.user,  # type: ignore[arg-type]
                    passphrase=form.cleaned_data["passphrase"],
                    fmt=form.cleaned_data["format"],
                    reason=form.cleaned_data.get("reason") or "",
                    resource_ids=ids,
                    client_ip=client_ip(request),
                )
            else:
                result = services.export_spreadsheet(
                    actor=request.user,  # type: ignore[arg-type]
                    fmt=form.cleaned_data["format"],
                    with_passwords=bool(form.cleaned_data.get("with_passwords")),
                    reason=form.cleaned_data.get("reason") or "",
                    resource_ids=ids,
                    client_ip=client_ip(request),
                )
        except AppError as exc:
            if exc.details.get("refused"):
                return _selection_render(request, error=exc, status=exc.status)
            form_error(form, exc)
        else:
            return file_response(result)
    if isinstance(form, HtmlExportForm):
        return _selection_render(request, html_form=form, status=400)
    return _selection_render(request, sheet_form=form, status=400)


# --------------------------------------------------------------------------- admin page


def _settings_render(
    request: HttpRequest, *, form: PolicyForm | None = None, rule_form: RuleForm | None = None
) -> HttpResponse:
    current = export_policy.policy_get()
    context = {
        "form": form or PolicyForm(initial=current.as_dict()),
        "rule_form": rule_form or RuleForm(auto_id="rule_%s"),
        "rules": selectors.export_rules_list(actor=request.user),  # type: ignore[arg-type]
        "iterations_minimum": export_policy.iterations_minimum(),
    }
    return render(request, "exports/settings.html", context)


@perm_required(Perm.SETTINGS_MANAGE)
def export_settings(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _settings_render(request)
    form = PolicyForm(request.POST)
    if form.is_valid():
        try:
            services.export_policy_update(
                actor=request.user,  # type: ignore[arg-type]
                values=form.cleaned_data,
                client_ip=client_ip(request),
            )
        except AppError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "The export policy was saved.")
            return redirect("exports:settings")
    return _settings_render(request, form=form)


@perm_required(Perm.SETTINGS_MANAGE)
@require_POST
def export_rule_add(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST, auto_id="rule_%s")
    if form.is_valid():
        try:
            rule = services.export_rule_set(
                actor=request.user,  # type: ignore[arg-type]
                allowed=form.cleaned_data["allowed"],
                client_ip=client_ip(request),
                **form.subject(),
            )
        except AppError as exc:
            form_error(form, exc, fields={"user_id": "user", "user_group_id": "user_group"})
        else:
            verb = "allowed" if rule.allowed else "refused"
            messages.success(request, f"Export is now {verb} for {rule.subject_name}.")
            return redirect("exports:settings")
    return _settings_render(request, rule_form=form)


@perm_required(Perm.SETTINGS_MANAGE)
@require_POST
def export_rule_delete(request: HttpRequest, rule_id: str) -> HttpResponse:
    try:
        services.export_rule_delete(
            actor=request.user,  # type: ignore[arg-type]
            rule_id=rule_id,
            client_ip=client_ip(request),
        )
    except AppError as exc:
        messages.error(request, sentence(exc.message))
    else:
        messages.success(request, "The rule was removed.")
    return redirect("exports:settings")
