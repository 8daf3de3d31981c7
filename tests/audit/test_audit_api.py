"""The audit trail API: who may read it, filters, stable pagination, chain verification."""

from __future__ import annotations

import pytest
from django.utils import timezone

from factories import Api, api_for
from strongroom.accounts import services
from strongroom.audit.models import AuditEvent
from strongroom.audit.services import audit_record

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def items(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["items"]


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_read_the_trail(make_user, role):
    api = api_for(make_user(role))
    assert api.get("/audit").status_code == 200
    assert api.get("/audit/verify").status_code == 200


@pytest.mark.parametrize("role", ["password_admin", "password_user"])
def test_other_roles_get_403(make_user, role):
    api = api_for(make_user(role))
    assert api.get("/audit").status_code == 403
    assert api.get("/audit/verify").status_code == 403
    assert Api().get("/audit").status_code == 401


def test_records_carry_actor_action_object_address_and_details(auditor_api, make_user):
    admin = make_user("admin", username="boss")
    target = services.user_create(
        actor=admin, username="newcomer", password="Long-enough-passphrase-1", client_ip="10.0.0.9"
    )
    record = items(auditor_api.get("/audit", {"action": "user.create", "actor": "boss"}))[0]
    assert record["actor_name"] == "boss"
    assert record["actor_id"] == str(admin.pk)
    assert record["object_type"] == "user"
    assert record["object_id"] == str(target.pk)
    assert record["object_name"] == "newcomer"
    assert record["client_ip"] == "10.0.0.9"
    assert record["outcome"] == "success"
    assert record["details"] == {"role": "password_user"}
    assert len(record["hash"]) == 64
    assert timezone.now() - timezone.datetime.fromisoformat(record["at"]) < timezone.timedelta(
        minutes=1
    )


def test_filters(auditor_api, make_user):
    admin = make_user("admin", username="Boss")
    group = services.user_group_create(actor=admin, name="Ops")
    other = services.user_group_create(actor=admin, name="Dev")
    user = make_user(username="pat")
    services.user_group_add_member(actor=admin, group=group, user=user)
    Api().login("pat", "wrong")

    by_actor = items(auditor_api.get("/audit", {"actor": "boss"}))
    assert {r["action"] for r in by_actor} == {"user_group.create", "user_group.add_member"}
    family = items(auditor_api.get("/audit", {"action": "user_group.*"}))
    assert len(family) == 3
    exact = items(auditor_api.get("/audit", {"action": "user_group.create"}))
    assert [r["object_name"] for r in exact] == ["Dev", "Ops"]  # newest first
    by_object = items(
        auditor_api.get("/audit", {"object_type": "user_group", "object_id": str(other.pk)})
    )
    assert [r["action"] for r in by_object] == ["user_group.create"]
    failures = items(auditor_api.get("/audit", {"outcome": "failure"}))
    assert [(r["action"], r["object_name"]) for r in failures] == [("auth.login_failed", "pat")]
    assert items(auditor_api.get("/audit", {"actor": "nobody"})) == []


def test_time_range(auditor_api):
    audit_record(actor=None, action="test.early")
    middle = timezone.now()
    audit_record(actor=None, action="test.late")
    since = items(auditor_api.get("/audit", {"action": "test.*", "since": middle.isoformat()}))
    until = items(auditor_api.get("/audit", {"action": "test.*", "until": middle.isoformat()}))
    assert [r["action"] for r in since] == ["test.late"]
    assert [r["action"] for r in until] == ["test.early"]
    naive_utc = middle.replace(tzinfo=None).isoformat()
    assert items(auditor_api.get("/audit", {"action": "test.*", "since": naive_utc})) == since


def test_pagination_is_newest_first_and_stable(auditor_api):
    for n in range(7):
        audit_record(actor=None, action="test.page", details={"n": n})
    pages = []
    for offset in (0, 3, 6):
        response = auditor_api.get("/audit", {"action": "test.page", "limit": 3, "offset": offset})
        body = response.json()
        assert (body["total"], body["limit"], body["offset"]) == (7, 3, offset)
        pages.append([r["details"]["n"] for r in body["items"]])
    assert pages == [[6, 5, 4], [3, 2, 1], [0]]
    beyond = auditor_api.get("/audit", {"action": "test.page", "offset": 50}).json()
    assert beyond["items"] == [] and beyond["total"] == 7
    assert auditor_api.get("/audit", {"limit": 501}).status_code == 422
    assert auditor_api.get("/audit", {"limit": 0}).status_code == 422
    assert auditor_api.get("/audit", {"since": "yesterday"}).status_code == 422


def test_verify_reports_an_intact_chain_and_finds_an_edit(auditor_api):
    for n in range(3):
        audit_record(actor=None, action="test.chain", details={"n": n})
    report = auditor_api.get("/audit/verify").json()
    assert report["ok"] is True and report["problems"] == []
    assert report["checked"] == AuditEvent.objects.count()

    # Tampering is the point of this test, so it goes around the services on purpose.
    victim = AuditEvent.objects.get(action="test.chain", details__n=1)
    AuditEvent.objects.filter(pk=victim.pk).update(object_name="forged")
    report = auditor_api.get("/audit/verify").json()
    assert report["ok"] is False
    assert any(f"record {victim.seq} was edited" in p for p in report["problems"])
