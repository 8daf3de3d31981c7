"""The audit trail pages: filtered list with pagination, CSV download of the filtered rows,
and hash-chain verification (auditors and administrators)."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from strongroom.accounts.permissions import Perm
from strongroom.audit import selectors
from strongroom.audit.actions import AuditAction
from strongroom.audit.models import AuditEvent
from strongroom.audit.services import audit_record
from strongroom.core.paging import MAX_OFFSET
from strongroom.core.request import client_ip
from strongroom.web.helpers import perm_required, query_without_page

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
# Up to this many records the list page verifies the whole chain on every visit (a fraction
# of a second); above it, verification runs when asked for (the verify page). A Django
# setting AUDIT_INLINE_VERIFY_LIMIT overrides it.
INLINE_VERIFY_LIMIT = 20_000
OUTCOMES = [("", "Any outcome"), ("success", "Success"), ("failure", "Failure")]
CSV_COLUMNS = [
    "seq",
    "time_utc",
    "actor",
    "action",
    "outcome",
    "object_type",
    "object_id",
    "object_name",
    "reason",
    "client_ip",
    "details",
    "hash",
]
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label="Actor", required=False, max_length=150)
    action = forms.CharField(
        label="Action",
        required=False,
        max_length=64,
        help_text="Exact action, or a family such as user.*",
    )
    outcome = forms.ChoiceField(label="Outcome", required=False, choices=OUTCOMES)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, object_types: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["object_type"] = forms.ChoiceField(
            label="Object type",
            required=False,
            choices=[("", "Any type")] + [(t, t) for t in object_types],
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("actor", "action"):
            if "\x00" in data.get(name, ""):
                self.add_error(name, "Must not contain NUL characters.")
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        return data


@dataclass(frozen=True)
class Filters:
    actor_name: str | None
    action: str | None
    object_type: str | None
    outcome: str | None
    since: datetime | None
    until: datetime | None

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "actor_name": self.actor_name,
            "action": self.action,
            "object_type": self.object_type,
            "outcome": self.outcome,
            "since": self.since,
            "until": self.until,
        }


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _object_types() -> list[str]:
    return list(
        AuditEvent.objects.exclude(object_type="")
        .order_by("object_type")
        .values_list("object_type", flat=True)
        .distinct()
    )


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def _filters(request: HttpRequest) -> tuple[AuditFilterForm, Filters]:
    form = AuditFilterForm(request.GET or None, object_types=_object_types())
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    since, until = data.get("since"), data.get("until")
    return form, Filters(
        actor_name=data.get("actor") or None,
        action=data.get("action") or None,
        object_type=data.get("object_type") or None,
        outcome=data.get("outcome") or None,
        since=_day_start(since) if since else None,
        # The form's end date is inclusive; the selector's "until" is exclusive.
        until=_day_start(until + timedelta(days=1)) if until else None,
    )


def _page_number(request: HttpRequest) -> int:
    """The asked-for page: anything not a number is the first page, and a number past any
    possible page is cut to one the database can seek to (the view then shows the last)."""
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        return 1
    return max(1, min(number, MAX_OFFSET // PAGE_SIZE + 1))


@perm_required(Perm.AUDIT_READ)
def audit_list_view(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    number = _page_number(request)
    page = selectors.audit_event_list(
        actor=request.user,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
        **filters.as_kwargs(),
    )
    pages = max(1, -(-page.total // PAGE_SIZE))
    if number > pages:
        # Past the end (an old link, a hand-edited URL): show the last page.
        number = pages
        page = selectors.audit_event_list(
            actor=request.user,
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
            **filters.as_kwargs(),
        )
    chain = None
    filtered = any(filters.as_kwargs().values())
    total_records = AuditEvent.objects.count() if filtered else page.total
    if total_records <= getattr(settings, "AUDIT_INLINE_VERIFY_LIMIT", INLINE_VERIFY_LIMIT):
        chain = selectors.audit_chain_report(actor=request.user)
    query = query_without_page(request)
    return render(
        request,
        "audit/list.html",
        {
            "form": form,
            "events": page.items,
            "total": page.total,
            "number": number,
            "pages": pages,
            "has_previous": number > 1,
            "has_next": number < pages,
            "first_shown": page.offset + 1 if page.items else 0,
            "last_shown": page.offset + len(page.items),
            "query": query,
            "chain": chain,
            "total_records": total_records,
            "actions": _actions(),
        },
    )


@perm_required(Perm.AUDIT_READ)
def audit_verify_view(request: HttpRequest) -> HttpResponse:
    report = selectors.audit_chain_report(actor=request.user)
    return render(request, "audit/verify.html", {"chain": report})


def csv_cell(value: Any) -> str:
    """Text for one CSV cell, neutralised so a spreadsheet never runs it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_row(event: AuditEvent) -> list[str]:
    values = [
        event.seq,
        event.at.astimezone(UTC).isoformat(timespec="seconds"),
        event.actor_name,
        event.action,
        event.outcome,
        event.object_type,
        event.object_id,
        event.object_name,
        event.reason,
        event.client_ip,
        json.dumps(event.details, sort_keys=True, ensure_ascii=False) if event.details else "",
        event.hash,
    ]
    return [csv_cell(v) for v in values]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(actor: Any, filters: Filters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # lets spreadsheet programs detect UTF-8
    yield writer.writerow(CSV_COLUMNS)
    # Records written while the download runs are left out (they are newer than its start),
    # and the sequence check drops any row an offset shift would repeat.
    started = timezone.now()
    until = min(filters.until, started) if filters.until else started
    kwargs = {**filters.as_kwargs(), "until": until}
    offset = 0
    last_seq: int | None = None
    while True:
        page = selectors.audit_event_list(
            actor=actor, limit=selectors.MAX_PAGE, offset=offset, **kwargs
        )
        for event in page.items:
            if last_seq is not None and event.seq >= last_seq:
                continue
            last_seq = event.seq
            yield writer.writerow(csv_row(event))
        if len(page.items) < selectors.MAX_PAGE:
            return
        offset += selectors.MAX_PAGE


@perm_required(Perm.AUDIT_READ)
def audit_csv_view(request: HttpRequest) -> HttpResponseBase:
    form, filters = _filters(request)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            "The filters are not valid; correct them on the audit trail page.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    applied = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in filters.as_kwargs().items()
        if value
    }
    # Taking a copy of the trail is itself recorded (fail closed like every audited action).
    audit_record(
        actor=request.user,
        action=AuditAction.AUDIT_EXPORT,
        object_type="audit",
        client_ip=client_ip(request),
        details={"format": "csv", "filters": applied},
    )
    logger.info("audit trail CSV download by user id %s", request.user.pk)
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        _csv_lines(request.user, filters), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="strongroom-audit-{stamp}.csv"'
    return response
