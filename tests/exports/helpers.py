"""Export test helpers: policy and rule changes made through the real services, spreadsheets
read back. People, vault objects and the API client: tests/factories.py."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from typing import Any

from factories import admin_get
from strongroom.accounts.models import User
from strongroom.exports import services as exports
from strongroom.exports.spreadsheet import cell_restore, ooxml_unescape


def admin() -> User:
    """The administrator who sets export policy and rules (one per test database)."""
    return admin_get("policy-admin")


def policy_set(**values: Any) -> None:
    exports.export_policy_update(actor=admin(), values=values)


def rule_set(allowed: bool, **subject: Any) -> None:
    exports.export_rule_set(actor=admin(), allowed=allowed, **subject)


def csv_rows(content: bytes) -> list[dict[str, str]]:
    """The CSV read back as a spreadsheet user would, neutralising apostrophes removed."""
    assert content.startswith("\ufeff".encode())
    text = content.decode("utf-8")[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return [{k: cell_restore(v) for k, v in zip(header, row, strict=True)} for row in reader]


def xlsx_rows(content: bytes) -> list[dict[str, str]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content))
    sheet = book["Export"]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    out = []
    for row in rows[1:]:
        out.append(
            {
                k: cell_restore(ooxml_unescape("" if v is None else str(v)))
                for k, v in zip(header, row, strict=True)
            }
        )
    return out


def xlsx_cells(content: bytes) -> list[Any]:
    """Every cell of the sheet (openpyxl Cell objects), header included."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content))
    return [cell for row in book["Export"].iter_rows() for cell in row]


@contextlib.contextmanager
def audit_trail_broken() -> Iterator[None]:
    """Every INSERT into the audit table fails, as with a full disk or a revoked grant."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION sr_export_audit_down() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER sr_export_audit_down BEFORE INSERT ON strongroom_audit_event "
                "FOR EACH ROW EXECUTE FUNCTION sr_export_audit_down()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER sr_export_audit_down BEFORE INSERT ON strongroom_audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit down'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("DROP TRIGGER sr_export_audit_down ON strongroom_audit_event")
                cursor.execute("DROP FUNCTION sr_export_audit_down()")
            else:
                cursor.execute("DROP TRIGGER sr_export_audit_down")
