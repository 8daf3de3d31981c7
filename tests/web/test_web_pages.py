"""Every page of the people, settings, audit and notification UI: who may open it (each
role, and nobody signed in), the security headers, no inline script or style, CSRF on every
form, and the 403 / 404 pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from factories import ROLES, user_make
from strongroom.accounts import services
from strongroom.notifications.services import notification_post

from .conftest import client_for

ANY = set(ROLES)
ADMIN = {"admin"}
AUDIT = {"admin", "auditor"}

# (URL name, argument key, roles allowed). Argument keys are filled in by ``_objects``.
PAGES: list[tuple[str, str | None, set[str]]] = [
    ("home", None, ANY),
    ("accounts:account", None, ANY),
    ("accounts:reauth", None, ANY),
    ("accounts:password_change", None, ANY),
    ("accounts:two_factor", None, ANY),
    ("accounts:tokens", None, ANY),
    ("accounts:logout", None, ANY),
    ("notifications:list", None, ANY),
    ("accounts:user_list", None, ADMIN),
    ("accounts:user_add", None, ADMIN),
    ("accounts:user_detail", "user", ADMIN),
    ("accounts:roles", None, ADMIN),
    ("accounts:group_list", None, ADMIN),
    ("accounts:group_detail", "group", ADMIN),
    ("accounts:settings", None, ADMIN),
    ("audit:list", None, AUDIT),
    ("audit:verify", None, AUDIT),
    ("audit:csv", None, AUDIT),
]

# Every form of these pages: (URL name, argument key).
POSTS: list[tuple[str, str | None]] = [
    ("accounts:login", None),
    ("accounts:login_code", None),
    ("accounts:logout", None),
    ("accounts:reauth", None),
    ("accounts:password_change", None),
    ("accounts:two_factor_start", None),
    ("accounts:two_factor_confirm", None),
    ("accounts:recovery_codes_regenerate", None),
    ("accounts:two_factor_disable", None),
    ("accounts:tokens", None),
    ("accounts:token_revoke", "token"),
    ("accounts:user_add", None),
    ("accounts:user_detail", "user"),
    ("accounts:user_deactivate", "user"),
    ("accounts:user_activate", "user"),
    ("accounts:user_password_reset", "user"),
    ("accounts:user_totp_reset", "user"),
    ("accounts:group_list", None),
    ("accounts:group_detail", "group"),
    ("accounts:group_member_remove", "member"),
    ("accounts:group_delete", "group"),
    ("accounts:settings", None),
    ("notifications:read", "notification"),
    ("notifications:read_all", None),
]

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle=", re.IGNORECASE)


def _objects(owner: Any) -> dict[str, list[str]]:
    target = user_make("password_user", full_name="Target")
    group = services.user_group_create(actor=None, name="Ops")
    services.user_group_add_member(actor=None, group=group, user=target)
    token = services.api_token_create(user=owner, name="ci", reauth=services.REAUTH_TRUSTED).token
    note = notification_post(user=owner, level="info", title="Hello")
    return {
        "user": [str(target.pk)],
        "group": [str(group.pk)],
        "member": [str(group.pk), str(target.pk)],
        "token": [str(token.pk)],
        "notification": [str(note.pk)],
    }


def _url(name: str, key: str | None, objects: dict[str, list[str]]) -> str:
    return reverse(name, args=objects[key] if key else [])


def assert_secure_page(response: Any) -> None:
    assert response["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "style-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    if response["Content-Type"].startswith("text/html"):
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
        assert not STYLE_ATTRIBUTE.search(html), STYLE_ATTRIBUTE.search(html)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_pages(role):
    user = user_make(role)
    objects = _objects(user)
    client = client_for(user)
    for name, key, allowed in PAGES:
        response = client.get(_url(name, key, objects))
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, name, response.status_code)
        assert_secure_page(response)
        if expected == 403:
            assert b"You do not have access to this page" in response.content


@pytest.mark.django_db
def test_signed_out_visitors_are_sent_to_sign_in():
    objects = _objects(user_make())
    client = Client()
    for name, key, _allowed in PAGES:
        if name == "accounts:logout":
            continue  # answers a signed-out visitor with the sign-in page directly
        url = _url(name, key, objects)
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"] == f"/login/?next={url}", name
        assert response["Cache-Control"] == "no-store"
    assert client.get(reverse("accounts:logout"))["Location"] == "/login/"
    feed = client.get(reverse("notifications:feed"))
    assert feed.status_code == 200 and feed.json() == {"signed_in": False, "login_url": "/login/"}


@pytest.mark.django_db
def test_sign_in_pages_are_not_cached_and_carry_the_headers():
    response = Client().get(reverse("accounts:login"))
    assert response.status_code == 200
    assert_secure_page(response)
    assert b'name="csrfmiddlewaretoken"' in response.content


@pytest.mark.django_db
def test_every_form_refuses_a_post_without_the_csrf_token():
    admin = user_make("admin")
    objects = _objects(admin)
    client = client_for(admin, csrf=True)
    for name, key in POSTS:
        response = client.post(_url(name, key, objects), {"name": "x", "code": "123456"})
        assert response.status_code == 403, name
        assert b"CSRF" in response.content or b"form expired" in response.content, name
    # Nothing changed: the token and the group are still there, nobody was deactivated.
    assert services.api_token_authenticate(raw_token="sr_nothing") is None
    assert client.get(reverse("accounts:group_list")).status_code == 200


@pytest.mark.django_db
def test_forms_carry_the_csrf_token():
    admin = user_make("admin")
    objects = _objects(admin)
    client = client_for(admin)
    for name, key, _allowed in PAGES:
        if name == "audit:csv":
            continue
        html = client.get(_url(name, key, objects)).content.decode()
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", html, re.S):
            assert "csrfmiddlewaretoken" in form, (name, form[:200])


@pytest.mark.django_db
def test_unknown_pages_and_ids_get_the_404_page(admin_client):
    for url in (
        "/no-such-page/",
        reverse("accounts:user_detail", args=["not-a-uuid"]),
        reverse("accounts:user_detail", args=["00000000-0000-0000-0000-000000000001"]),
        reverse("accounts:group_detail", args=["00000000-0000-0000-0000-000000000001"]),
        reverse("accounts:token_revoke", args=["00000000-0000-0000-0000-000000000001"]),
    ):
        response = admin_client.post(url) if "revoke" in url else admin_client.get(url)
        assert response.status_code == 404, url
        assert b"This page does not exist" in response.content
        assert_secure_page(response)


@pytest.mark.django_db
def test_a_post_only_action_refuses_get(admin_client, make_user):
    target = make_user()
    response = admin_client.get(reverse("accounts:user_deactivate", args=[target.pk]))
    assert response.status_code == 405
    target.refresh_from_db()
    assert target.is_active


@pytest.mark.django_db
def test_navigation_follows_the_role(users):
    html = {role: client_for(user).get("/").content.decode() for role, user in users.items()}
    assert 'href="/admin/users/"' in html["admin"]
    assert ">Admin<" in html["admin"]
    for role in ("password_admin", "password_user"):
        assert ">Admin<" not in html[role] and "/audit/" not in html[role]
    assert ">Audit trail<" in html["auditor"] and "/admin/users/" not in html["auditor"]
    assert ">Import<" in html["password_admin"] and ">Import<" not in html["password_user"]


def test_the_500_page_renders_without_a_request_context():
    from django.test import RequestFactory
    from django.views.defaults import server_error

    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html and "/static/web/app.css" in html
    assert not INLINE_SCRIPT.search(html) and not STYLE_ATTRIBUTE.search(html)


@pytest.mark.django_db
def test_health_probes_skip_the_session_machinery():
    response = Client().get("/livez")
    assert response.status_code == 200 and "Cache-Control" not in response
