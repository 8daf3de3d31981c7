"""Hostile values in every vault text field: they are stored and returned exactly as sent
(nothing escaped, trimmed or interpreted), and what cannot be stored is refused with a
message naming the field."""

from __future__ import annotations

import pytest

from factories import api_for, error, resource_make, user_make
from strongroom.audit.models import AuditEvent
from strongroom.vault import services, validation
from strongroom.vault.models import Account, Resource, ResourceGroup

pytestmark = pytest.mark.django_db

TEN_KB = ("<script>alert('x')</script> =1+1 \u202e 🔐 ") * 300
HOSTILE = {
    "markup": "<img src=x onerror=alert(1)>",
    "formula": "=cmd|' /C calc'!A0",
    "formula-variants": "+SUM(A1) -2+3 @IMPORT \t=1",
    "rtl": "\u202eexe.txt\u202c",
    "emoji": "🔐👩‍💻🇺🇦 ключ 密码",
    "quotes-and-space": "  \"';--  \r\n\ttrailing  ",
    "10kb": TEN_KB,
}
assert len(TEN_KB) >= 10 * 1024

RESOURCE_FIELDS = {
    "name": validation.MAX_RESOURCE_NAME,
    "resource_type": validation.MAX_RESOURCE_TYPE,
    "host": validation.MAX_HOST,
    "url": validation.MAX_URL,
    "description": validation.MAX_DESCRIPTION,
    "department": validation.MAX_DEPARTMENT,
    "location": validation.MAX_LOCATION,
}
ACCOUNT_FIELDS = {
    "username": validation.MAX_USERNAME,
    "password": validation.MAX_PASSWORD,
    "notes": validation.MAX_NOTES,
}
GROUP_FIELDS = {"name": validation.MAX_GROUP_NAME, "description": validation.MAX_GROUP_DESCRIPTION}


def _fits(value: str, limit: int) -> bool:
    return len(value) <= limit


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_values_round_trip_or_are_refused_by_length(kind):
    value = HOSTILE[kind]
    owner = user_make("password_admin")
    api = api_for(owner)

    # Resources: every text field, and custom field names and values.
    for field, limit in RESOURCE_FIELDS.items():
        body = {"name": "ok", field: value, "custom_fields": {value[:200]: value}}
        response = api.post("/resources", body)
        if _fits(value, limit):
            assert response.status_code == 201, (field, response.content)
            got = api.get(f"/resources/{response.json()['id']}").json()
            assert got[field] == value
            assert got["custom_fields"] == {value[:200]: value}
            assert getattr(Resource.objects.get(pk=got["id"]), field) == value
        else:
            assert response.status_code == 400, field
            assert error(response)["details"] == {
                "field": field,
                "problem": "too_long",
                "max_length": limit,
            }

    # Accounts: username and notes come back from GET, the password from retrieval.
    resource = resource_make(owner)
    for field, limit in ACCOUNT_FIELDS.items():
        body = {"username": "u", "password": "p", field: value}
        response = api.post(f"/resources/{resource.pk}/accounts", body)
        if not _fits(value, limit):
            assert response.status_code == 400 and error(response)["details"]["field"] == field
            continue
        assert response.status_code == 201, (field, response.content)
        aid = response.json()["id"]
        got = api.get(f"/accounts/{aid}").json()
        password = api.post(f"/accounts/{aid}/password", {"reason": value[:2000]}).json()
        assert {
            "username": got["username"],
            "notes": got["notes"],
            "password": password["password"],
        }[field] == value
        # And through an update, which also pushes the old password into the history.
        patched = api.patch(f"/accounts/{aid}", {field: value + "!"})
        assert patched.status_code == (200 if _fits(value + "!", limit) else 400)

    # The retrieval reason lands in the audit trail unchanged.
    reasons = AuditEvent.objects.filter(action="password.retrieve").values_list("reason", flat=True)
    assert set(reasons) == {value[:2000]}

    # Resource groups.
    for field, limit in GROUP_FIELDS.items():
        response = api.post("/resource-groups", {"name": "g", field: value})
        if _fits(value, limit):
            assert response.status_code == 201
            assert api.get(f"/resource-groups/{response.json()['id']}").json()[field] == value
        else:
            assert response.status_code == 400 and error(response)["details"]["field"] == field


def test_search_treats_hostile_text_as_text():
    owner = user_make("password_admin")
    api = api_for(owner)
    resource_make(owner, name="100% _real_ name")
    resource_make(owner, name="other")
    for term in ("%", "_", "' OR 1=1 --", "\\"):
        names = [
            r["name"]
            for r in api.get(f"/resources?search={term.replace('%', '%25')}").json()["items"]
        ]
        assert names == (["100% _real_ name"] if term in "100% _real_ name" else []), term


NUL_CASES = [
    ("POST", "/resources", {"name": "a\x00b"}, "name"),
    ("POST", "/resources", {"name": "ok", "host": "h\x00"}, "host"),
    ("POST", "/resources", {"name": "ok", "description": "\x00"}, "description"),
    ("POST", "/resources", {"name": "ok", "custom_fields": {"k": "v\x00"}}, "custom_fields value"),
    ("POST", "/resources", {"name": "ok", "custom_fields": {"k\x00": "v"}}, "custom_fields name"),
    ("POST", "/resources/{r}/accounts", {"username": "u\x00", "password": "p"}, "username"),
    ("POST", "/resources/{r}/accounts", {"username": "u", "password": "p\x00w"}, "password"),
    (
        "POST",
        "/resources/{r}/accounts",
        {"username": "u", "password": "p", "notes": "\x00"},
        "notes",
    ),
    ("PATCH", "/resources/{r}", {"location": "\x00"}, "location"),
    ("PATCH", "/accounts/{a}", {"password": "\x00"}, "password"),
    ("POST", "/resource-groups", {"name": "g\x00"}, "name"),
    ("POST", "/accounts/{a}/password", {"reason": "\x00"}, "reason"),
]


def test_nul_characters_are_refused_naming_the_field_and_nothing_is_stored():
    owner = user_make("password_admin")
    api = api_for(owner)
    resource = resource_make(owner, name="target", location="here")
    account = services.account_create(
        actor=owner, resource_id=resource.pk, username="u", password="kept"
    )
    counts = (Resource.objects.count(), Account.objects.count(), ResourceGroup.objects.count())
    for method, path, body, field in NUL_CASES:
        path = path.replace("{r}", str(resource.pk)).replace("{a}", str(account.pk))
        response = api.call(method, path, body)
        assert response.status_code == 400, (path, body)
        problem = error(response)
        assert problem["details"]["field"] == field
        assert problem["details"]["problem"] == "nul"
        assert "NUL" in problem["message"]
    assert (
        Resource.objects.count(),
        Account.objects.count(),
        ResourceGroup.objects.count(),
    ) == counts
    resource.refresh_from_db()
    assert resource.location == "here"
    assert services.password_retrieve(actor=owner, account_id=account.pk) == "kept"


def test_text_that_is_not_unicode_is_refused():
    api = api_for(user_make("password_admin"))
    # A lone surrogate survives JSON decoding but cannot be stored as UTF-8.
    response = api.client.post(
        "/api/v1/resources",
        data='{"name": "bad \\ud800 surrogate"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code in {400, 422}
    assert not Resource.objects.exists()


def test_nul_in_filters_and_the_import_format_is_a_clean_400():
    api = api_for(user_make("password_admin"))
    for query in ("search=a%00b", "type=%00", "department=x%00"):
        response = api.get(f"/resources?{query}")
        assert response.status_code == 400, query
        assert error(response)["details"]["problem"] == "nul"
    assert api.get("/resource-groups?search=%00").status_code == 400
    response = api.upload("/import", b"a,b\n1,2\n", "strongroom\x00")
    assert response.status_code == 400
    assert error(response)["code"] == "import_rejected"
    assert AuditEvent.objects.get(action="vault.import").details["format"] == "unknown"
