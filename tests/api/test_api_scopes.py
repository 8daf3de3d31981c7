"""API token scopes (read, retrieve, write, admin), checked in one place for every endpoint:
a read token cannot retrieve a password or change anything, a scope never grants more than
the owner's role, a token never mints a token broader or longer-lived than itself, and the
OpenAPI schema says what each endpoint needs."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

from factories import Api, api_for, error_code, user_make
from strongroom.accounts import services
from strongroom.accounts.models import ApiToken
from strongroom.api import scopes
from strongroom.api.main import api as ninja_api
from strongroom.audit.models import AuditEvent
from strongroom.vault import services as vault
from strongroom.vault.models import Resource

pytestmark = pytest.mark.django_db

SECRET = "S3cret-in-the-vault-!"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def owner():
    return user_make("password_admin", username="keeper")


@pytest.fixture
def account(owner):
    resource = vault.resource_create(actor=owner, name="db01")
    return vault.account_create(
        actor=owner, resource_id=resource.pk, username="root", password=SECRET
    )


def assert_scope_refused(response, needed: str) -> None:
    assert response.status_code == 403, response.content
    assert error_code(response) == "insufficient_scope"
    assert response.json()["error"]["details"]["required_scope"] == needed


def test_every_endpoint_declares_a_scope_and_the_schema_says_which():
    schema = ninja_api.get_openapi_schema()
    operations = {
        f"{method.upper()} {path.removeprefix('/api/v1')}": operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    unauthenticated = {"POST /auth/login"}
    assert set(operations) - unauthenticated == set(scopes.OPERATION_SCOPES)
    assert set(scopes.OPERATION_SCOPES) >= scopes.REAUTH_OPERATIONS
    for key, needed in scopes.OPERATION_SCOPES.items():
        operation = operations[key]
        assert operation["x-strongroom-token-scope"] == (needed.value if needed else None), key
        assert "403" in operation["responses"], key
        has_header = any(
            p.get("name") == "X-Strongroom-Reauth" for p in operation.get("parameters", [])
        )
        assert has_header == (key in scopes.REAUTH_OPERATIONS), key
    retrieve = operations["POST /accounts/{account_id}/password"]
    assert "API token scope: `retrieve`" in retrieve["description"]
    served = Client().get("/api/v1/openapi.json").json()["paths"]
    assert served["/api/v1/me/tokens"]["post"]["x-strongroom-reauth"] is True
    assert served["/api/v1/me/tokens"]["post"]["x-strongroom-token-scope"] == "write"


def test_a_read_token_reads_but_cannot_retrieve_or_write(owner, account):
    reader = api_for(owner, scopes=["read"])
    assert reader.get("/resources").status_code == 200
    assert reader.get(f"/accounts/{account.pk}").status_code == 200
    assert_scope_refused(reader.post(f"/accounts/{account.pk}/password"), "retrieve")
    assert_scope_refused(reader.post(f"/accounts/{account.pk}/totp"), "retrieve")
    assert_scope_refused(reader.post("/exports/spreadsheet", {"format": "csv"}), "retrieve")
    assert_scope_refused(reader.post("/resources", {"name": "web02"}), "write")
    assert_scope_refused(reader.delete(f"/accounts/{account.pk}"), "write")
    assert not AuditEvent.objects.filter(action="password.retrieve").exists()
    assert list(Resource.objects.values_list("name", flat=True)) == ["db01"]
    assert SECRET not in reader.get(f"/accounts/{account.pk}").content.decode()


def test_retrieve_and_write_are_separate(owner, account):
    retriever = api_for(owner, scopes=["retrieve"])
    got = retriever.post(f"/accounts/{account.pk}/password")
    assert got.status_code == 200 and got.json()["password"] == SECRET
    assert_scope_refused(retriever.get("/resources"), "read")
    assert_scope_refused(retriever.post("/resources", {"name": "web02"}), "write")

    writer = api_for(owner, scopes=["write"])
    assert writer.post("/resources", {"name": "web02"}).status_code == 201
    assert_scope_refused(writer.post(f"/accounts/{account.pk}/password"), "retrieve")


def test_admin_endpoints_need_the_admin_scope_and_the_role():
    admin = user_make("admin", username="head")
    everyday = api_for(admin, scopes=["read", "retrieve", "write"])
    assert_scope_refused(everyday.post("/users", {"username": "x", "password": "p"}), "admin")
    assert_scope_refused(everyday.get("/settings"), "admin")
    assert_scope_refused(everyday.post(f"/users/{admin.pk}/reset-totp"), "admin")
    assert everyday.get("/users").status_code == 200  # the directory is a read

    full = api_for(admin, scopes=["admin"])
    assert full.get("/settings").status_code == 200
    created = full.post("/users", {"username": "newbie", "password": "A-long-passphrase-77"})
    assert created.status_code == 201

    # A scope only narrows: a password user's "admin" token is still a password user.
    nobody = api_for(user_make(), scopes=["admin"])
    refused = nobody.get("/settings")
    assert refused.status_code == 403 and error_code(refused) == "forbidden"


def test_a_token_never_mints_a_broader_or_longer_lived_token(owner):
    issued = services.api_token_create(
        user=owner, name="deploy", scopes=["write"], reauth=services.REAUTH_TRUSTED
    )
    writer = Api(token=issued.raw)
    assert writer.reauth().status_code == 200
    before = ApiToken.objects.count()
    for wanted in (["admin"], ["write", "admin"], ["read"], ["retrieve"]):
        refused = writer.post("/me/tokens", {"name": "more", "scopes": wanted})
        assert refused.status_code == 403, wanted
        assert error_code(refused) == "scope_exceeded"
    assert ApiToken.objects.count() == before
    same = writer.post("/me/tokens", {"name": "same", "scopes": ["write"]})
    assert same.status_code == 201 and same.json()["scopes"] == ["write"]
    assert AuditEvent.objects.get(object_id=same.json()["id"]).details["via_token"] == (
        issued.token.prefix
    )

    expiring = services.api_token_create(
        user=owner,
        name="temp",
        scopes=["read", "write"],
        expires_at=timezone.now() + timedelta(days=7),
        reauth=services.REAUTH_TRUSTED,
    )
    short = Api(token=expiring.raw)
    assert short.reauth().status_code == 200
    forever = short.post("/me/tokens", {"name": "forever", "scopes": ["read"]})
    assert forever.status_code == 403 and error_code(forever) == "scope_exceeded"
    longer = short.post("/me/tokens", {"name": "l", "scopes": ["read"], "expires_in_days": 30})
    assert longer.status_code == 403
    shorter = short.post("/me/tokens", {"name": "s", "scopes": ["read"], "expires_in_days": 3})
    assert shorter.status_code == 201


def test_a_signed_in_session_chooses_any_scopes_and_bad_ones_are_refused(owner):
    session = Api()
    assert session.login("keeper").status_code == 200
    assert session.reauth().status_code == 200
    for bad in ([], ["everything"], "read"):
        response = session.post("/me/tokens", {"name": "x", "scopes": bad})
        assert response.status_code == 422, bad
    missing = session.post("/me/tokens", {"name": "x"})
    assert missing.status_code == 422
    made = session.post("/me/tokens", {"name": "all", "scopes": ["admin", "read"]})
    assert made.status_code == 201 and made.json()["scopes"] == ["read", "admin"]
    listed = {t["name"]: t["scopes"] for t in session.get("/me/tokens").json()}
    assert listed["all"] == ["read", "admin"]


def test_an_endpoint_missing_from_the_table_refuses_every_token(owner, monkeypatch):
    token = api_for(owner)
    assert token.get("/me").status_code == 200
    monkeypatch.delitem(scopes.OPERATION_SCOPES, "GET /me")
    refused = token.get("/me")
    assert refused.status_code == 403 and error_code(refused) == "insufficient_scope"
    session = Api()
    assert session.login("keeper").status_code == 200
    assert session.get("/me").status_code == 200  # sessions are not scoped


def test_the_migration_gives_existing_tokens_what_their_role_allowed():
    migration = import_module("strongroom.accounts.migrations.0002_api_token_scopes_and_reauth")
    admin, tech = user_make("admin"), user_make()
    for user in (admin, tech):
        issued = services.api_token_create(user=user, name="old", reauth=services.REAUTH_TRUSTED)
        ApiToken.objects.filter(pk=issued.token.pk).update(scopes=[])  # as before 0002
    migration.existing_tokens_keep_their_powers(apps, None)
    assert ApiToken.objects.get(user=admin).scopes == ["read", "retrieve", "write", "admin"]
    assert ApiToken.objects.get(user=tech).scopes == ["read", "retrieve", "write"]
