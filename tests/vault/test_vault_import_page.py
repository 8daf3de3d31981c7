"""The import page: format detection, the three modes, the KeePass password, and the
report of what was skipped or updated (escaped: names come from the file)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from factories import user_make
from strongroom.core.secrets import unseal
from strongroom.vault.models import Account, Resource
from vault import import_files as files
from vault.import_files import KDBX_PASSWORD, Item

pytestmark = pytest.mark.django_db

MARKUP = "<img src=x onerror=alert(1)>"


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, data: bytes, **fields):
    body = {"format": "auto", "file": SimpleUploadedFile("export", data), **fields}
    return client.post("/import/", body)


def test_the_page_offers_detection_every_format_and_the_modes():
    page = web(user_make("password_admin")).get("/import/").content.decode()
    assert '<option value="auto" selected>Detect from the file</option>' in page
    for label in (
        "Bitwarden JSON export",
        "1Password export (.1pux)",
        "LastPass CSV export",
        "KeePass XML (2.x) export",
        "KeePass database (.kdbx)",
    ):
        assert label in page
    assert 'type="radio" name="mode" value="skip"' in page and "checked" in page
    assert 'type="password" name="password"' in page


def test_a_clean_import_goes_to_the_list_and_a_reimport_shows_what_was_skipped():
    owner = user_make("password_admin")
    client = web(owner)
    data = files.bitwarden_json(
        [Item(MARKUP, "root", "pw"), Item("card", kind="card"), Item("db", "sa", "pw")]
    )
    first = post(client, data)
    # A card was skipped, so the report is shown rather than a redirect.
    assert first.status_code == 200
    page = first.content.decode()
    assert "Import finished" in page
    assert "Imported 2 accounts into 2 new resources; skipped 1 item." in page
    assert "Bitwarden card items are not imported" in page

    again = post(client, files.bitwarden_json([Item(MARKUP, "root", "pw"), Item("db", "sa", "pw")]))
    page = again.content.decode()
    assert "Imported 0 accounts into 0 new resources; skipped 2 items." in page
    assert "Skipped (2)" in page
    assert MARKUP not in page and "&lt;img src=x onerror=alert(1)&gt; / root" in page
    assert Account.objects.count() == 2

    clean = post(client, files.bitwarden_json([Item("new", "u", "p")]))
    assert clean.status_code == 302 and clean["Location"] == "/resources/"


def test_update_mode_and_a_kdbx_with_its_password_from_the_page():
    owner = user_make("password_admin")
    client = web(owner)
    post(client, files.strongroom([Item("router", "admin", "old")]))
    data = files.kdbx([Item("router", "admin", "new")])

    refused = post(client, data, mode="update", password="wrong")
    assert refused.status_code == 400
    assert "the password is wrong for this KeePass database" in refused.content.decode()

    done = post(client, data, mode="update", password=KDBX_PASSWORD)
    page = done.content.decode()
    assert done.status_code == 200, page
    assert "updated 1 account" in page and "Updated (1)" in page
    account = Account.objects.get(resource__name="router")
    assert unseal(account, "password") == "new"
    assert Resource.objects.count() == 1
    assert KDBX_PASSWORD not in page


def test_a_refused_file_lists_items_by_their_place():
    client = web(user_make("password_admin"))
    response = post(client, files.bitwarden_json([Item("ok"), Item("bad", url="javascript:x")]))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported" in page
    assert '2: <span class="mono">items[1]</span>' in page
    assert "login.uris[0].uri is not a valid URL: the scheme &#x27;javascript&#x27;" in page
