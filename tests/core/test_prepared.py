"""core/prepared.py: a lookup compiled once gives exactly the objects the ORM gives — every
field converted the same way, the select_related object loaded without another query —
and None for a value nothing has, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from factories import account_make, resource_make, user_make
from strongroom.accounts.models import ApiToken
from strongroom.accounts.services import REAUTH_TRUSTED, api_token_create
from strongroom.core.prepared import PreparedGet
from strongroom.vault.models import Account

pytestmark = pytest.mark.django_db


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_a_prepared_lookup_builds_what_the_orm_builds():
    owner = user_make("password_admin")
    res = resource_make(owner, name="srv <&> \u5bc6")
    acc = account_make(owner, res, username="root\u00e9", password="pw")
    prepared = PreparedGet(Account, "pk", select_related=("resource",))
    for _ in range(2):  # compiled on the first call, reused on the second
        with CaptureQueriesContext(connection) as queries:
            got = prepared.get(acc.pk)
            assert got is not None
            assert got.resource.name == "srv <&> \u5bc6"  # no query: loaded with the account
        assert len(queries.captured_queries) == 1
    orm = Account.objects.select_related("resource").get(pk=acc.pk)
    assert _fields(got) == _fields(orm)
    assert _fields(got.resource) == _fields(orm.resource)
    assert not got._state.adding and got._state.db == "default"
    assert prepared.get(uuid.uuid4()) is None
    assert prepared.get(str(acc.pk)) is not None  # the ORM's own value preparation


def test_a_prepared_token_lookup_by_hash_with_its_user():
    user = user_make()
    token = api_token_create(user=user, name="t", reauth=REAUTH_TRUSTED).token
    stored = ApiToken.objects.get(pk=token.pk)
    prepared = PreparedGet(ApiToken, "token_hash", select_related=("user",))
    got = prepared.get(stored.token_hash)
    assert got is not None and _fields(got) == _fields(stored)
    assert got.user.pk == user.pk and got.user.is_active
    assert prepared.get("0" * 64) is None
    assert prepared.get("'; DROP TABLE strongroom_api_token; --") is None
    assert ApiToken.objects.filter(pk=token.pk).exists()
