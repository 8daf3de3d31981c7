"""Administrator settings over the API: read, validated all-or-nothing update, audit."""

from __future__ import annotations

import pytest

from factories import api_for, error_code
from strongroom.audit.models import AuditEvent
from strongroom.core.settings_store import setting_get

pytestmark = pytest.mark.django_db


def test_admin_reads_every_setting_with_its_default(admin_api):
    response = admin_api.get("/settings")
    assert response.status_code == 200
    by_key = {s["key"]: s for s in response.json()["settings"]}
    reason = by_key["retrieval_reason_required"]
    assert (reason["value"], reason["default"]) == (False, False)
    assert reason["description"]


def test_admin_changes_a_setting_and_the_change_is_audited(admin_api, admin):
    response = admin_api.put("/settings", {"retrieval_reason_required": True})
    assert response.status_code == 200, response.content
    by_key = {s["key"]: s["value"] for s in response.json()["settings"]}
    assert by_key["retrieval_reason_required"] is True
    assert setting_get("retrieval_reason_required") is True

    event = AuditEvent.objects.get(action="settings.update")
    assert event.actor_id == admin.pk
    assert event.details == {"changes": {"retrieval_reason_required": {"old": False, "new": True}}}
    assert admin_api.put("/settings", {"retrieval_reason_required": True}).status_code == 200
    assert AuditEvent.objects.filter(action="settings.update").count() == 1  # no change


def test_unknown_keys_are_named_and_nothing_changes(admin_api):
    response = admin_api.put(
        "/settings", {"retrieval_reason_required": True, "colour": "red", "admin_mode": 1}
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert response.json()["error"]["details"]["unknown"] == ["admin_mode", "colour"]
    assert "admin_mode" in response.json()["error"]["message"]
    assert setting_get("retrieval_reason_required") is False
    assert not AuditEvent.objects.filter(action="settings.update").exists()


def test_invalid_values_are_named(admin_api):
    response = admin_api.put("/settings", {"retrieval_reason_required": "yes"})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"] == [
        {"field": "retrieval_reason_required", "problem": "must be true or false"}
    ]
    assert setting_get("retrieval_reason_required") is False
    assert admin_api.put("/settings", [1, 2]).status_code == 422


@pytest.mark.parametrize("role", ["password_admin", "password_user", "auditor"])
def test_other_roles_cannot_read_or_change_settings(make_user, role):
    api = api_for(make_user(role))
    assert api.get("/settings").status_code == 403
    assert api.put("/settings", {"retrieval_reason_required": True}).status_code == 403
    assert setting_get("retrieval_reason_required") is False
