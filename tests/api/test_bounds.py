"""What the fuzzer found, pinned: bounded list offsets, the audit page past its end, bodies
of the wrong JSON type, the settings schema, error answers documented for every operation,
and the one JSON error shape for failures outside the views."""

from __future__ import annotations

import json

import jsonschema
import pytest
from django.test import Client

from factories import PASSWORD
from strongroom.accounts.models import User, UserGroup
from strongroom.accounts.services import (
    REAUTH_TRUSTED,
    api_token_create,
    user_create,
    user_group_create,
)
from strongroom.audit.services import audit_record
from strongroom.core.paging import MAX_OFFSET

pytestmark = pytest.mark.django_db

HUGE = "100000000000000000000"  # past any database integer: was a 500


@pytest.fixture
def api(admin):
    issued = api_token_create(user=admin, name="script", reauth=REAUTH_TRUSTED)
    return Client(headers={"Authorization": f"Bearer {issued.raw}"})


@pytest.fixture
def schema(api):
    return api.get("/api/v1/openapi.json").json()


@pytest.mark.parametrize(
    "path",
    ["/api/v1/resources", "/api/v1/notifications", "/api/v1/audit", "/api/v1/resource-groups/{}"],
)
def test_offsets_past_the_bound_are_422_and_the_bound_itself_answers(api, admin, path):
    if "{}" in path:
        from strongroom.vault.services import resource_group_create

        path = path.format(resource_group_create(actor=admin, name="g").pk) + "/resources"
    for offset in (HUGE, str(MAX_OFFSET + 1), "-1"):
        response = api.get(path, {"offset": offset})
        assert response.status_code == 422, (offset, response.content)
        body = response.json()
        assert body["error"]["code"] == "invalid"
        assert body["error"]["details"]["fields"][0]["field"] == "offset"
    edge = api.get(path, {"offset": str(MAX_OFFSET)})
    assert edge.status_code == 200, edge.content
    assert edge.json()["items"] == []


def test_the_audit_page_past_its_end_shows_the_last_page(admin):
    for n in range(3):
        audit_record(actor=admin, action="test.event", object_type="test", object_id=str(n))
    client = Client()
    client.force_login(admin)
    for page in (HUGE, "9" * 5000, "2"):
        response = client.get("/audit/", {"page": page})
        assert response.status_code == 200, page
        assert response.context["number"] == 1 == response.context["pages"]
        assert len(response.context["events"]) >= 3
    assert client.get("/audit/", {"page": "x"}).context["number"] == 1


@pytest.mark.parametrize("body", ["[null, null]", '"x"', "null", "7", "true"])
def test_bodies_that_are_not_objects_are_refused(api, admin, body):
    victim = user_create(actor=None, username="victim", password=PASSWORD)
    group = user_group_create(actor=admin, name="team")
    reset = api.post(
        f"/api/v1/users/{victim.pk}/reset-password", body, content_type="application/json"
    )
    patch = api.patch(f"/api/v1/user-groups/{group.pk}", body, content_type="application/json")
    for response in (reset, patch):
        assert response.status_code == 422, response.content
        assert response.json()["error"]["code"] == "invalid"
        assert "must be a JSON object" in response.json()["error"]["message"]
    victim.refresh_from_db()
    assert not victim.must_change_password and victim.check_password(PASSWORD)
    # An absent body still means "generate a password" (the documented optional body).
    generated = api.post(
        f"/api/v1/users/{victim.pk}/reset-password", content_type="application/json"
    )
    assert generated.status_code == 200 and generated.json()["generated_password"]
    assert UserGroup.objects.get(pk=group.pk).name == "team"


def _resolve(schema, ref_or_schema):
    if "$ref" in ref_or_schema:
        name = ref_or_schema["$ref"].rsplit("/", 1)[1]
        return schema["components"]["schemas"][name]
    return ref_or_schema


def test_settings_answer_matches_its_documented_schema(api, schema):
    documented = schema["paths"]["/api/v1/settings"]["get"]["responses"]["200"]
    body_schema = documented["content"]["application/json"]["schema"]
    answer = api.get("/api/v1/settings").json()
    jsonschema.validate(
        answer, {**_resolve(schema, body_schema), "components": schema["components"]}
    )
    assert "settings" in _resolve(schema, body_schema)["properties"]
    storage = schema["paths"]["/api/v1/storage/settings"]["get"]["responses"]["200"]
    assert (
        "providers"
        in _resolve(schema, storage["content"]["application/json"]["schema"])["properties"]
    )


def test_every_operation_documents_the_error_answers(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "401", "403", "404", "409", "422", "429", "500", "503"):
                answer = operation["responses"].get(status)
                assert answer, (method, path, status)
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                assert {"type": "null"} not in body["schema"].get("anyOf", []), path


def test_every_error_answer_validates_against_the_error_schema(api, schema):
    error_schema = schema["components"]["schemas"]["Error"]
    answers = [
        api.get("/api/v1/no-such-thing"),  # Django's 404 under /api/: JSON, not the web page
        api.get("/api/v1/resources", {"offset": HUGE}),
        # A multipart body without a boundary: was a 500.
        api.generic("POST", "/api/v1/import", b"abc", content_type="multipart/form-data"),
        Client().get("/api/v1/me"),
        api.get(f"/api/v1/users/{User.objects.get(username='root-admin').pk}x"),
    ]
    for response in answers:
        assert response["Content-Type"].startswith("application/json"), response.content
        assert 400 <= response.status_code < 500, response.content
        jsonschema.validate(json.loads(response.content), error_schema)
    assert answers[0].status_code == 404
    assert answers[2].status_code == 400
