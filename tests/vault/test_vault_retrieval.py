"""Password retrieval: reasons, the audit record written first, failing closed, sealed
storage, password history and TOTP codes."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pyotp
import pytest
from django.db import connection

from factories import account_make, api_for, error, resource_make, user_make
from strongroom.accounts.settings import setting_set
from strongroom.audit.models import AuditEvent
from strongroom.vault import services
from strongroom.vault.models import Account, PasswordHistory, Resource

pytestmark = pytest.mark.django_db

PASSWORD = "Tr0ub4dor&3-canary-7f1c"


@contextmanager
def audit_trail_broken():
    """Make every INSERT into the audit table fail, as a full disk or a revoked grant would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION strongroom_test_audit_down() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER strongroom_test_audit_down BEFORE INSERT ON "
                "strongroom_audit_event FOR EACH ROW EXECUTE FUNCTION strongroom_test_audit_down()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER strongroom_test_audit_down BEFORE INSERT ON "
                "strongroom_audit_event BEGIN SELECT RAISE(ABORT, 'audit down'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("DROP TRIGGER strongroom_test_audit_down ON strongroom_audit_event")
                cursor.execute("DROP FUNCTION strongroom_test_audit_down()")
            else:
                cursor.execute("DROP TRIGGER strongroom_test_audit_down")


@pytest.fixture
def owner():
    return user_make("password_admin")


@pytest.fixture
def account(owner):
    return account_make(
        owner, resource_make(owner, name="fw-01"), username="admin", password=PASSWORD
    )


def test_retrieval_is_audited_with_reason_and_client_address(owner, account):
    api = api_for(owner, ip="203.0.113.77")
    response = api.post(f"/accounts/{account.pk}/password", {"reason": "ticket #4711 <b>"})
    assert response.status_code == 200
    assert response.json() == {"password": PASSWORD}
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="password.retrieve")
    assert event.actor_id == owner.pk
    assert event.object_id == str(account.pk)
    assert event.object_name == "fw-01 / admin"
    assert event.reason == "ticket #4711 <b>"
    assert event.client_ip == "203.0.113.77"
    assert event.outcome == "success"
    assert PASSWORD not in str(event.details)


def test_reason_is_required_when_the_setting_is_on(owner, account):
    setting_set(actor=None, key="retrieval_reason_required", value=True)
    api = api_for(owner)
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = api.post(f"/accounts/{account.pk}/password", body)
        assert response.status_code == 400
        assert error(response)["details"]["field"] == "reason"
        assert PASSWORD not in response.content.decode()
    assert not AuditEvent.objects.filter(action="password.retrieve").exists()
    # The same rule holds for earlier passwords and TOTP codes.
    services.account_update(
        actor=owner, account_id=account.pk, password="newer", totp_seed="JBSWY3DPEHPK3PXP"
    )
    hid = PasswordHistory.objects.get(account=account).pk
    assert api.post(f"/accounts/{account.pk}/history/{hid}/password", {}).status_code == 400
    assert api.post(f"/accounts/{account.pk}/totp", {}).status_code == 400
    ok = api.post(f"/accounts/{account.pk}/password", {"reason": "change CHG-12"})
    assert ok.status_code == 200 and ok.json() == {"password": "newer"}
    nul = api.post(f"/accounts/{account.pk}/password", {"reason": "a\x00b"})
    assert nul.status_code == 400 and error(nul)["details"]["field"] == "reason"


def test_retrieval_fails_closed_when_the_audit_trail_cannot_be_written(owner, account):
    services.account_update(
        actor=owner, account_id=account.pk, password="second", totp_seed="JBSWY3DPEHPK3PXP"
    )
    hid = PasswordHistory.objects.get(account=account).pk
    api = api_for(owner)
    events_before = AuditEvent.objects.count()
    with audit_trail_broken():
        for path in (
            f"/accounts/{account.pk}/password",
            f"/accounts/{account.pk}/history/{hid}/password",
            f"/accounts/{account.pk}/totp",
        ):
            response = api.post(path, {"reason": "incident"})
            assert response.status_code == 503, path
            assert error(response)["code"] == "audit_unavailable"
            body = response.content.decode()
            assert "second" not in body and PASSWORD not in body and "code" not in response.json()
    assert AuditEvent.objects.count() == events_before
    # Once the audit trail works again, so does retrieval.
    assert api.post(f"/accounts/{account.pk}/password", {"reason": "x"}).json() == {
        "password": "second"
    }


def test_writes_are_refused_and_change_nothing_when_the_audit_trail_is_down(owner, account):
    api = api_for(owner)
    resource_id = account.resource_id
    other = user_make("password_user")
    with audit_trail_broken():
        attempts = [
            api.post("/resources", {"name": "new"}),
            api.patch(f"/resources/{resource_id}", {"name": "renamed"}),
            api.post(f"/resources/{resource_id}/accounts", {"username": "u", "password": "p"}),
            api.patch(f"/accounts/{account.pk}", {"password": "changed", "username": "x"}),
            api.post(
                "/shares", {"resource_id": str(resource_id), "user_id": str(other.pk), "level": 1}
            ),
            api.post("/resource-groups", {"name": "rg"}),
            api.delete(f"/accounts/{account.pk}"),
            api.delete(f"/resources/{resource_id}"),
        ]
        assert [r.status_code for r in attempts] == [503] * len(attempts)
    assert list(Resource.objects.values_list("name", flat=True)) == ["fw-01"]
    assert list(Account.objects.values_list("username", flat=True)) == ["admin"]
    assert not PasswordHistory.objects.exists()
    assert services.password_retrieve(actor=owner, account_id=account.pk) == PASSWORD


def _raw(table: str, column: str, pk) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} WHERE id = %s",  # noqa: S608
            [pk.hex if connection.vendor == "sqlite" else pk],
        )
        return bytes(cursor.fetchone()[0])


def test_secrets_are_not_stored_in_clear(owner, account):
    services.account_update(
        actor=owner,
        account_id=account.pk,
        password="second-canary-4242",
        notes="notes-canary-9876",
        totp_seed="JBSWY3DPEHPK3PXPJBSWY3DP",
    )
    row = {c: _raw("strongroom_account", c, account.pk) for c in ("password", "notes", "totp_seed")}
    assert b"second-canary-4242" not in row["password"]
    assert b"notes-canary-9876" not in row["notes"]
    assert b"JBSWY3DPEHPK3PXP" not in row["totp_seed"]
    history = PasswordHistory.objects.get(account=account)
    assert PASSWORD.encode() not in _raw("strongroom_password_history", "password", history.pk)


def test_a_ciphertext_moved_to_another_account_is_refused(owner, account):
    other = account_make(owner, account.resource, username="backup", password="other-secret-55")
    stolen = Account.objects.get(pk=other.pk).password
    # An attacker with write access to the database copies another row's ciphertext.
    Account.objects.filter(pk=account.pk).update(password=stolen)
    response = api_for(owner).post(f"/accounts/{account.pk}/password", {"reason": "x"})
    assert response.status_code == 500
    assert error(response)["code"] == "sealed_value_damaged"
    assert "other-secret-55" not in response.content.decode()
    assert PASSWORD not in response.content.decode()
    failure = AuditEvent.objects.get(action="password.retrieve")
    assert failure.outcome == "failure"
    assert failure.details["problem"] == "sealed_value_damaged"
    # The untouched account still works.
    assert services.password_retrieve(actor=owner, account_id=other.pk) == "other-secret-55"


def test_password_history_keeps_every_earlier_password(owner, account):
    api = api_for(owner)
    api.patch(f"/accounts/{account.pk}", {"password": "two"})
    api.patch(f"/accounts/{account.pk}", {"password": "two"})  # unchanged: no new entry
    api.patch(f"/accounts/{account.pk}", {"password": "three", "username": "root"})
    history = api.get(f"/accounts/{account.pk}/history").json()
    assert len(history) == 2
    assert all(h["changed_by_username"] == owner.username for h in history)
    assert "password" not in history[0]
    values = [
        api.post(f"/accounts/{account.pk}/history/{h['id']}/password", {"reason": "audit"}).json()
        for h in history
    ]
    assert values == [{"password": "two"}, {"password": PASSWORD}]
    assert api.post(f"/accounts/{account.pk}/password", {}).json() == {"password": "three"}
    events = AuditEvent.objects.filter(action="password_history.retrieve")
    assert {e.details["history_id"] for e in events} == {h["id"] for h in history}
    assert all(e.reason == "audit" for e in events)
    # Deleting the account takes its history with it.
    api.delete(f"/accounts/{account.pk}")
    assert not PasswordHistory.objects.exists()


class _ReferenceTotp(pyotp.TOTP):
    # 80-bit seeds are common at real services; pyotp refuses to *issue* them.
    min_secret_length_bits = 80


@pytest.mark.parametrize(
    ("seed", "digits", "period", "secret"),
    [
        ("jbsw y3dp ehpk 3pxp", 6, 30, "JBSWY3DPEHPK3PXP"),
        (
            "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME"
            "&digits=8&period=60&algorithm=SHA256",
            8,
            60,
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        ),
    ],
)
def test_totp_codes(owner, seed, digits, period, secret):
    import hashlib

    resource = resource_make(owner)
    api = api_for(owner, ip="192.0.2.8")
    created = api.post(
        f"/resources/{resource.pk}/accounts", {"username": "a", "password": "p", "totp_seed": seed}
    )
    assert created.status_code == 201 and created.json()["has_totp"] is True
    assert "totp_seed" not in created.json()
    aid = created.json()["id"]
    response = api.post(f"/accounts/{aid}/totp", {"reason": "login"})
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == period and 1 <= body["remaining_seconds"] <= period
    digest = hashlib.sha256 if digits == 8 else hashlib.sha1
    reference = _ReferenceTotp(secret, digits=digits, interval=period, digest=digest)
    now = time.time()
    assert body["code"] in {reference.at(now), reference.at(now - period)}
    event = AuditEvent.objects.get(action="totp.generate")
    assert (event.reason, event.client_ip) == ("login", "192.0.2.8")
    assert body["code"] not in str(event.details)


def test_totp_seed_validation_and_removal(owner, account):
    api = api_for(owner)
    for bad in (
        "not base32!",
        "ABC",
        "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=1",
        "steam://ABCDEFGH",
    ):
        response = api.patch(f"/accounts/{account.pk}", {"totp_seed": bad})
        assert response.status_code == 400, bad
        assert error(response)["details"]["field"] == "totp_seed"
    no_totp = api.post(f"/accounts/{account.pk}/totp", {})
    assert no_totp.status_code == 400 and error(no_totp)["code"] == "no_totp"
    assert api.patch(f"/accounts/{account.pk}", {"totp_seed": "JBSWY3DPEHPK3PXP"}).json()[
        "has_totp"
    ]
    assert not api.patch(f"/accounts/{account.pk}", {"totp_seed": ""}).json()["has_totp"]


def test_a_script_may_post_without_a_body_unless_a_reason_is_required(owner, account):
    api = api_for(owner)
    path = f"/api/v1/accounts/{account.pk}/password"
    headers = {"Authorization": f"Bearer {api.token}"}
    response = api.client.generic("POST", path, headers=headers)
    assert response.status_code == 200 and response.json() == {"password": PASSWORD}
    setting_set(actor=None, key="retrieval_reason_required", value=True)
    refused = api.client.generic("POST", path, headers=headers)
    assert refused.status_code == 400 and error(refused)["details"]["field"] == "reason"
