"""The audit trail pages: filters, pagination, CSV download of exactly the filtered rows
with spreadsheet formulas neutralised, and the hash-chain status."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from factories import PASSWORD, user_make
from strongroom.accounts import services
from strongroom.audit.models import AuditEvent
from strongroom.audit.services import audit_record
from strongroom.audit.views import csv_cell
from strongroom.core.errors import AuthenticationFailed

from .conftest import client_for

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict[str, str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="strongroom-audit-')
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain = text", "plain = text"),
        ("", ""),
        (42, "42"),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_audit_list_filters_and_shows_sign_ins():
    auditor = user_make("auditor")
    other = user_make()
    services.login_authenticate(username=other.username, password=PASSWORD, client_ip="10.0.0.7")
    services.login_authenticate(username=auditor.username, password=PASSWORD, client_ip=None)
    with pytest.raises(AuthenticationFailed):
        services.login_authenticate(username=other.username, password="wrong", client_ip=None)
    client = client_for(auditor)
    url = reverse("audit:list")
    page = client.get(url, {"action": "auth.login"}).content.decode()
    assert "Showing 1\N{EN DASH}2 of 2 records" in page and "10.0.0.7" in page
    failures = client.get(url, {"outcome": "failure"}).content.decode()
    assert "auth.login_failed" in failures and "row-failure" in failures
    by_actor = client.get(url, {"actor": other.username.upper()}).content.decode()
    assert "Showing 1\N{EN DASH}1 of 1 record" in by_actor
    family = client.get(url, {"action": "user.*"}).content.decode()
    assert "user.create" in family and "auth.login" not in family.split("<table")[1]
    types = client.get(url, {"object_type": "user"})
    assert types.status_code == 200
    assert "Hash chain intact." in page


def test_audit_date_range_is_inclusive_and_validated():
    auditor = user_make("auditor")
    client = client_for(auditor)
    today = datetime.now(UTC).date()
    url = reverse("audit:list")
    inside = client.get(url, {"since": today.isoformat(), "until": today.isoformat()})
    assert "user.create" in inside.content.decode()
    tomorrow = (today + timedelta(days=1)).isoformat()
    empty = client.get(url, {"since": tomorrow})
    assert "No record matches these filters." in empty.content.decode()
    backwards = client.get(url, {"since": tomorrow, "until": today.isoformat()})
    assert "The end date is before the start date." in backwards.content.decode()
    bad = client.get(reverse("audit:csv"), {"since": "yesterday-ish"})
    assert bad.status_code == 400


def test_audit_pagination_keeps_filters():
    auditor = user_make("auditor")
    for index in range(60):
        audit_record(actor=None, action="harness.check", details={"n": index})
    client = client_for(auditor)
    first = client.get(reverse("audit:list"), {"action": "harness.check"}).content.decode()
    assert "Showing 1\N{EN DASH}50 of 60 records" in first and "Page 1 of 2" in first
    assert "?action=harness.check&amp;page=2" in first
    second = client.get(reverse("audit:list"), {"action": "harness.check", "page": "2"})
    assert "Showing 51\N{EN DASH}60 of 60 records" in second.content.decode()
    junk = client.get(reverse("audit:list"), {"page": "many"})
    assert junk.status_code == 200


def test_csv_downloads_exactly_the_filtered_rows_neutralised_and_is_audited():
    admin = user_make("admin")
    services.user_group_create(actor=admin, name='=HYPERLINK("http://evil.test","x")')
    services.user_group_create(actor=admin, name="@SUM(1)")
    services.user_group_create(actor=admin, name="plain")
    client = client_for(admin)
    rows = _csv(client.get(reverse("audit:csv"), {"object_type": "user_group"}))
    assert [r["object_name"] for r in rows] == [
        "plain",
        "'@SUM(1)",
        '\'=HYPERLINK("http://evil.test","x")',
    ]
    assert all(r["action"] == "user_group.create" and r["actor"] == admin.username for r in rows)
    assert rows[0]["time_utc"].endswith("+00:00") and len(rows[0]["hash"]) == 64
    export = AuditEvent.objects.get(action="audit.export")
    assert export.actor_id == admin.pk
    assert export.details == {"format": "csv", "filters": {"object_type": "user_group"}}


def test_csv_of_many_rows_has_each_once():
    auditor = user_make("auditor")
    for index in range(1203):
        audit_record(actor=None, action="bulk.row", object_name=str(index))
    rows = _csv(client_for(auditor).get(reverse("audit:csv"), {"action": "bulk.row"}))
    assert [r["object_name"] for r in rows] == [str(i) for i in range(1202, -1, -1)]


def test_a_tampered_chain_is_reported():
    auditor = user_make("auditor")
    record = AuditEvent.objects.order_by("seq").first()
    AuditEvent.objects.filter(pk=record.pk).update(object_name="someone else")
    client = client_for(auditor)
    page = client.get(reverse("audit:list")).content.decode()
    assert "The hash chain is broken." in page
    assert f"record {record.seq} was edited" in page
    verify = client.get(reverse("audit:verify")).content.decode()
    assert f"record {record.seq} was edited" in verify


def test_large_trails_verify_on_request(settings):
    settings.AUDIT_INLINE_VERIFY_LIMIT = 1
    auditor = user_make("auditor")
    audit_record(actor=None, action="harness.check")
    page = client_for(auditor).get(reverse("audit:list")).content.decode()
    assert "Hash chain intact" not in page and "Verify the whole hash chain" in page


def test_hostile_values_in_the_trail_are_text():
    auditor = user_make("auditor")
    audit_record(
        actor=None,
        action="harness.check",
        object_name="<script>alert(1)</script>",
        reason="<img src=x onerror=alert(1)>",
        details={"note": "<b>x</b>"},
    )
    html = client_for(auditor).get(reverse("audit:list")).content.decode()
    body = html.split('<main id="main"')[1]
    assert "<script>alert(1)" not in body and "<img src=x" not in body and "<b>x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
