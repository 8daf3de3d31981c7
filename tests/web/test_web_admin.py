"""Administrator pages: users, user groups, roles and general settings, driven through the
forms; every change goes through the services (audited) and their refusals show on the page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from factories import user_make
from strongroom.accounts import services
from strongroom.accounts.models import User, UserGroup
from strongroom.accounts.permissions import MATRIX, Perm
from strongroom.audit.models import AuditEvent
from strongroom.core.settings_store import SETTINGS, setting_get

from .conftest import client_for, confirm_its_me
from .test_web_pages import assert_secure_page

pytestmark = pytest.mark.django_db
HOSTILE = "<img src=x onerror=alert(1)>\"'&"


def _generated(html: str) -> str:
    return re.search(r'id="temporary-password">([^<]+)<', html).group(1)


def test_add_user_with_generated_password_shown_once(admin_client):
    response = admin_client.post(
        reverse("accounts:user_add"),
        {
            "username": "frank",
            "full_name": HOSTILE,
            "email": "frank@example.test",
            "role": "auditor",
            "password": "",
            "must_change_password": "on",
        },
    )
    assert_secure_page(response)
    html = response.content.decode()
    password = _generated(html)
    frank = User.objects.get(username="frank")
    assert frank.check_password(password) and frank.must_change_password
    assert frank.role == "auditor" and frank.full_name == HOSTILE
    detail = admin_client.get(reverse("accounts:user_detail", args=[frank.pk])).content.decode()
    assert password not in detail
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;" in detail
    assert "<img src=x" not in detail


def test_add_user_with_chosen_password_and_refusals(admin_client):
    url = reverse("accounts:user_add")
    weak = admin_client.post(url, {"username": "gail", "role": "password_user", "password": "x"})
    assert b"too short" in weak.content
    assert not User.objects.filter(username="gail").exists()
    ok = admin_client.post(
        url, {"username": "gail", "role": "password_user", "password": "Gail-has-a-long-one-1"}
    )
    gail = User.objects.get(username="gail")
    assert ok["Location"] == reverse("accounts:user_detail", args=[gail.pk])
    assert not gail.must_change_password and gail.check_password("Gail-has-a-long-one-1")
    duplicate = admin_client.post(
        url, {"username": "GAIL", "role": "password_user", "password": "Gail-has-a-long-one-1"}
    )
    assert "A user named &#x27;GAIL&#x27; already exists." in duplicate.content.decode()
    bad_email = admin_client.post(
        url, {"username": "hal", "role": "password_user", "email": "not an address"}
    )
    assert b"Email is not a valid address." in bad_email.content


def test_edit_role_and_the_last_administrator_rule(admin, admin_client):
    carol = user_make()
    url = reverse("accounts:user_detail", args=[carol.pk])
    admin_client.post(url, {"full_name": "Carol C", "email": "", "role": "password_admin"})
    carol.refresh_from_db()
    assert (carol.role, carol.full_name) == ("password_admin", "Carol C")
    own = reverse("accounts:user_detail", args=[admin.pk])
    confirm_its_me(admin_client)  # their own account
    refused = admin_client.post(own, {"full_name": "", "email": "", "role": "auditor"})
    assert b"Cannot change the role of the last active administrator." in refused.content
    admin.refresh_from_db()
    assert admin.role == "admin"
    page = admin_client.get(own).content.decode()
    assert "Deactivate…" not in page  # nobody deactivates themselves


def test_deactivate_reactivate_reset_password_and_two_factor(admin_client):
    user = user_make()
    session = client_for(user)
    services.user_totp_enrol(user=user, reauth=services.REAUTH_TRUSTED)
    user.refresh_from_db()
    user.totp_enabled = True  # a confirmed enrolment, without the authenticator app
    user.save(update_fields=["totp_enabled"])

    url = reverse("accounts:user_detail", args=[user.pk])
    assert "Reset two-factor…" in admin_client.get(url).content.decode()
    admin_client.post(reverse("accounts:user_totp_reset", args=[user.pk]))
    user.refresh_from_db()
    assert not user.totp_enabled and user.totp_secret is None

    reset = admin_client.post(reverse("accounts:user_password_reset", args=[user.pk]))
    temporary = _generated(reset.content.decode())
    user.refresh_from_db()
    assert user.check_password(temporary) and user.must_change_password
    assert session.get("/").status_code == 302  # the reset ended the user's session

    gone = admin_client.post(reverse("accounts:user_deactivate", args=[user.pk]), follow=True)
    assert "was deactivated" in gone.content.decode()
    user.refresh_from_db()
    assert not user.is_active
    admin_client.post(reverse("accounts:user_activate", args=[user.pk]))
    user.refresh_from_db()
    assert user.is_active
    actions = list(
        AuditEvent.objects.filter(object_id=str(user.pk)).values_list("action", flat=True)
    )
    for action in ("user.totp_reset", "user.password_reset", "user.deactivate", "user.activate"):
        assert action in actions


def test_user_list_search_and_status_filter(admin_client):
    user_make(username="zed-active", full_name="Zed")
    quiet = user_make(username="zed-gone")
    services.user_deactivate(actor=User.objects.get(username="root-admin"), user=quiet)
    page = admin_client.get(reverse("accounts:user_list"), {"q": "zed"}).content.decode()
    table = page.split("<table")[1]
    assert "zed-active" in table and "zed-gone" in table and "root-admin" not in table
    active = admin_client.get(reverse("accounts:user_list"), {"q": "zed", "status": "active"})
    assert b"zed-gone" not in active.content and b"zed-active" in active.content
    junk = admin_client.get(reverse("accounts:user_list"), {"q": "a\x00b", "status": "junk"})
    assert junk.status_code == 200


def test_user_list_paginates(admin_client):
    for index in range(55):
        user_make(username=f"bulk-{index:03d}")
    first = admin_client.get(reverse("accounts:user_list"), {"q": "bulk"}).content.decode()
    assert "bulk-000" in first and "bulk-050" not in first and "Page 1 of 2" in first
    second = admin_client.get(reverse("accounts:user_list"), {"q": "bulk", "page": 2})
    assert b"bulk-054" in second.content and b"q=bulk&amp;page=1" in second.content


def test_user_groups_create_rename_members_delete(admin_client):
    member = user_make(username="ivy", full_name=HOSTILE)
    inactive = user_make(username="jon")
    services.user_deactivate(actor=User.objects.get(username="root-admin"), user=inactive)
    created = admin_client.post(
        reverse("accounts:group_list"), {"name": HOSTILE, "description": "Night shift"}
    )
    group = UserGroup.objects.get()
    detail = reverse("accounts:group_detail", args=[group.pk])
    assert created["Location"] == detail
    page = admin_client.get(detail).content.decode()
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert '<option value="ivy">' in page and 'value="jon"' not in page

    duplicate = admin_client.post(reverse("accounts:group_list"), {"name": HOSTILE.upper()})
    assert b"already exists" in duplicate.content
    admin_client.post(detail, {"form": "member", "username": "IVY"})
    assert list(group.members.all()) == [member]
    nobody = admin_client.post(detail, {"form": "member", "username": "jon"})
    assert "There is no active user named “jon”" in nobody.content.decode()
    admin_client.post(detail, {"form": "rename", "name": "Night ops", "description": ""})
    group.refresh_from_db()
    assert (group.name, group.description) == ("Night ops", "")
    admin_client.post(reverse("accounts:group_member_remove", args=[group.pk, member.pk]))
    assert not group.members.exists()
    again = admin_client.post(
        reverse("accounts:group_member_remove", args=[group.pk, member.pk]), follow=True
    )
    assert "That user is not a member of this group." in again.content.decode()
    admin_client.post(reverse("accounts:group_delete", args=[group.pk]))
    assert not UserGroup.objects.exists()


def test_roles_page_shows_the_matrix():
    admin = user_make("admin")
    user_make("auditor")
    html = client_for(admin).get(reverse("accounts:roles")).content.decode()
    for perm in Perm:
        assert f"<code>{perm.value}</code>" in html
    allowed = html.count('class="yes"')
    assert allowed == sum(len(perms) for perms in MATRIX.values())
    assert "1 active" in html


def test_general_settings_cover_every_key_and_save(admin_client):
    url = reverse("accounts:settings")
    page = admin_client.get(url).content.decode()
    for key, spec in SETTINGS.items():
        assert f'name="{key}"' in page
        assert spec.description in page
    saved = admin_client.post(url, {"retrieval_reason_required": "on"}, follow=True)
    assert "The settings were saved." in saved.content.decode()
    assert setting_get("retrieval_reason_required") is True
    assert re.search(r'name="retrieval_reason_required"[^>]*checked', saved.content.decode())
    admin_client.post(url, {})
    assert setting_get("retrieval_reason_required") is False
    assert AuditEvent.objects.filter(action="settings.update").count() == 2


def test_password_admin_cannot_manage_people():
    client = client_for(user_make("password_admin"))
    target = user_make()
    response = client.post(
        reverse("accounts:user_detail", args=[target.pk]),
        {"full_name": "x", "email": "", "role": "admin"},
    )
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.role == "password_user"
    assert client.post(reverse("accounts:group_list"), {"name": "g"}).status_code == 403
    assert not UserGroup.objects.exists()
    assert client.post(
        reverse("accounts:settings"), {"retrieval_reason_required": "on"}
    ).status_code == (403)
    assert setting_get("retrieval_reason_required") is False


def test_lists_need_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    people = [user_make(username=f"many-{index:02d}") for index in range(30)]
    for index in range(12):
        group = services.user_group_create(actor=None, name=f"team {index}")
        for person in people[index : index + 5]:
            services.user_group_add_member(actor=None, group=group, user=person)
    with django_assert_max_num_queries(12):
        users_page = admin_client.get(reverse("accounts:user_list"))
    with django_assert_max_num_queries(12):
        groups_page = admin_client.get(reverse("accounts:group_list"))
    assert users_page.content.decode().count("many-") >= 30
    html = groups_page.content.decode()
    assert re.search(r'data-label="Members">5</td>', html)
