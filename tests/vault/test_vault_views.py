"""Vault web pages through Django's test client: resources and accounts, password retrieval,
history and TOTP, with every role and sharing level; CSRF, no-store and escaping.

People and vault objects are made through the real services (tests/vault/helpers.py);
pages are fetched as a signed-in user (a real session via ``force_login``).
"""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from typing import Any

import pyotp
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from factories import account_make, group_make, resource_make, rgroup_make, user_make
from strongroom.accounts.settings import setting_set
from strongroom.audit.models import AuditEvent
from strongroom.vault import services
from strongroom.vault.models import AccessLevel, Account, PasswordHistory, Resource

pytestmark = pytest.mark.django_db

PASSWORD = "Pl4in-canary-0f-the-web-pages"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_NOTES = "<script>alert(1)</script>"
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def web(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def share(owner: Any, resource: Resource, user: Any, level: int) -> None:
    services.share_grant(actor=owner, resource_id=resource.pk, user_id=user.pk, level=level)


def retrieve(client: Client, account: Account, reason: str | None = None, **extra: Any) -> Any:
    body = {} if reason is None else {"reason": reason}
    return client.post(
        reverse("vault:password_retrieve", args=[account.pk]),
        data=body,
        content_type="application/json",
        **extra,
    )


def text(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def owner():
    return user_make("password_admin")


@pytest.fixture
def resource(owner):
    return resource_make(
        owner,
        name="db-01",
        resource_type="Database",
        host="db-01.corp.example",
        department="Finance",
        custom_fields={"VLAN": "12"},
    )


@pytest.fixture
def account(owner, resource):
    return account_make(owner, resource, username="postgres", password=PASSWORD, notes="rotate")


@pytest.fixture
def viewer(owner, resource):
    user = user_make("password_user")
    share(owner, resource, user, AccessLevel.VIEW)
    return user


@pytest.fixture
def modifier(owner, resource):
    user = user_make("password_user")
    share(owner, resource, user, AccessLevel.MODIFY)
    return user


@pytest.fixture
def stranger():
    return user_make("password_admin")


# --------------------------------------------------------------------------- sign-in


def test_pages_need_a_signed_in_user(resource, account):
    anonymous = Client()
    response = anonymous.get(reverse("vault:resource_detail", args=[resource.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    response = retrieve(anonymous, account, "x")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response["Cache-Control"] == "no-store"
    assert PASSWORD not in text(response)


def test_a_deactivated_user_is_signed_out(owner, viewer, resource, account):
    client = web(viewer)
    assert client.get(reverse("vault:resource_detail", args=[resource.pk])).status_code == 200
    admin = user_make("admin")
    from strongroom.accounts import services as people

    people.user_deactivate(actor=admin, user=viewer)
    assert client.get(reverse("vault:resource_list")).status_code == 302
    assert retrieve(client, account, "x").status_code == 401


# --------------------------------------------------------------------------- list


def test_list_shows_what_the_user_can_see_with_level_and_account_count(owner, resource, account):
    reader = user_make("password_user")
    share(owner, resource, reader, AccessLevel.MODIFY)
    resource_make(owner, name="secret-hr-server")
    via_group = resource_make(owner, name="fw-edge")
    account_make(owner, via_group, username="a")
    account_make(owner, via_group, username="b")
    rgroup = rgroup_make(owner, via_group, name="Network")
    services.share_grant(
        actor=owner, resource_group_id=rgroup.pk, user_group_id=group_make(reader).pk, level=3
    )
    page = text(web(reader).get(reverse("vault:resource_list")))
    assert "db-01" in page and "fw-edge" in page
    assert "secret-hr-server" not in page
    assert "2 resources you can see" in page
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    fw = next(r for r in rows if "fw-edge" in r)
    db = next(r for r in rows if "db-01" in r)
    assert "level-manage" in fw and re.search(r'class="num">2<', fw)
    assert "level-modify" in db and re.search(r'class="num">1<', db)
    # A password user cannot add or import.
    assert reverse("vault:resource_create") not in page
    assert reverse("vault:import") not in page
    assert reverse("vault:resource_create") in text(web(owner).get(reverse("vault:resource_list")))


def test_list_filters_by_search_type_department_and_group(owner):
    a = resource_make(owner, name="alpha", resource_type="Linux", department="IT")
    b = resource_make(owner, name="bravo", resource_type="Windows", department="Finance")
    c = resource_make(owner, name="charlie", resource_type="Linux", department="Finance")
    account_make(owner, c, username="svc-backup")
    group = rgroup_make(owner, a, b)
    client = web(owner)
    url = reverse("vault:resource_list")

    def names(**params: str) -> set[str]:
        page = text(client.get(url, params))
        return set(re.findall(r'class="row-title" href="[^"]+">([^<]+)<', page))

    assert names() == {"alpha", "bravo", "charlie"}
    assert names(q="svc-back") == {"charlie"}  # account usernames are searched too
    assert names(type="Linux") == {"alpha", "charlie"}
    assert names(department="finance") == {"bravo", "charlie"}
    assert names(group=str(group.pk)) == {"alpha", "bravo"}
    assert names(type="Linux", department="Finance") == {"charlie"}
    page = text(client.get(url))
    # The filter menus offer only values of resources the user can see.
    assert '<option value="Linux"' in page and '<option value="Windows"' in page
    assert f'<option value="{group.pk}"' in page
    assert "Windows" not in text(web(user_make("password_user")).get(url))


def test_list_with_a_group_the_user_cannot_see_says_so_and_lists_everything(owner, stranger):
    mine = resource_make(stranger, name="mine")
    other_group = rgroup_make(owner, name="not yours")
    response = web(stranger).get(reverse("vault:resource_list"), {"group": str(other_group.pk)})
    assert response.status_code == 200
    page = text(response)
    assert "Resource group not found" in page
    assert "mine" in page and mine.name in page
    assert "not yours" not in page


def test_list_pages_by_key_forward_and_back(owner):
    for i in range(57):
        resource_make(owner, name=f"host-{i:03d}")
    client = web(owner)
    url = reverse("vault:resource_list")
    first = text(client.get(url))
    titles = re.findall(r'class="row-title" href="[^"]+">([^<]+)<', first)
    assert titles == [f"host-{i:03d}" for i in range(50)]
    assert 'rel="prev"' not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = text(client.get(next_url))
    assert re.findall(r'class="row-title" href="[^"]+">([^<]+)<', second) == [
        f"host-{i:03d}" for i in range(50, 57)
    ]
    assert 'rel="next"' not in second
    prev_url = re.search(r'href="([^"]+)" rel="prev"', second).group(1).replace("&amp;", "&")
    back = text(client.get(prev_url))
    assert re.findall(r'class="row-title" href="[^"]+">([^<]+)<', back) == titles
    # A cursor keeps the filters; a mangled one starts from the top.
    assert "q=host" in text(client.get(url, {"q": "host"})).replace("&amp;", "&")
    for junk in ("!!!", "e30", "W10", "WyJhIiwgImIiXQ", "A" * 5000):
        response = client.get(url, {"after": junk})
        assert response.status_code == 200
        assert "host-000" in text(response)


def test_list_page_takes_a_fixed_number_of_queries(owner, django_assert_max_num_queries):
    """The list page costs the same number of queries for 3 or 40 resources, however they
    are shared: no query per row (account counts and levels come with the page)."""
    reader = user_make("password_user")
    team = group_make(reader)

    def populate(count: int, prefix: str) -> None:
        for i in range(count):
            resource = resource_make(owner, name=f"{prefix}-{i:03d}")
            account_make(owner, resource, username=f"user{i}")
            if i % 3 == 0:
                share(owner, resource, reader, AccessLevel.VIEW)
            elif i % 3 == 1:
                services.share_grant(
                    actor=owner, resource_id=resource.pk, user_group_id=team.pk, level=2
                )
            else:
                rg = rgroup_make(owner, resource)
                services.share_grant(
                    actor=owner, resource_group_id=rg.pk, user_id=reader.pk, level=3
                )

    client = web(reader)
    url = reverse("vault:resource_list")
    populate(3, "a")
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    populate(40, "b")
    with CaptureQueriesContext(connection) as large:
        page = text(client.get(url))
    assert page.count('class="row-title"') == 43
    assert len(large) == len(small)
    # session, user, count, page, filter menus, groups menu, the page's favourites,
    # session save (3 on SQLite)
    with django_assert_max_num_queries(LIST_QUERIES):
        client.get(url, {"q": "b-0"})
    with django_assert_max_num_queries(LIST_QUERIES):
        client.get(url, {"type": "x", "department": "y"})


LIST_QUERIES = 10


# --------------------------------------------------------------------------- resource page


def test_resource_page_by_level(owner, resource, account, viewer, modifier, stranger):
    url = reverse("vault:resource_detail", args=[resource.pk])
    assert web(stranger).get(url).status_code == 404
    assert web(owner).get(reverse("vault:resource_detail", args=[uuid.uuid4()])).status_code == 404

    page = text(web(viewer).get(url))
    assert "db-01.corp.example" in page and "VLAN" in page and "postgres" in page
    assert "level-view" in page
    assert PASSWORD not in page  # masked until asked for
    assert reverse("vault:password_retrieve", args=[account.pk]) in page
    assert reverse("vault:account_edit", args=[account.pk]) not in page
    assert reverse("vault:resource_edit", args=[resource.pk]) not in page
    assert "Who has access" not in page

    page = text(web(modifier).get(url))
    assert reverse("vault:account_edit", args=[account.pk]) in page
    assert reverse("vault:account_create", args=[resource.pk]) in page
    assert reverse("vault:account_delete", args=[account.pk]) not in page
    assert reverse("vault:resource_delete", args=[resource.pk]) not in page

    page = text(web(owner).get(url))
    assert reverse("vault:resource_delete", args=[resource.pk]) in page
    assert reverse("vault:account_delete", args=[account.pk]) in page
    assert "Who has access" in page
    assert viewer.username in page and modifier.username in page


def test_resource_page_shows_notes_as_text_and_only_http_urls_as_links(owner):
    hostile = resource_make(
        owner,
        name=HOSTILE_NAME,
        url="javascript:alert(1)",
        description=HOSTILE_NOTES,
        custom_fields={HOSTILE_NAME: HOSTILE_NOTES},
    )
    account_make(owner, hostile, username=HOSTILE_NAME, notes=HOSTILE_NOTES)
    safe = resource_make(owner, name="site", url="https://example.com/login?a=1&b=2")
    client = web(owner)
    for url in (
        reverse("vault:resource_list"),
        reverse("vault:resource_detail", args=[hostile.pk]),
        reverse("vault:resource_edit", args=[hostile.pk]),
        reverse("vault:resource_sharing", args=[hostile.pk]),
        reverse("vault:resource_delete", args=[hostile.pk]),
        reverse("vault:account_create", args=[hostile.pk]),
    ):
        page = text(client.get(url))
        assert "<img src=x" not in page, url
        assert "<script>alert" not in page, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, url
    detail = text(client.get(reverse("vault:resource_detail", args=[hostile.pk])))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert 'href="javascript:' not in detail
    detail = text(client.get(reverse("vault:resource_detail", args=[safe.pk])))
    assert 'href="https://example.com/login?a=1&amp;b=2" rel="noopener noreferrer"' in detail


# --------------------------------------------------------------------------- add / edit / delete


def test_password_users_cannot_add_resources(viewer):
    client = web(viewer)
    assert client.get(reverse("vault:resource_create")).status_code == 403
    response = client.post(reverse("vault:resource_create"), {"name": "x"})
    assert response.status_code == 403
    assert not Resource.objects.filter(name="x").exists()


def test_add_resource_with_custom_fields(owner):
    client = web(owner)
    response = client.post(
        reverse("vault:resource_create"),
        {
            "name": "  core-sw-01 ",
            "resource_type": "Network device",
            "host": "10.0.0.2",
            "url": "",
            "department": "IT",
            "location": "Rack 4",
            "description": "Core switch",
            "cf_name": ["Serial", "", "Support"],
            "cf_value": ["SN-123", "", "until 2027"],
        },
    )
    resource = Resource.objects.get(owner=owner)
    assert response.status_code == 302
    assert response["Location"] == reverse("vault:account_create", args=[resource.pk])
    assert resource.name == "  core-sw-01 "  # stored exactly as typed
    assert resource.custom_fields == {"Serial": "SN-123", "Support": "until 2027"}
    assert AuditEvent.objects.filter(action="resource.create", object_id=str(resource.pk)).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "   "}, "name is required"),
        ({"name": "a\x00b"}, "Null characters are not allowed."),
        ({"name": "x" * 501}, "at most 500 are allowed"),
        ({"name": "ok", "cf_name": ["", "x"], "cf_value": ["v", ""]}, "needs a name"),
        ({"name": "ok", "cf_name": ["x", "x"], "cf_value": ["1", "2"]}, "given twice"),
        ({"name": "ok", "cf_name": ["k"], "cf_value": ["v" * 16385]}, "at most 16384"),
    ],
)
def test_add_resource_refusals_show_on_the_form_and_change_nothing(owner, data, message):
    response = web(owner).post(reverse("vault:resource_create"), data)
    assert response.status_code == 200
    assert message in text(response)
    assert 'class="errorlist' in text(response)
    assert not Resource.objects.exists()


def test_edit_resource_needs_manage(owner, resource, viewer, modifier, stranger):
    url = reverse("vault:resource_edit", args=[resource.pk])
    assert web(stranger).get(url).status_code == 404
    assert web(viewer).get(url).status_code == 403
    response = web(modifier).post(url, {"name": "renamed"})
    assert response.status_code == 403
    assert "manage access" in text(response)
    page = text(web(owner).get(url))
    assert 'value="db-01"' in page and 'value="VLAN"' in page and 'value="12"' in page
    response = web(owner).post(
        url, {"name": "db-01b", "host": "db-01b", "cf_name": ["Rack"], "cf_value": ["7"]}
    )
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.name == "db-01b"
    assert resource.custom_fields == {"Rack": "7"}
    assert resource.department == ""  # the form sends every field: cleared means cleared


def test_delete_resource_asks_then_deletes(owner, resource, account, modifier, stranger):
    url = reverse("vault:resource_delete", args=[resource.pk])
    assert web(stranger).post(url).status_code == 404
    assert web(modifier).post(url).status_code == 403
    page = text(web(owner).get(url))
    assert "1 account(s)" in page and "db-01" in page
    assert Resource.objects.filter(pk=resource.pk).exists()  # GET deletes nothing
    response = web(owner).post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("vault:resource_list")
    assert not Resource.objects.filter(pk=resource.pk).exists()
    assert not Account.objects.filter(pk=account.pk).exists()


def test_add_account_needs_modify(owner, resource, viewer, modifier, stranger):
    url = reverse("vault:account_create", args=[resource.pk])
    data = {"username": "svc", "password": "S3cret!", "notes": "n", "totp_seed": ""}
    assert web(stranger).post(url, data).status_code == 404
    assert web(viewer).post(url, data).status_code == 403
    assert web(viewer).get(url).status_code == 403
    page = text(web(modifier).get(url))
    assert "data-generator" in page and 'autocomplete="new-password"' in page
    response = web(modifier).post(url, data)
    assert response.status_code == 302
    created = Account.objects.get(resource=resource, username="svc")
    assert services.password_retrieve(actor=owner, account_id=created.pk) == "S3cret!"
    assert created.password != b"S3cret!"


def test_add_account_with_a_bad_totp_seed_is_refused_on_the_form(owner, resource):
    response = web(owner).post(
        reverse("vault:account_create", args=[resource.pk]),
        {"username": "u", "password": "p", "totp_seed": "not base32!"},
    )
    assert response.status_code == 200
    assert "must be a base32 secret" in text(response)
    assert not Account.objects.filter(resource=resource).exists()


def test_edit_account_keeps_an_empty_password_and_records_history(owner, resource, account):
    url = reverse("vault:account_edit", args=[account.pk])
    page = text(web(owner).get(url))
    assert PASSWORD not in page
    assert 'value="postgres"' in page
    response = web(owner).post(url, {"username": "pg", "password": "", "notes": "rotate"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.username == "pg"
    assert not PasswordHistory.objects.filter(account=account).exists()
    web(owner).post(url, {"username": "pg", "password": "next-one", "notes": "rotate"})
    assert services.password_retrieve(actor=owner, account_id=account.pk) == "next-one"
    assert PasswordHistory.objects.filter(account=account).count() == 1


def test_edit_account_replaces_and_removes_the_totp_seed(owner, resource):
    account = account_make(owner, resource, username="otp", totp_seed=TOTP_SEED)
    url = reverse("vault:account_edit", args=[account.pk])
    page = text(web(owner).get(url))
    assert "A seed is set" in page and TOTP_SEED not in page
    web(owner).post(url, {"username": "otp", "password": "", "notes": "", "totp_seed": ""})
    account.refresh_from_db()
    assert account.totp_seed is not None  # empty means keep
    web(owner).post(
        url, {"username": "otp", "password": "", "notes": "", "totp_seed": "", "totp_remove": "on"}
    )
    account.refresh_from_db()
    assert account.totp_seed is None


def test_delete_account_needs_manage(owner, resource, account, modifier):
    url = reverse("vault:account_delete", args=[account.pk])
    assert web(modifier).post(url).status_code == 403
    assert web(owner).get(url).status_code == 200
    assert web(owner).post(url).status_code == 302
    assert not Account.objects.filter(pk=account.pk).exists()


# --------------------------------------------------------------------------- retrieval


def test_retrieve_by_level_is_audited_and_never_cached(owner, resource, account, viewer, stranger):
    response = retrieve(web(stranger), account, "curious")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert PASSWORD not in text(response)

    response = retrieve(web(viewer), account, "Ticket 42", REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 200
    assert response.json() == {"password": PASSWORD}
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="password.retrieve", actor=viewer)
    assert event.reason == "Ticket 42"
    assert event.client_ip == "10.9.8.7"
    assert event.object_id == str(account.pk)
    assert PASSWORD not in str(event.details)


def test_retrieve_is_post_only(viewer, account):
    response = web(viewer).get(reverse("vault:password_retrieve", args=[account.pk]))
    assert response.status_code == 405
    assert not AuditEvent.objects.filter(action="password.retrieve").exists()


def test_retrieve_needs_the_csrf_token(viewer, account):
    client = web(viewer, csrf=True)
    response = retrieve(client, account, "x")
    assert response.status_code == 403
    assert PASSWORD not in text(response)
    assert not AuditEvent.objects.filter(action="password.retrieve").exists()
    # The page hands out the token (meta tag); the script sends it as X-CSRFToken.
    page = text(client.get(reverse("vault:resource_detail", args=[account.resource_id])))
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    response = retrieve(client, account, "x", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert response.json()["password"] == PASSWORD


def test_reason_required_when_the_administrator_mandates_it(owner, viewer, account):
    admin = user_make("admin")
    setting_set(actor=admin, key="retrieval_reason_required", value=True)
    page = text(web(viewer).get(reverse("vault:resource_detail", args=[account.resource_id])))
    assert 'data-reason-dialog data-required="true"' in page
    for reason in (None, "", "   "):
        response = retrieve(web(viewer), account, reason)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["details"]["field"] == "reason"
        assert "reason is required" in error["message"]
        assert PASSWORD not in text(response)
        assert response["Cache-Control"] == "no-store"
    assert not AuditEvent.objects.filter(action="password.retrieve").exists()
    response = retrieve(web(viewer), account, "INC-7")
    assert response.json() == {"password": PASSWORD}
    assert AuditEvent.objects.get(action="password.retrieve").reason == "INC-7"
    # A form-encoded body works too (no script needed).
    response = web(viewer).post(
        reverse("vault:password_retrieve", args=[account.pk]), {"reason": "INC-8"}
    )
    assert response.json() == {"password": PASSWORD}


def test_retrieve_without_a_reason_setting_shows_no_dialog_requirement(viewer, account):
    page = text(web(viewer).get(reverse("vault:resource_detail", args=[account.resource_id])))
    assert 'data-reason-dialog data-required="false"' in page
    assert retrieve(web(viewer), account).json() == {"password": PASSWORD}


@pytest.mark.parametrize("body", [b"{not json", b'"just a string"', b'{"reason": 5}'])
def test_retrieve_with_a_malformed_body_is_a_400(viewer, account, body):
    response = web(viewer).post(
        reverse("vault:password_retrieve", args=[account.pk]),
        data=body,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert PASSWORD not in text(response)


@contextmanager
def audit_trail_broken():
    """Every INSERT into the audit table fails, as with a full disk or a revoked grant."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION sr_web_audit_down() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER sr_web_audit_down BEFORE INSERT ON strongroom_audit_event "
                "FOR EACH ROW EXECUTE FUNCTION sr_web_audit_down()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER sr_web_audit_down BEFORE INSERT ON strongroom_audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit down'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("DROP TRIGGER sr_web_audit_down ON strongroom_audit_event")
                cursor.execute("DROP FUNCTION sr_web_audit_down()")
            else:
                cursor.execute("DROP TRIGGER sr_web_audit_down")


def test_retrieve_fails_closed_when_the_audit_trail_is_down(viewer, account):
    client = web(viewer)
    with audit_trail_broken():
        response = retrieve(client, account, "x")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "audit_unavailable"
    assert PASSWORD not in text(response)


def test_totp_code(owner, resource, viewer):
    plain = account_make(owner, resource, username="plain")
    with_totp = account_make(owner, resource, username="otp", totp_seed=TOTP_SEED)
    client = web(viewer)
    response = client.post(
        reverse("vault:totp_code", args=[plain.pk]), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_totp"
    response = client.post(
        reverse("vault:totp_code", args=[with_totp.pk]), content_type="application/json"
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert re.fullmatch(r"\d{6}", body["code"])
    assert pyotp.TOTP(TOTP_SEED).verify(body["code"], valid_window=1)
    assert 0 < body["remaining_seconds"] <= 30
    assert AuditEvent.objects.filter(action="totp.generate", actor=viewer).count() == 1
    page = text(client.get(reverse("vault:resource_detail", args=[resource.pk])))
    assert reverse("vault:totp_code", args=[with_totp.pk]) in page
    assert reverse("vault:totp_code", args=[plain.pk]) not in page


def test_password_history_lists_dates_and_reveals_old_passwords_audited(
    owner, resource, account, viewer, stranger
):
    services.account_update(actor=owner, account_id=account.pk, password="Second-pw-9x")
    services.account_update(actor=owner, account_id=account.pk, password="Third-pw-9x")
    url = reverse("vault:password_history", args=[account.pk])
    assert web(stranger).get(url).status_code == 404
    response = web(viewer).get(url)
    page = text(response)
    assert response["Cache-Control"] == "no-store"
    assert PASSWORD not in page and "Second-pw-9x" not in page
    entries = list(PasswordHistory.objects.filter(account=account).order_by("-created_at"))
    assert len(entries) == 2
    for entry in entries:
        assert reverse("vault:password_history_retrieve", args=[account.pk, entry.pk]) in page
    oldest = entries[-1]
    hist_url = reverse("vault:password_history_retrieve", args=[account.pk, oldest.pk])
    assert web(stranger).post(hist_url, content_type="application/json").status_code == 404
    response = web(viewer).post(hist_url, data={"reason": "audit"}, content_type="application/json")
    assert response.json() == {"password": PASSWORD}
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="password_history.retrieve")
    assert event.actor_id == viewer.pk and event.reason == "audit"
    # Another account's history entry through this account's URL: not found.
    other = account_make(owner, resource, username="other")
    response = web(owner).post(
        reverse("vault:password_history_retrieve", args=[other.pk, oldest.pk]),
        content_type="application/json",
    )
    assert response.status_code == 404


# --------------------------------------------------------------------------- every page


def test_every_page_and_answer_is_no_store_and_every_form_has_a_csrf_token(
    owner, resource, account
):
    services.account_update(actor=owner, account_id=account.pk, password="new")
    group = rgroup_make(owner, resource)
    client = web(owner)
    pages = [
        reverse("vault:resource_list"),
        reverse("vault:resource_create"),
        reverse("vault:resource_detail", args=[resource.pk]),
        reverse("vault:resource_edit", args=[resource.pk]),
        reverse("vault:resource_delete", args=[resource.pk]),
        reverse("vault:resource_sharing", args=[resource.pk]),
        reverse("vault:account_create", args=[resource.pk]),
        reverse("vault:account_edit", args=[account.pk]),
        reverse("vault:account_delete", args=[account.pk]),
        reverse("vault:password_history", args=[account.pk]),
        reverse("vault:resource_group_list"),
        reverse("vault:resource_group_create"),
        reverse("vault:resource_group_detail", args=[group.pk]),
        reverse("vault:resource_group_edit", args=[group.pk]),
        reverse("vault:resource_group_delete", args=[group.pk]),
        reverse("vault:resource_group_sharing", args=[group.pk]),
        reverse("vault:import"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == "no-store", url
        page = text(response)
        for form in re.findall(r'<form method="post".*?</form>', page, re.S):
            assert "csrfmiddlewaretoken" in form, (url, form[:200])
        assert " style=" not in page, url
        assert "<script>" not in page and "<script >" not in page, url
    # error pages too
    response = client.get(reverse("vault:resource_detail", args=[uuid.uuid4()]))
    assert response.status_code == 404 and response["Cache-Control"] == "no-store"


def test_form_posts_need_the_csrf_token(owner, resource):
    client = web(owner, csrf=True)
    response = client.post(reverse("vault:resource_create"), {"name": "no-token"})
    assert response.status_code == 403
    assert not Resource.objects.filter(name="no-token").exists()
    response = client.post(reverse("vault:resource_delete", args=[resource.pk]))
    assert response.status_code == 403
    assert Resource.objects.filter(pk=resource.pk).exists()
