"""The export endpoints of the REST API through Django's test client with real bearer
tokens: downloads (attachment, no-store, SHA-256 header), 400/403/404 refusals in the API's
error shape, and the administrators' policy endpoints."""

from __future__ import annotations

import hashlib

import pytest

from factories import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    api_for,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.audit.models import AuditEvent
from strongroom.exports.models import ExportRule
from strongroom.exports.offline_file import offline_file_open

from .helpers import admin, csv_rows, policy_set, xlsx_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    policy_set(kdf_iterations=TEST_ITERATIONS)
    user = user_make("password_admin")
    account_make(user, resource_make(user, "nas-01"), "backup", "N4s-backup-pw")
    return user


def _error(response):
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def test_html_export_downloads_the_encrypted_file(owner):
    api = api_for(owner)
    response = api.post("/exports/html", {"passphrase": PASSPHRASE, "reason": "travel"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="strongroom-offline-')
    assert response["Cache-Control"] == "no-store"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Strongroom-Entry-Count"] == "1"
    digest = hashlib.sha256(response.content).hexdigest()
    assert response["X-Strongroom-SHA256"] == digest
    assert AuditEvent.objects.get(action="export.html").details["sha256"] == digest
    payload = offline_file_open(html=response.content, passphrase=PASSPHRASE)
    assert [(e.name, e.password) for e in payload.entries] == [("nas-01", "N4s-backup-pw")]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "passphrase_refused", "passphrase"),
        ({"passphrase": "Zq8#vLm"}, "passphrase_refused", "passphrase"),
        ({"passphrase": LOGIN_PASSWORD}, "passphrase_refused", "passphrase"),
        ({"passphrase": "password1234567"}, "passphrase_refused", "passphrase"),
        ({"passphrase": PASSPHRASE, "reason": "a\x00b"}, "invalid", "reason"),
    ],
)
def test_html_export_refusals_are_400_and_never_echo_the_passphrase(owner, body, code, field):
    response = api_for(owner).post("/exports/html", body)
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == code
    assert error["details"]["field"] == field
    if body.get("passphrase"):
        assert body["passphrase"] not in response.content.decode()
    if field == "passphrase":
        assert error["details"]["problems"]
    assert "N4s-backup-pw" not in response.content.decode()


def test_export_refused_by_policy_is_403(owner):
    ExportRule.objects.all().delete()
    policy_set(export_enabled=False)
    api = api_for(owner)
    for path, body in (
        ("/exports/html", {"passphrase": PASSPHRASE}),
        ("/exports/spreadsheet", {"format": "csv"}),
    ):
        response = api.post(path, body)
        assert response.status_code == 403
        assert _error(response)["code"] == "export_refused"
    options = api.get("/exports").json()
    assert options["export_allowed"] is False
    assert options["decided_by"] == "global"


def test_reason_required_is_400(owner):
    policy_set(reason_required=True)
    response = api_for(owner).post("/exports/spreadsheet", {"format": "xlsx"})
    assert response.status_code == 400
    assert _error(response)["code"] == "reason_required"


def test_spreadsheet_with_passwords_needs_plain_text(owner):
    api = api_for(owner)
    refused = api.post("/exports/spreadsheet", {"format": "csv", "with_passwords": True})
    assert refused.status_code == 403
    assert _error(refused)["details"]["refusal"] == "plain_text_not_allowed"
    policy_set(plain_text_allowed=True)
    for fmt, reader, ctype in (
        ("csv", csv_rows, "text/csv; charset=utf-8"),
        ("xlsx", xlsx_rows, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ):
        response = api.post(
            "/exports/spreadsheet", {"format": fmt, "with_passwords": True, "reason": "audit"}
        )
        assert response.status_code == 200
        assert response["Content-Type"] == ctype
        assert response["Cache-Control"] == "no-store"
        assert response["Content-Disposition"].endswith(f'.{fmt}"')
        [row] = reader(response.content)
        assert row["Password"] == "N4s-backup-pw"
    bad = api.post("/exports/spreadsheet", {"format": "pdf"})
    assert bad.status_code == 400 and _error(bad)["details"]["field"] == "format"


def test_unknown_or_invisible_group_is_404(owner):
    other = user_make("password_admin")
    theirs = rgroup_make(other, name="theirs")
    api = api_for(owner)
    for gid in (str(theirs.pk), "00000000-0000-0000-0000-000000000000", "x"):
        response = api.post(
            "/exports/html", {"passphrase": PASSPHRASE, "resource_group_ids": [gid]}
        )
        assert response.status_code == 404
        assert _error(response)["message"] == "resource group not found"


def test_export_options_tell_the_user_what_they_may_do(owner):
    options = api_for(owner).get("/exports").json()
    assert options == {
        "export_allowed": True,
        "decided_by": "global",
        "explanation": "exports are allowed for everyone",
        "export_enabled": True,
        "plain_text_allowed": False,
        "reason_required": False,
        "passphrase_min_length": 12,
        "passphrase_min_score": 3,
        "kdf_iterations": TEST_ITERATIONS,
        "max_age_days": 30,
        "offline_formats": ["html", "kdbx"],
        "kdbx_memory_mib": 64,
        "kdbx_iterations": 3,
        "kdbx_parallelism": 2,
        "html_attachment_max_bytes": 1_048_576,
        "html_attachments_total_bytes": 16_777_216,
        "entry_count": 1,
    }


def test_exports_need_authentication(client):
    assert client.post("/api/v1/exports/html", {}, content_type="application/json").status_code in (
        401,
        403,
    )
    assert client.get("/api/v1/export-policy").status_code == 401


def test_policy_endpoints_are_for_administrators(owner):
    for role in ("password_admin", "password_user", "auditor"):
        api = api_for(user_make(role))
        assert api.get("/export-policy").status_code == 403
        assert api.put("/export-policy", {"reason_required": True}).status_code == 403
        assert (
            api.post("/export-policy/rules", {"role": "auditor", "allowed": False}).status_code
            == 403
        )
    api = api_for(admin())
    got = api.get("/export-policy").json()
    assert got["kdf_iterations_minimum"] == TEST_ITERATIONS
    assert got["rules"] == []
    put = api.put("/export-policy", {"plain_text_allowed": True, "max_age_days": 14})
    assert put.status_code == 200
    assert put.json()["plain_text_allowed"] is True and put.json()["max_age_days"] == 14
    bad = api.put("/export-policy", {"kdf_iterations": 1})
    assert bad.status_code == 400
    assert _error(bad)["details"]["fields"][0]["field"] == "kdf_iterations"
    unknown = api.put("/export-policy", {"rules": []})
    assert unknown.status_code == 400
    rule = api.post("/export-policy/rules", {"role": "auditor", "allowed": False})
    assert rule.status_code == 201
    assert rule.json()["subject_type"] == "role" and rule.json()["subject_name"] == "Auditor"
    assert [r["subject_id"] for r in api.get("/export-policy").json()["rules"]] == ["auditor"]
    auditor_api = api_for(user_make("auditor"))
    assert auditor_api.post("/exports/spreadsheet", {"format": "csv"}).status_code == 403
    assert api.delete(f"/export-policy/rules/{rule.json()['id']}").status_code == 204
    assert api.delete(f"/export-policy/rules/{rule.json()['id']}").status_code == 404
    assert auditor_api.post("/exports/spreadsheet", {"format": "csv"}).status_code == 200
    assert api.post("/export-policy/rules", {"user_id": "nope", "allowed": True}).status_code == 404
    assert api.post("/export-policy/rules", {"allowed": True}).status_code == 400
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"export_policy.update", "export_rule.set", "export_rule.delete"} <= actions
