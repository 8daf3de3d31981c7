"""Export endpoints of the REST API (mounted at /api/v1/ by strongroom.api.main).

``GET /exports`` tells the caller what they may export; ``POST /exports/offline`` (``format``
"html" or "kdbx"), ``POST /exports/html`` and
``POST /exports/spreadsheet`` answer with the file itself (an attachment, never cached), its
SHA-256 in ``X-Strongroom-SHA256`` and the number of entries in
``X-Strongroom-Entry-Count``. ``GET/PUT /export-policy`` and the rule endpoints are for
administrators. Refusals use the API's one error shape (400 bad input or passphrase refused
by the policy, 403 export refused by the policy, 404 unknown resource group).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Body, Router, Schema, Status

from strongroom.accounts.permissions import Perm, require_perm
from strongroom.core.request import client_ip
from strongroom.exports import policy as export_policy
from strongroom.exports import selectors, services
from strongroom.exports.views import file_response

router = Router(tags=["exports"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class HtmlExportIn(Schema):
    passphrase: Any = None
    reason: Any = ""
    resource_group_ids: list[str] | None = None
    # A selection instead of groups (at most vault.bulk.MAX_SELECTION; all or nothing).
    resource_ids: list[str] | None = None


class OfflineExportIn(HtmlExportIn):
    # "html" (encrypted web page) or "kdbx" (KeePass database), as the policy allows.
    format: Any = "html"


class SpreadsheetExportIn(Schema):
    format: Any = "csv"
    with_passwords: bool = False
    reason: Any = ""
    resource_group_ids: list[str] | None = None
    resource_ids: list[str] | None = None


class ExportOptionsOut(Schema):
    export_allowed: bool
    decided_by: str
    explanation: str
    export_enabled: bool
    plain_text_allowed: bool
    reason_required: bool
    passphrase_min_length: int
    passphrase_min_score: int
    kdf_iterations: int
    max_age_days: int
    offline_formats: list[str]
    kdbx_memory_mib: int
    kdbx_iterations: int
    kdbx_parallelism: int
    html_attachment_max_bytes: int
    html_attachments_total_bytes: int
    entry_count: int


class RuleOut(Schema):
    id: UUID
    subject_type: str
    subject_id: str
    subject_name: str
    allowed: bool


class PolicyOut(Schema):
    export_enabled: bool
    plain_text_allowed: bool
    reason_required: bool
    passphrase_min_length: int
    passphrase_min_score: int
    kdf_iterations: int
    kdf_iterations_minimum: int
    max_age_days: int
    offline_formats: list[str]
    kdbx_memory_mib: int
    kdbx_iterations: int
    kdbx_parallelism: int
    html_attachment_max_bytes: int
    html_attachments_total_bytes: int
    rules: list[RuleOut]


class RuleIn(Schema):
    user_id: str | None = None
    user_group_id: str | None = None
    role: str | None = None
    allowed: Any = None


def _rule_out(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id,
        "subject_type": rule.subject_type,
        "subject_id": str(rule.user_id or rule.user_group_id or rule.role),
        "subject_name": rule.subject_name,
        "allowed": rule.allowed,
    }


def _policy_out(actor: Any) -> dict[str, Any]:
    return {
        **export_policy.policy_get().as_dict(),
        "kdf_iterations_minimum": export_policy.iterations_minimum(),
        "rules": [_rule_out(r) for r in selectors.export_rules_list(actor=actor)],
    }


@router.get("/exports", response=ExportOptionsOut)
def export_options(request: HttpRequest) -> Any:
    """What the caller may export under the current policy, and how many entries their
    whole scope holds."""
    user = _actor(request)
    current = export_policy.policy_get()
    decision = export_policy.export_decision(user=user, policy=current)
    return {
        "export_allowed": decision.allowed,
        "decided_by": decision.source,
        "explanation": decision.explanation,
        **current.as_dict(),
        "entry_count": selectors.export_count(user=user),
    }


@router.post("/exports/html")
def export_html(request: HttpRequest, payload: HtmlExportIn) -> HttpResponse:
    """The encrypted offline copy (``text/html`` attachment) of the caller's scope or of
    the given resource groups, locked with ``passphrase`` (checked against the policy)."""
    result = services.export_offline_html(
        actor=_actor(request),
        passphrase=payload.passphrase,
        reason=payload.reason,
        resource_group_ids=payload.resource_group_ids,
        resource_ids=payload.resource_ids,
        client_ip=client_ip(request),
    )
    return file_response(result)


@router.post("/exports/offline")
def export_offline(request: HttpRequest, payload: OfflineExportIn) -> HttpResponse:
    """The offline copy in ``format``: "html" (``text/html``, as ``/exports/html``) or
    "kdbx" (a KeePass database, ``application/x-keepass2``), locked with ``passphrase``.
    403 ``format_not_allowed`` when the policy does not allow the format."""
    result = services.export_offline(
        actor=_actor(request),
        passphrase=payload.passphrase,
        fmt=payload.format,
        reason=payload.reason,
        resource_group_ids=payload.resource_group_ids,
        resource_ids=payload.resource_ids,
        client_ip=client_ip(request),
    )
    return file_response(result)


@router.post("/exports/spreadsheet")
def export_spreadsheet(request: HttpRequest, payload: SpreadsheetExportIn) -> HttpResponse:
    """A CSV or XLSX attachment; ``with_passwords`` needs the policy's plain-text
    permission (without it the file holds no password, TOTP seed or note)."""
    result = services.export_spreadsheet(
        actor=_actor(request),
        fmt=payload.format,
        with_passwords=payload.with_passwords,
        reason=payload.reason,
        resource_group_ids=payload.resource_group_ids,
        resource_ids=payload.resource_ids,
        client_ip=client_ip(request),
    )
    return file_response(result)


@router.get("/export-policy", response=PolicyOut)
def export_policy_get(request: HttpRequest) -> Any:
    require_perm(_actor(request), Perm.SETTINGS_MANAGE)
    return _policy_out(_actor(request))


@router.put("/export-policy", response=PolicyOut)
def export_policy_put(request: HttpRequest, values: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
    """Change the given policy fields (others keep their values); all or nothing, audited.
    ``rules`` in the body is refused: change rules with the rule endpoints."""
    services.export_policy_update(
        actor=_actor(request), values=values, client_ip=client_ip(request)
    )
    return _policy_out(_actor(request))


@router.post("/export-policy/rules", response={201: RuleOut})
def export_rule_set(request: HttpRequest, payload: RuleIn) -> Any:
    """Allow or refuse export for one user, user group or role (replaces its rule)."""
    rule = services.export_rule_set(
        actor=_actor(request),
        allowed=payload.allowed,
        user_id=payload.user_id,
        user_group_id=payload.user_group_id,
        role=payload.role,
        client_ip=client_ip(request),
    )
    return Status(201, _rule_out(rule))


@router.delete("/export-policy/rules/{rule_id}", response={204: None})
def export_rule_delete(request: HttpRequest, rule_id: str) -> Any:
    services.export_rule_delete(
        actor=_actor(request), rule_id=rule_id, client_ip=client_ip(request)
    )
    return Status(204, None)
