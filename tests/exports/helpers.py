"""Export test helpers: people, vault objects and policy changes made through the real
services; API calls through Django's test client with real bearer tokens."""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.test import Client

from strongroom.accounts import services as people
from strongroom.accounts.models import User, UserGroup
from strongroom.exports import services as exports
from strongroom.exports.spreadsheet import cell_restore, ooxml_unescape
from strongroom.vault import services as vault
from strongroom.vault.models import Account, Resource, ResourceGroup

LOGIN_PASSWORD = "Correct-horse-battery-staple-7"
PASSPHRASE = "plum orbit quietly seventy lantern"
TEST_ITERATIONS = 1_000


def user_make(role: str = "password_user", username: str | None = None) -> User:
    return people.user_create(
        actor=None,
        username=username or f"{role}-{uuid.uuid4().hex[:8]}",
        password=LOGIN_PASSWORD,
        role=role,
    )


def group_make(*members: User, name: str | None = None) -> UserGroup:
    group = people.user_group_create(actor=None, name=name or f"team-{uuid.uuid4().hex[:8]}")
    for member in members:
        people.user_group_add_member(actor=None, group=group, user=member)
    return group


def resource_make(owner: User, name: str | None = None, **fields: Any) -> Resource:
    return vault.resource_create(actor=owner, name=name or f"srv-{uuid.uuid4().hex[:6]}", **fields)


def account_make(
    actor: User,
    resource: Resource,
    username: str = "root",
    password: str = "pw",  # noqa: S107
    **kw: Any,
) -> Account:
    return vault.account_create(
        actor=actor, resource_id=resource.pk, username=username, password=password, **kw
    )


def rgroup_make(owner: User, *resources: Resource, name: str | None = None) -> ResourceGroup:
    group = vault.resource_group_create(actor=owner, name=name or f"rg-{uuid.uuid4().hex[:6]}")
    for resource in resources:
        vault.resource_group_add_resource(
            actor=owner, resource_group_id=group.pk, resource_id=resource.pk
        )
    return group


def admin() -> User:
    """One administrator per test database (made on first use)."""
    found = User.objects.filter(username="policy-admin").first()
    return found or user_make("admin", "policy-admin")


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


@dataclass
class Api:
    token: str
    client: Client = field(default_factory=Client)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.token}"}}
        if body is not None:
            kwargs["data"] = body
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method.lower())(f"/api/v1{path}", **kwargs)

    def get(self, path: str) -> Any:
        return self.call("get", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("post", path, {} if body is None else body)

    def put(self, path: str, body: Any) -> Any:
        return self.call("put", path, body)

    def delete(self, path: str) -> Any:
        return self.call("delete", path)


def api_for(user: User) -> Api:
    return Api(
        token=people.api_token_create(
            user=user, name="export tests", reauth=people.REAUTH_TRUSTED
        ).raw
    )


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
