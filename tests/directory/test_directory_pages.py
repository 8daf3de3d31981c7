"""The directory admin page: save settings, add a mapping, test, sync now."""

from __future__ import annotations

import pytest

from factories import Api, user_make
from strongroom.accounts.models import UserGroup
from strongroom.directory.models import DirectoryConfig, GroupMapping

from .slapd_server import ENGINEERING, GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, STAFF

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db):
    user_make("admin", username="break-glass")
    api = Api()
    assert api.login("break-glass").status_code == 200
    return api.client


def test_admin_page_saves_tests_maps_and_syncs(slapd, admin_client):
    page = admin_client.get("/admin/directory/")
    assert page.status_code == 200
    assert b"Directory (LDAP / Active Directory)" in page.content
    form = {
        "enabled": "on",
        "server_urls": slapd.ldaps_url,
        "security": "ldaps",
        "ca_bundle": slapd.ca_pem,
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PASSWORD,
        "user_search_base": PEOPLE,
        "user_filter": "(objectClass=inetOrgPerson)",
        "username_attribute": "uid",
        "email_attribute": "mail",
        "name_attribute": "cn",
        "group_search_base": GROUPS,
        "group_filter": "(objectClass=groupOfNames)",
        "nesting": "walk",
        "allowed_group_dn": STAFF,
        "default_role": "password_user",
        "timeout_seconds": "10",
    }
    saved = admin_client.post("/admin/directory/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    config = DirectoryConfig.objects.get()
    assert config.enabled and config.allowed_group_dn == STAFF
    # Saving again without a password keeps the stored one.
    admin_client.post("/admin/directory/", {**form, "bind_password": ""})
    page = admin_client.get("/admin/directory/").content.decode()
    assert "Service account password: stored" in page
    assert SERVICE_PASSWORD not in page

    tested = admin_client.post("/admin/directory/test/", {"username": "alice"}, follow=True)
    assert "Service bind OK" in tested.content.decode()
    assert "alice: found, in 2 groups" in tested.content.decode()

    group = UserGroup.objects.create(name="Engineers")
    admin_client.post(
        "/admin/directory/mappings/", {"group_dn": ENGINEERING, "user_group": str(group.pk)}
    )
    assert GroupMapping.objects.get().user_group == group

    synced = admin_client.post("/admin/directory/sync/", follow=True)
    assert "Sync done: 0 directory users checked" in synced.content.decode()


def test_a_bad_filter_is_shown_and_nothing_saved(admin_client):
    page = admin_client.post(
        "/admin/directory/",
        {
            "security": "ldaps",
            "user_filter": "uid=*",
            "username_attribute": "uid",
            "email_attribute": "mail",
            "name_attribute": "cn",
            "group_filter": "(objectClass=groupOfNames)",
            "nesting": "walk",
            "default_role": "password_user",
            "timeout_seconds": "10",
        },
    )
    assert page.status_code == 200
    assert "must be an LDAP filter in parentheses" in page.content.decode()
    assert DirectoryConfig.objects.get().user_filter == "(objectClass=inetOrgPerson)"
