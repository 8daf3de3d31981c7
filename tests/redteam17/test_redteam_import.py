"""Red team (issue 17): hostile import files. Each test is an attack; the product must
refuse it cleanly (a problem in the report, nothing written, no server error) or keep
the hostile value as plain text."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from factories import account_make, api_for, resource_make, user_make
from strongroom.exports import services as exports
from strongroom.vault import services
from strongroom.vault.importers import MAX_IMPORT_BYTES
from strongroom.vault.models import Account, Resource, Share
from vault import import_files as files
from vault.import_files import KDBX_PASSWORD, Item

pytestmark = pytest.mark.django_db

ARGON2D = bytes.fromhex("ef636ddf8c29444b91f7a9a403e30a0c")
AES_KDF = bytes.fromhex("c9d9f39a628a4460bf740d08c18a4fea")
# VariantDictionary items as pykeepass writes them: type, key length, key, value length.
ITEM_V = b"\x04\x01\x00\x00\x00V\x04\x00\x00\x00"
ITEM_I = b"\x05\x01\x00\x00\x00I\x08\x00\x00\x00"


def _upload(api, data: bytes, fmt: str = "auto", mode: str | None = None, password=None):
    body = {"file": SimpleUploadedFile("export.bin", data), "format": fmt}
    if mode:
        body["mode"] = mode
    if password is not None:
        body["password"] = password
    return api.client.post("/api/v1/import", body, headers=api._headers({}), REMOTE_ADDR=api.ip)


@pytest.fixture
def importer(db):
    return user_make("password_admin")


@pytest.fixture(scope="module")
def kdbx_bytes():
    return files.kdbx([Item("router", "admin", "pw")])


def test_kdbx_aes_kdf_hidden_behind_decoy_argon2_parameters_is_refused_before_hashing(
    importer, kdbx_bytes
):
    """HOLE (fixed): the cost check looked at ``M`` when present, whatever the KDF's UUID,
    while pykeepass derives by the UUID. An AES-KDF database carrying small decoy Argon2
    parameters had its rounds (``R``) unchecked: 4,000,000,000 rounds is hours of one
    core per upload. Here the Argon2d UUID becomes AES-KDF and the ``V`` item becomes
    ``R``; the small M, I and P stay."""
    hostile = kdbx_bytes.replace(ARGON2D, AES_KDF, 1)
    at = hostile.index(ITEM_V)
    hostile = (
        hostile[:at]
        + b"\x04\x01\x00\x00\x00R\x04\x00\x00\x00"
        + (4_000_000_000).to_bytes(4, "little")
        + hostile[at + len(ITEM_V) + 4 :]
    )
    response = _upload(api_for(importer), hostile, password="anything")
    assert response.status_code == 400, response.content
    (problem,) = response.json()["error"]["details"]["problems"]
    assert problem["problem"].startswith(
        "the database asks for 4,000,000,000 AES-KDF rounds, more than the 10,000,000"
    )
    assert not Resource.objects.exists()


def test_kdbx_with_an_argon2_parameter_missing_is_refused_not_a_server_error(importer, kdbx_bytes):
    """An Argon2 database without ``I`` (renamed ``X``) made the cost check raise KeyError
    (a 500); it is a damaged file, refused before any hashing."""
    at = kdbx_bytes.index(ITEM_I)
    hostile = kdbx_bytes[:at] + ITEM_I.replace(b"I", b"X") + kdbx_bytes[at + len(ITEM_I) :]
    response = _upload(api_for(importer), hostile, password=KDBX_PASSWORD)
    assert response.status_code == 400, response.content
    (problem,) = response.json()["error"]["details"]["problems"]
    assert "key derivation settings are incomplete" in problem["problem"]


def test_kdbx_argon2_memory_just_over_the_limit_is_refused(importer, kdbx_bytes):
    """512 MiB and one byte is over the limit (it was rounded down to 512 before)."""
    marker = b"\x05\x01\x00\x00\x00M\x08\x00\x00\x00"
    at = kdbx_bytes.index(marker) + len(marker)
    hostile = kdbx_bytes[:at] + (512 * 2**20 + 1).to_bytes(8, "little") + kdbx_bytes[at + 8 :]
    report = services.import_csv(actor=importer, data=hostile, fmt="kdbx", password="x")
    assert report.problems[0].problem.startswith(
        "the database asks for 513 MiB of Argon2 memory, more than the 512"
    )


def test_1pux_zip_bomb_lying_about_its_size_is_refused(importer):
    """A zip whose export.data inflates past the import limit, with the central directory
    claiming it is small: read no further than the limit, refuse, write nothing."""
    big = b'{"accounts": [' + b" " * (MAX_IMPORT_BYTES + 10) + b"]}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.attributes", "{}")
        archive.writestr("export.data", big)
    data = bytearray(buffer.getvalue())
    # Patch the uncompressed size in the central directory entry of export.data to 100.
    name = b"export.data"
    central = data.rindex(b"PK\x01\x02")  # the last central directory entry: export.data
    assert data[central + 46 : central + 46 + len(name)] == name
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    assert len(data) < 1_000_000  # it is the compression that is hostile, not the upload
    report = services.import_csv(actor=importer, data=bytes(data), fmt="1password_1pux")
    assert not report.ok
    assert "export.data" in report.problems[0].problem or "zip" in report.problems[0].problem
    assert not Resource.objects.exists()


@pytest.mark.parametrize(
    "xml",
    [
        # External entity (XXE) reading a local file.
        b'<?xml version="1.0"?><!DOCTYPE KeePassFile [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<KeePassFile><Root><Group><Name>g</Name><Entry><String><Key>Title</Key>"
        b"<Value>&x;</Value></String></Entry></Group></Root></KeePassFile>",
        # External entity over the network (must not be fetched).
        b'<?xml version="1.0"?><!DOCTYPE KeePassFile [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'
        b"<KeePassFile><Root><Group><Name>&x;</Name></Group></Root></KeePassFile>",
        # Parameter entity.
        b'<?xml version="1.0"?><!DOCTYPE KeePassFile '
        b'[<!ENTITY % p SYSTEM "file:///etc/hosts"> %p;]>'
        b"<KeePassFile><Root><Group><Name>g</Name></Group></Root></KeePassFile>",
        # A DOCTYPE alone (no entity).
        b'<?xml version="1.0"?><!DOCTYPE KeePassFile>'
        b"<KeePassFile><Root><Group><Name>g</Name></Group></Root></KeePassFile>",
    ],
    ids=["xxe-file", "xxe-http", "parameter-entity", "bare-doctype"],
)
def test_keepass_xml_entities_and_dtds_are_refused(importer, xml):
    response = _upload(api_for(importer), xml, fmt="keepass_xml")
    assert response.status_code == 400, response.content
    (problem,) = response.json()["error"]["details"]["problems"]
    assert problem["problem"] == "the XML declares a DTD or entities, which an export never does"
    assert "root:" not in response.content.decode()
    assert not Resource.objects.exists()


def test_update_mode_never_reaches_a_resource_shared_with_the_importer(importer):
    """Another user's resource, shared with the importer at manage level, with the same
    name, URL and username as the file's entry: update mode must not touch it."""
    other = user_make("password_admin")
    theirs = resource_make(other, "mail", url="https://mail.example")
    account = account_make(other, theirs, "boss", "their-password")
    services.share_grant(actor=other, resource_id=theirs.pk, user_id=importer.pk, level="manage")
    assert Share.objects.filter(resource=theirs, user=importer).exists()
    data = files.strongroom([Item("mail", "boss", "attacker-password", url="https://mail.example")])
    response = _upload(api_for(importer), data, fmt="strongroom", mode="update")
    assert response.status_code == 200, response.content
    assert response.json()["accounts_updated"] == 0
    assert services.password_retrieve(actor=other, account_id=account.pk) == "their-password"
    mine = Resource.objects.get(owner=importer)
    assert mine.pk != theirs.pk
    assert Account.objects.filter(resource=theirs).count() == 1


FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,1)", "-2+3", "@SUM(A1)", "\uff1dHYPERLINK(1)"]


def test_formula_prefixes_are_kept_exactly_and_escaped_again_on_csv_export(importer):
    import csv

    items = [Item(f"r{i}", value, "pw", notes=value) for i, value in enumerate(FORMULAS)]
    report = services.import_csv(actor=importer, data=files.strongroom(items), fmt="strongroom")
    assert report.ok, report.problems
    stored = {a.resource.name: a.username for a in Account.objects.select_related("resource")}
    assert stored == {f"r{i}": v for i, v in enumerate(FORMULAS)}
    result = exports.export_spreadsheet(actor=importer, fmt="csv", with_passwords=False)
    reader = csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"), newline=""))
    rows = {row["Resource"]: row["Username"] for row in reader}
    assert rows == {f"r{i}": "'" + v for i, v in enumerate(FORMULAS)}


def test_skip_mode_is_no_oracle_for_other_users_resources_and_groups(importer):
    """A victim's resource (not shared) and resource group with the file's names: skip mode
    must not report them as already in the vault, and the file's group becomes a new group
    of the importer's, never the victim's."""
    from strongroom.vault.models import ResourceGroup

    victim = user_make("password_admin")
    theirs = resource_make(victim, "vpn", url="https://vpn.example")
    account_make(victim, theirs, "ops", "victim-pw")
    victim_group = services.resource_group_create(actor=victim, name="Ops")
    data = files.strongroom([Item("vpn", "ops", "pw", url="https://vpn.example", group="Ops")])
    response = _upload(api_for(importer), data, fmt="strongroom", mode="skip")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["skipped_count"] == 0 and body["accounts_created"] == 1
    assert body["resource_groups_created"] == 1
    assert not victim_group.resources.exists()
    mine = ResourceGroup.objects.get(owner=importer)
    assert mine.name == "Ops" and mine.pk != victim_group.pk


@pytest.mark.parametrize("depth", [200, 5000, 200_000])
def test_deeply_nested_keepass_groups_are_refused_or_imported_never_a_server_error(importer, depth):
    """HOLE (fixed): groups nested thousands deep (a few hundred KB of XML) overflowed the
    recursive walk over them (RecursionError, a 500). Deeper than 100 is refused."""
    entry = (
        b"<Entry><String><Key>Title</Key><Value>deep</Value></String>"
        b"<String><Key>UserName</Key><Value>u</Value></String>"
        b"<String><Key>Password</Key><Value>p</Value></String></Entry>"
    )
    xml = (
        b"<KeePassFile><Root>"
        + b"<Group><Name>g</Name>" * depth
        + entry
        + b"</Group>" * depth
        + b"</Root></KeePassFile>"
    )
    response = _upload(api_for(importer), xml, fmt="keepass_xml")
    assert response.status_code == 400, response.status_code
    (problem,) = response.json()["error"]["details"]["problems"]
    assert problem["problem"] == (
        "the groups are nested more than 100 deep, which an export never is"
    )
    assert not Resource.objects.exists()


def test_groups_nested_a_hundred_deep_still_import(importer):
    entry = (
        b"<Entry><String><Key>Title</Key><Value>deep</Value></String>"
        b"<String><Key>UserName</Key><Value>u</Value></String>"
        b"<String><Key>Password</Key><Value>p</Value></String></Entry>"
    )
    xml = (
        b"<KeePassFile><Root><Group><Name>Root</Name>"
        + b"<Group><Name>g</Name>" * 99
        + entry
        + b"</Group>" * 100
        + b"</Root></KeePassFile>"
    )
    report = services.import_csv(actor=importer, data=xml, fmt="keepass_xml")
    assert report.ok, report.problems
    assert Resource.objects.get().resource_groups.get().name == "/".join(["g"] * 99)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("auto", b"[" * 200_000 + b"]" * 200_000),
        ("bitwarden_json", b'{"items": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
        ("bitwarden_json", b'{"items": [{"type": 1, "name": ' + b"9" * 5000 + b"}]}"),
        ("1password_1pux", files.onepux_zip(b'{"accounts": ' + b"[" * 100_000 + b"]" * 100_000)),
        (
            "strongroom",
            b"resource_name,resource_type,host,url,department,location,description,username,"
            b"password,notes,totp_seed\n" + b'"' + b"x" * 3_000_000 + b'",,,,,,,u,p,,\n',
        ),
    ],
    ids=["auto-deep-json", "bitwarden-deep", "bitwarden-huge-int", "1pux-deep", "csv-huge-field"],
)
def test_hostile_structure_is_a_clean_refusal(importer, fmt, data):
    response = _upload(api_for(importer), data, fmt=fmt)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response.json()["error"]["details"]["problems"]
    assert not Resource.objects.exists()
