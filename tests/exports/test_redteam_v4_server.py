"""Red team 4 against the server side of offline format 4: a user's HTML copy never gets
another account's file under an entry (same resource, same file name), and the
administrator's caps take no hostile value through the API or the web form (each refused
with a clear error, nothing changed). These attacks fail; kept as cheap regressions."""

from __future__ import annotations

import pytest
from django.test import Client

from factories import PASSPHRASE, TEST_ITERATIONS, account_make, api_for, resource_make, user_make
from strongroom.exports import offline_file
from strongroom.exports import policy as export_policy
from strongroom.vault import attachments, services

from .helpers import admin, policy_set

pytestmark = pytest.mark.django_db


def test_two_accounts_files_of_one_name_stay_with_their_own_account():
    """Attack (fails): two accounts of one resource (entries of the same name) each hold a
    "id_rsa"; the reader may see the resource. Each entry carries its own account's bytes,
    never the other's, whatever the order."""
    policy_set(kdf_iterations=TEST_ITERATIONS)
    owner = user_make("password_admin")
    reader = user_make("password_user")
    resource = resource_make(owner, "bastion")
    for username in ("alice", "bob", "carol"):
        account = account_make(owner, resource, username)
        attachments.attachment_upload(
            actor=owner, account_id=account.pk, name="id_rsa", data=f"KEY-{username}".encode()
        )
    services.share_grant(actor=owner, resource_id=resource.pk, user_id=reader.pk, level="view")

    response = api_for(reader).post("/exports/offline", {"passphrase": PASSPHRASE})
    assert response.status_code == 200, response.content
    opened = offline_file.offline_file_open(html=response.content, passphrase=PASSPHRASE)
    held = {(e.username, a.name, a.data) for e in opened.entries for a in e.attachments}
    assert held == {(u, "id_rsa", f"KEY-{u}".encode()) for u in ("alice", "bob", "carol")}


@pytest.mark.parametrize(
    "value",
    [
        True,  # a JSON boolean is not a number of bytes
        1.5,
        1e6,  # a JSON number with an exponent
        10**40,  # bigger than any column
        -(2**63),
        "1048576",  # a string of digits
        "\u0661\u0660\u0660",  # Arabic-Indic digits
        "\uff11\uff10\uff10",  # full-width digits
        None,
        [],
    ],
)
@pytest.mark.parametrize("field", ["html_attachment_max_bytes", "html_attachments_total_bytes"])
def test_the_api_refuses_hostile_caps_and_changes_nothing(field, value):
    api = api_for(admin())
    before = api.get("/export-policy").json()
    bad = api.put("/export-policy", {field: value})
    assert bad.status_code == 400, bad.content
    assert bad.json()["error"]["details"]["fields"][0]["field"] == field
    assert api.get("/export-policy").json() == before


@pytest.mark.parametrize(
    "value",
    [
        "-1",
        "26214401",
        "\u0662\u0666\u0662\u0661\u0664\u0664\u0660\u0661",  # 26214401 in Arabic-Indic digits
        "99999999999999999999999",
        "9" * 5000,  # past Python's int() digit limit
        "1e3",
        "0x10",
        "1 MiB",
        "",
        "NaN",
    ],
)
def test_the_web_form_refuses_hostile_caps_and_changes_nothing(value):
    before = export_policy.policy_get().as_dict()
    client = Client()
    client.force_login(admin())
    form = {
        **{k: str(v) for k, v in before.items() if not isinstance(v, bool | list)},
        **{k: "on" for k, v in before.items() if v is True},
        "offline_formats": before["offline_formats"],
        "html_attachment_max_bytes": value,
    }
    response = client.post("/admin/export/", form)
    assert response.status_code == 200  # the form again, with its error
    assert response.context["form"].errors.get("html_attachment_max_bytes")
    assert export_policy.policy_get().as_dict() == before


def test_a_selection_naming_an_unseen_resource_gets_no_copy_and_none_of_its_files():
    """Attack (fails): the reader, who may view one resource, asks for an HTML copy of a
    selection naming it and a resource they cannot see (whose account has a file): refused
    whole, no file built; asking for their own resource twice carries its file once."""
    policy_set(kdf_iterations=TEST_ITERATIONS)
    owner = user_make("password_admin")
    reader = user_make("password_user")
    shared, private = resource_make(owner, "shared"), resource_make(owner, "private")
    for resource, data in ((shared, b"SHARED"), (private, b"PRIVATE")):
        account = account_make(owner, resource, "svc")
        attachments.attachment_upload(actor=owner, account_id=account.pk, name="f", data=data)
    services.share_grant(actor=owner, resource_id=shared.pk, user_id=reader.pk, level="view")
    api = api_for(reader)

    refused = api.post(
        "/exports/offline",
        {"passphrase": PASSPHRASE, "resource_ids": [str(shared.pk), str(private.pk)]},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "bulk_refused"
    assert b"PRIVATE" not in refused.content
    twice = api.post(
        "/exports/offline",
        {"passphrase": PASSPHRASE, "resource_ids": [str(shared.pk), str(shared.pk)]},
    )
    assert twice.status_code == 200, twice.content
    opened = offline_file.offline_file_open(html=twice.content, passphrase=PASSPHRASE)
    assert [(e.name, a.data) for e in opened.entries for a in e.attachments] == [
        ("shared", b"SHARED")
    ]
