"""Vault web pages through Django's test client: sharing, who has access, resource groups and
import, with every role and sharing level."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from factories import account_make, deactivate, group_make, resource_make, rgroup_make, user_make
from strongroom.audit.models import AuditEvent
from strongroom.vault import services
from strongroom.vault.models import AccessLevel, Account, Resource, ResourceGroup, Share

pytestmark = pytest.mark.django_db


def web(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def owner():
    return user_make("password_admin", username="olivia")


@pytest.fixture
def resource(owner):
    return resource_make(owner, name="mail-01")


@pytest.fixture
def bob():
    return user_make("password_user", username="bob")


# --------------------------------------------------------------------------- resource sharing


def test_sharing_page_needs_manage(owner, resource, bob):
    url = reverse("vault:resource_sharing", args=[resource.pk])
    assert web(bob).get(url).status_code == 404
    services.share_grant(actor=owner, resource_id=resource.pk, user_id=bob.pk, level=2)
    response = web(bob).get(url)
    assert response.status_code == 403
    assert "manage access" in text(response)
    response = web(bob).post(url, {"grantee": f"user:{bob.pk}", "level": "3"})
    assert response.status_code == 403
    assert Share.objects.get(resource=resource, user=bob).level == AccessLevel.MODIFY


def test_share_with_a_user_then_change_the_level_then_revoke(owner, resource, bob):
    inactive = user_make("password_user", username="zed-gone")
    deactivate(inactive)
    client = web(owner)
    url = reverse("vault:resource_sharing", args=[resource.pk])
    page = text(client.get(url))
    # The picker offers active people and groups, never the owner (who has manage anyway).
    assert f'value="user:{bob.pk}"' in page
    assert f'value="user:{owner.pk}"' not in page
    assert "zed-gone" not in page

    response = client.post(url, {"grantee": f"user:{bob.pk}", "level": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == url
    assert "shared with bob at view level" in text(response)
    share = Share.objects.get(resource=resource, user=bob)
    assert share.level == AccessLevel.VIEW
    assert AuditEvent.objects.filter(action="share.grant", object_id=str(resource.pk)).exists()
    # bob now sees it, at view level
    assert web(bob).get(reverse("vault:resource_detail", args=[resource.pk])).status_code == 200

    # sharing again with the same person changes the level (no second share)
    client.post(url, {"grantee": f"user:{bob.pk}", "level": "3"})
    assert Share.objects.filter(resource=resource).count() == 1
    assert Share.objects.get(pk=share.pk).level == AccessLevel.MANAGE
    # the row's level menu does the same
    response = client.post(reverse("vault:share_level", args=[share.pk]), {"level": "2"})
    assert response.status_code == 302 and response["Location"] == url
    assert Share.objects.get(pk=share.pk).level == AccessLevel.MODIFY

    page = text(client.get(url))
    assert reverse("vault:share_revoke", args=[share.pk]) in page
    response = client.post(reverse("vault:share_revoke", args=[share.pk]))
    assert response.status_code == 302 and response["Location"] == url
    assert not Share.objects.filter(pk=share.pk).exists()
    assert web(bob).get(reverse("vault:resource_detail", args=[resource.pk])).status_code == 404


def test_share_form_refusals(owner, resource, bob):
    client = web(owner)
    url = reverse("vault:resource_sharing", args=[resource.pk])
    for data, message in (
        ({"grantee": "", "level": "1"}, "This field is required."),
        ({"grantee": f"user:{uuid.uuid4()}", "level": "1"}, "Select a valid choice."),
        ({"grantee": f"user:{bob.pk}", "level": "9"}, "Select a valid choice."),
    ):
        response = client.post(url, data)
        assert response.status_code == 200
        assert message in text(response)
    assert not Share.objects.exists()


def test_share_with_a_user_group_and_see_who_has_access(owner, resource, bob):
    carol = user_make("password_user", username="carol")
    team = group_make(bob, carol, name="Helpdesk")
    rgroup = rgroup_make(owner, resource, name="Mail servers")
    dave = user_make("password_user", username="dave")
    services.share_grant(actor=owner, resource_group_id=rgroup.pk, user_id=dave.pk, level=3)
    client = web(owner)
    url = reverse("vault:resource_sharing", args=[resource.pk])
    client.post(url, {"grantee": f"group:{team.pk}", "level": "2"})
    assert Share.objects.get(resource=resource, user_group=team).level == AccessLevel.MODIFY
    page = text(client.get(url))
    who = page[page.index("Who has access") :]
    for name in ("olivia", "bob", "carol", "dave"):
        assert f'<span class="person">{name}</span>' in who
    assert "user group Helpdesk" in who
    assert "resource group Mail servers" in who
    assert "Mail servers" in page[: page.index("Who has access")]  # the "through groups" card
    # bob gets modify through the team: he may add accounts but not share
    assert web(bob).get(url).status_code == 403
    bob_page = web(bob).get(reverse("vault:account_create", args=[resource.pk]))
    assert bob_page.status_code == 200
    # the resource page shows the same people to managers
    detail = text(client.get(reverse("vault:resource_detail", args=[resource.pk])))
    assert "carol" in detail and "dave" in detail


def test_revoke_needs_manage_on_the_target(owner, resource, bob):
    carol = user_make("password_user", username="carol")
    services.share_grant(actor=owner, resource_id=resource.pk, user_id=bob.pk, level=2)
    share = Share.objects.get(user=bob)
    url = reverse("vault:share_revoke", args=[share.pk])
    assert web(carol).post(url).status_code == 404
    assert web(bob).post(url).status_code == 403
    assert web(bob).get(url).status_code == 405
    assert web(owner).post(reverse("vault:share_revoke", args=[uuid.uuid4()])).status_code == 404
    assert Share.objects.filter(pk=share.pk).exists()


# --------------------------------------------------------------------------- resource groups


def test_resource_group_list_shows_visible_groups_with_level(owner, resource, bob):
    mine = rgroup_make(owner, resource, name="Mail servers")
    shared = rgroup_make(owner, name="Shared to bob")
    rgroup_make(owner, name="Private")
    services.share_grant(actor=owner, resource_group_id=shared.pk, user_id=bob.pk, level=1)
    page = text(web(bob).get(reverse("vault:resource_group_list")))
    assert "Shared to bob" in page
    assert "Private" not in page and "Mail servers" not in page
    assert reverse("vault:resource_group_create") not in page
    page = text(web(owner).get(reverse("vault:resource_group_list")))
    assert "Mail servers" in page and "Private" in page
    assert reverse("vault:resource_group_detail", args=[mine.pk]) in page
    page = text(web(owner).get(reverse("vault:resource_group_list"), {"q": "mail"}))
    assert "Mail servers" in page and "Private" not in page


def test_create_edit_and_delete_a_resource_group(owner, bob):
    assert web(bob).get(reverse("vault:resource_group_create")).status_code == 403
    client = web(owner)
    response = client.post(reverse("vault:resource_group_create"), {"name": "", "description": ""})
    assert response.status_code == 200 and "This field is required." in text(response)
    response = client.post(
        reverse("vault:resource_group_create"), {"name": "Branch office", "description": "Lyon"}
    )
    group = ResourceGroup.objects.get(name="Branch office")
    assert response["Location"] == reverse("vault:resource_group_detail", args=[group.pk])
    client.post(
        reverse("vault:resource_group_edit", args=[group.pk]),
        {"name": "Branch office Lyon", "description": ""},
    )
    group.refresh_from_db()
    assert group.name == "Branch office Lyon" and group.description == ""
    services.share_grant(actor=owner, resource_group_id=group.pk, user_id=bob.pk, level=2)
    assert web(bob).get(reverse("vault:resource_group_edit", args=[group.pk])).status_code == 403
    assert web(bob).post(reverse("vault:resource_group_delete", args=[group.pk])).status_code == 403
    assert client.get(reverse("vault:resource_group_delete", args=[group.pk])).status_code == 200
    response = client.post(reverse("vault:resource_group_delete", args=[group.pk]))
    assert response["Location"] == reverse("vault:resource_group_list")
    assert not ResourceGroup.objects.filter(pk=group.pk).exists()


def test_add_and_remove_resources_in_a_group(owner, resource, bob):
    other = resource_make(owner, name="mail-02")
    theirs = resource_make(bob_admin := user_make("password_admin"), name="mail-99")
    group = rgroup_make(owner, name="Mail")
    client = web(owner)
    url = reverse("vault:resource_group_detail", args=[group.pk])
    page = text(client.get(url, {"add_q": "mail"}))
    # Only resources the user manages are offered.
    assert "mail-01" in page and "mail-02" in page and "mail-99" not in page
    add = reverse("vault:resource_group_add_resource", args=[group.pk])
    client.post(add, {"resource_id": str(resource.pk)})
    client.post(add, {"resource_id": str(other.pk)})
    assert set(group.resources.values_list("name", flat=True)) == {"mail-01", "mail-02"}
    # someone else's resource: not found, nothing added
    assert client.post(add, {"resource_id": str(theirs.pk)}).status_code == 404
    assert client.post(add, {"resource_id": "not-a-uuid"}).status_code == 404
    page = text(client.get(url))
    assert "mail-01" in page and "mail-02" in page
    remove = reverse("vault:resource_group_remove_resource", args=[group.pk, other.pk])
    assert remove in page
    assert web(bob_admin).post(remove).status_code == 404
    response = client.post(remove)
    assert response["Location"] == url
    assert set(group.resources.values_list("name", flat=True)) == {"mail-01"}
    # a view-level member of the group sees its resources but no add/remove controls
    services.share_grant(actor=owner, resource_group_id=group.pk, user_id=bob.pk, level=1)
    page = text(web(bob).get(url))
    assert "mail-01" in page
    assert "Add resources" not in page and "/remove/" not in page
    assert web(bob).post(add, {"resource_id": str(other.pk)}).status_code == 403


def test_share_a_resource_group(owner, resource, bob):
    group = rgroup_make(owner, resource, name="Mail")
    team = group_make(bob, name="Ops")
    url = reverse("vault:resource_group_sharing", args=[group.pk])
    assert web(bob).get(url).status_code == 404
    client = web(owner)
    client.post(url, {"grantee": f"group:{team.pk}", "level": "1"})
    share = Share.objects.get(resource_group=group, user_group=team)
    page = text(client.get(url))
    assert "Ops" in page and reverse("vault:share_revoke", args=[share.pk]) in page
    # bob reaches the group's resource through his team
    assert web(bob).get(reverse("vault:resource_detail", args=[resource.pk])).status_code == 200
    assert web(bob).get(url).status_code == 403
    response = client.post(reverse("vault:share_revoke", args=[share.pk]))
    assert response["Location"] == url
    assert web(bob).get(reverse("vault:resource_detail", args=[resource.pk])).status_code == 404


# --------------------------------------------------------------------------- import

GOOD_CSV = (
    "resource_name,resource_type,host,url,department,location,description,username,password,"
    "notes,totp_seed,resource_group\n"
    "web-01,Linux,10.0.0.5,,IT,DC1,,root,Imp0rted-pw-1,,,Imported\n"
    "web-01,,,,,,,deploy,Imp0rted-pw-2,,,Imported\n"
    "<b>router</b>,Network device,10.0.0.1,,IT,DC1,,admin,Imp0rted-pw-3,<i>n</i>,,\n"
)
BAD_CSV = (
    "resource_name,resource_type,host,url,department,location,description,username,password,"
    "notes,totp_seed\n"
    "ok-row,Linux,h,,,,,u,p,,\n"
    ",Linux,h,,,,,u,p,,\n"
    "bad-totp,Linux,h,,,,,u,p,,not-base32!\n"
)


def upload(client: Client, data: bytes, fmt: str) -> Any:
    return client.post(
        reverse("vault:import"),
        {"format": fmt, "file": SimpleUploadedFile("vault.csv", data, content_type="text/csv")},
    )


def test_import_needs_the_permission(bob):
    assert web(bob).get(reverse("vault:import")).status_code == 403
    assert upload(web(bob), GOOD_CSV.encode(), "strongroom").status_code == 403
    assert not Resource.objects.exists()


def test_import_success_shows_counts(owner):
    client = web(owner)
    response = upload(client, GOOD_CSV.encode(), "strongroom")
    assert response.status_code == 302
    assert response["Location"] == reverse("vault:resource_list")
    assert Resource.objects.filter(owner=owner).count() == 2
    assert Account.objects.count() == 3
    page = text(client.get(reverse("vault:resource_list")))
    assert "Imported 3 accounts into 2 new resources and 1 new resource group." in page
    assert "&lt;b&gt;router&lt;/b&gt;" in page and "<b>router</b>" not in page


def test_import_failure_lists_every_problem_by_row_and_imports_nothing(owner):
    response = upload(web(owner), BAD_CSV.encode(), "strongroom")
    assert response.status_code == 400
    assert response["Cache-Control"] == "no-store"
    page = text(response)
    assert "Nothing was imported" in page
    rows = re.findall(r'<td data-label="Row">([^<]+)</td>', page)
    assert rows == ["3", "4"]
    assert "resource_name is required" in page
    assert "totp_seed must be a base32 secret" in page
    assert not Resource.objects.exists() and not Account.objects.exists()
    failure = AuditEvent.objects.get(action="vault.import")
    assert failure.outcome == "failure" and failure.details["problems"] == 2


def test_import_other_formats_and_file_problems(owner):
    client = web(owner)
    bitwarden = (
        "folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,"
        "login_password,login_totp\n"
        "Web,,login,Example,,,0,https://example.com,alice,Bw-pw-1,\n"
    )
    assert upload(client, bitwarden.encode(), "bitwarden").status_code == 302
    keepass = (
        '"Group","Title","Username","Password","URL","Notes"\n"Root/Net","sw","a","Kp-pw","",""\n'
    )
    assert upload(client, keepass.encode(), "keepassxc").status_code == 302
    assert set(Resource.objects.values_list("name", flat=True)) == {"Example", "sw"}
    # a file in the wrong format: a whole-file problem, shown as such
    response = upload(client, GOOD_CSV.encode(), "bitwarden")
    assert response.status_code == 400
    assert "whole file" in text(response)
    # not UTF-8
    response = upload(client, "name\n\xff\xfe".encode("latin-1"), "strongroom")
    assert response.status_code == 400
    # no file / unknown format: form errors
    response = client.post(reverse("vault:import"), {"format": "strongroom"})
    assert response.status_code == 200 and "This field is required." in text(response)
    response = upload(client, GOOD_CSV.encode(), "dashlane")
    assert response.status_code == 200 and "Select a valid choice." in text(response)
    assert Resource.objects.count() == 2


def test_hostile_values_on_sharing_and_group_pages_are_text(owner, bob):
    hostile = "<img src=x onerror=alert(1)>"
    resource = resource_make(owner, name=hostile)
    team = group_make(bob, name=f"team {hostile}")
    group = rgroup_make(owner, resource, name=hostile)
    services.share_grant(actor=owner, resource_id=resource.pk, user_group_id=team.pk, level=1)
    services.share_grant(actor=owner, resource_group_id=group.pk, user_group_id=team.pk, level=1)
    account_make(owner, resource, username=hostile)
    client = web(owner)
    for url in (
        reverse("vault:resource_sharing", args=[resource.pk]),
        reverse("vault:resource_group_list"),
        reverse("vault:resource_group_detail", args=[group.pk]),
        reverse("vault:resource_group_sharing", args=[group.pk]),
        reverse("vault:resource_group_edit", args=[group.pk]),
    ):
        page = text(client.get(url))
        assert "<img src=x" not in page, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, url
