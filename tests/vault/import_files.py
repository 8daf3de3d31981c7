"""Real files of every import format, built from one list of items.

Each builder writes what the exporting program writes (the column order, the JSON and XML
structure of its exports: the samples in ``import_samples/`` are the documented shapes
these follow). KeePass databases are written with pykeepass (the session's template has a
cheap KDF, so building one takes milliseconds).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

SAMPLES = Path(__file__).parent / "import_samples"


@dataclass
class Item:
    title: str
    username: str = ""
    password: str = ""
    url: str = ""
    notes: str = ""
    group: str = ""  # "" for none; "Ops/Servers" nested
    kind: str = "login"  # login, note, or card (not a login: skipped where a format has it)


FORMATS = (
    "strongroom",
    "bitwarden",
    "bitwarden_json",
    "keepassxc",
    "keepass_xml",
    "kdbx",
    "1password_1pux",
    "1password_csv",
    "lastpass",
)
# Formats that can hold a card, which import skips and reports.
WITH_CARDS = ("bitwarden", "bitwarden_json", "1password_1pux", "lastpass")
KDBX_PASSWORD = "kdbx-Pässword <&>"
KDBX_SIGNATURE_FOR_TESTS = bytes.fromhex("03d9a29a67fb4bb5")


def _csv(header: list[str], rows: list[list[str]], *, quote_all: bool = False) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(
        out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n"
    )
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def strongroom(items: list[Item]) -> bytes:
    header = "resource_name,resource_type,host,url,department,location,description,username,"
    header += "password,notes,totp_seed,resource_group"
    return _csv(
        header.split(","),
        [
            [i.title, "", "", i.url, "", "", "", i.username, i.password, i.notes, "", i.group]
            for i in items
            if i.kind != "card"
        ],
    )


def bitwarden(items: list[Item]) -> bytes:
    header = "folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,"
    header += "login_password,login_totp"
    return _csv(
        header.split(","),
        [
            [i.group, "", i.kind, i.title, i.notes, "", "0", i.url, i.username, i.password, ""]
            for i in items
        ],
    )


def bitwarden_json(items: list[Item]) -> bytes:
    folders = {name: str(uuid.uuid4()) for name in dict.fromkeys(i.group for i in items if i.group)}
    out = []
    for item in items:
        entry: dict = {
            "id": str(uuid.uuid4()),
            "organizationId": None,
            "folderId": folders.get(item.group),
            "type": {"login": 1, "note": 2, "card": 3}[item.kind],
            "reprompt": 0,
            "name": item.title,
            "notes": item.notes or None,
            "favorite": False,
            "collectionIds": None,
        }
        if item.kind == "login":
            entry["login"] = {
                "fido2Credentials": [],
                "uris": [{"match": None, "uri": item.url}] if item.url else [],
                "username": item.username,
                "password": item.password,
                "totp": None,
            }
        elif item.kind == "note":
            entry["secureNote"] = {"type": 0}
        else:
            entry["card"] = {
                "cardholderName": item.username,
                "brand": "Visa",
                "number": "4111111111111111",
                "expMonth": "1",
                "expYear": "2030",
                "code": "123",
            }
        out.append(entry)
    doc = {
        "encrypted": False,
        "folders": [{"id": fid, "name": name} for name, fid in folders.items()],
        "items": out,
    }
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def keepassxc(items: list[Item]) -> bytes:
    header = ["Group", "Title", "Username", "Password", "URL", "Notes", "TOTP", "Icon"]
    header += ["Last Modified", "Created"]
    stamp = "2026-01-02T03:04:05Z"
    return _csv(
        header,
        [
            [
                "Root/" + i.group if i.group else "Root",
                i.title,
                i.username,
                i.password,
                i.url,
                i.notes,
                "",
                "0",
                stamp,
                stamp,
            ]
            for i in items
            if i.kind != "card"
        ],
        quote_all=True,
    )


def lastpass(items: list[Item]) -> bytes:
    rows = []
    for i in items:
        if i.kind == "card":
            extra = "NoteType:Credit Card\nLanguage:en-US\nName on Card:x\nNumber:4111111111111111"
            rows.append(["http://sn", "", "", "", extra, i.title, i.group, "0"])
        elif i.kind == "note":
            rows.append(["http://sn", "", "", "", i.notes, i.title, i.group, "0"])
        else:
            rows.append([i.url, i.username, i.password, "", i.notes, i.title, i.group, "0"])
    return _csv(["url", "username", "password", "totp", "extra", "name", "grouping", "fav"], rows)


def onepassword_csv(items: list[Item]) -> bytes:
    header = ["Title", "Url", "Username", "Password", "OTPAuth", "Favorite", "Archived"]
    header += ["Tags", "Notes"]
    return _csv(
        header,
        [
            [i.title, i.url, i.username, i.password, "", "false", "false", "", i.notes]
            for i in items
            if i.kind != "card"
        ],
    )


def onepux(items: list[Item]) -> bytes:
    """A 1PUX export: a zip with ``export.attributes`` and ``export.data`` (one account;
    one vault per group, items without one in "Private")."""
    vaults: dict[str, list[dict]] = {}
    for item in items:
        details: dict = {"loginFields": [], "notesPlain": item.notes, "sections": []}
        overview: dict = {"title": item.title, "subtitle": item.username, "urls": [], "tags": []}
        category = {"login": "001", "note": "003", "card": "002"}[item.kind]
        if item.kind == "login":
            details["loginFields"] = [
                {
                    "value": item.username,
                    "id": "",
                    "name": "username",
                    "fieldType": "T",
                    "designation": "username",
                },
                {
                    "value": item.password,
                    "id": "",
                    "name": "password",
                    "fieldType": "P",
                    "designation": "password",
                },
            ]
            if item.url:
                overview["url"] = item.url
                overview["urls"] = [{"label": "website", "url": item.url}]
        elif item.kind == "card":
            details["sections"] = [
                {
                    "title": "",
                    "fields": [
                        {
                            "title": "number",
                            "id": "ccnum",
                            "value": {"creditCardNumber": "4111111111111111"},
                        }
                    ],
                }
            ]
        vaults.setdefault(item.group or "Private", []).append(
            {
                "uuid": uuid.uuid4().hex[:26],
                "favIndex": 0,
                "createdAt": 1700000000,
                "updatedAt": 1700000000,
                "state": "active",
                "categoryUuid": category,
                "details": details,
                "overview": overview,
            }
        )
    data = {
        "accounts": [
            {
                "attrs": {
                    "accountName": "Test",
                    "name": "Tester",
                    "avatar": "",
                    "email": "tester@example.test",
                    "uuid": "ACCOUNTUUID",
                    "domain": "https://my.1password.com/",
                },
                "vaults": [
                    {
                        "attrs": {
                            "uuid": uuid.uuid4().hex[:26],
                            "desc": "",
                            "avatar": "",
                            "name": name,
                            "type": "U",
                        },
                        "items": vault_items,
                    }
                    for name, vault_items in vaults.items()
                ],
            }
        ]
    }
    return onepux_zip(json.dumps(data, ensure_ascii=False).encode("utf-8"))


def onepux_zip(export_data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "export.attributes",
            json.dumps(
                {
                    "version": 3,
                    "description": "1Password Unencrypted Export",
                    "createdAt": 1700000000,
                }
            ),
        )
        archive.writestr("export.data", export_data)
    return buffer.getvalue()


def keepass_xml(items: list[Item], *, recycled: list[str] = ()) -> bytes:
    """KeePass 2.x's *Export → KeePass XML (2.x)*: plain values (``ProtectInMemory``), each
    entry with a History of an older version, and a recycle bin holding ``recycled``."""
    root = ET.Element("KeePassFile")
    meta = ET.SubElement(root, "Meta")
    ET.SubElement(meta, "Generator").text = "KeePass"
    bin_uuid = "q83vEjRWeJCrze8SNFZ4kA=="
    ET.SubElement(meta, "RecycleBinEnabled").text = "True"
    ET.SubElement(meta, "RecycleBinUUID").text = bin_uuid
    top = ET.SubElement(ET.SubElement(root, "Root"), "Group")
    ET.SubElement(top, "UUID").text = "AAAAAAAAAAAAAAAAAAAAAQ=="
    ET.SubElement(top, "Name").text = "Database"
    groups: dict[str, ET.Element] = {"": top}

    def group_for(path: str) -> ET.Element:
        if path not in groups:
            parent_path, _, name = path.rpartition("/")
            group = ET.SubElement(group_for(parent_path), "Group")
            ET.SubElement(group, "UUID").text = "R" + uuid.uuid4().hex[:21] + "=="
            ET.SubElement(group, "Name").text = name
            groups[path] = group
        return groups[path]

    def entry(parent: ET.Element, item: Item, *, history: bool) -> None:
        node = ET.SubElement(parent, "Entry")
        ET.SubElement(node, "UUID").text = "E" + uuid.uuid4().hex[:21] + "=="
        for key, value in (
            ("Title", item.title),
            ("UserName", item.username),
            ("Password", item.password),
            ("URL", item.url),
            ("Notes", item.notes),
        ):
            string = ET.SubElement(node, "String")
            ET.SubElement(string, "Key").text = key
            element = ET.SubElement(string, "Value")
            element.text = value
            if key == "Password":
                element.set("ProtectInMemory", "True")
        if history:
            old = ET.SubElement(node, "History")
            entry(old, Item(item.title, item.username, "old-" + item.password), history=False)

    for item in items:
        if item.kind != "card":
            entry(group_for(item.group), item, history=True)
    recycle = ET.SubElement(top, "Group")
    ET.SubElement(recycle, "UUID").text = bin_uuid
    ET.SubElement(recycle, "Name").text = "Recycle Bin"
    for title in recycled:
        entry(recycle, Item(title, "gone", "deleted-pw"), history=False)
    return b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n' + ET.tostring(
        root, encoding="utf-8"
    )


_TEMPLATE: list[bytes] = []


def _kdbx_template() -> bytes:
    """pykeepass's blank database re-saved with a cheap Argon2 (1 MiB, 2 passes) and our
    password: opening the blank costs seconds, this once per session."""
    if not _TEMPLATE:
        import pykeepass
        from pykeepass import PyKeePass

        blank = Path(pykeepass.__file__).parent / "blank_database.kdbx"
        database = PyKeePass(str(blank), password="password")
        kdf = database.kdbx.header.value.dynamic_header.kdf_parameters.data.dict
        kdf["I"].value, kdf["M"].value, kdf["P"].value = 2, 1024 * 1024, 1
        database.password = KDBX_PASSWORD
        buffer = io.BytesIO()
        database.save(buffer)
        _TEMPLATE.append(buffer.getvalue())
    return _TEMPLATE[0]


def kdbx(items: list[Item], *, recycled: list[str] = ()) -> bytes:
    """A KeePass KDBX 4 database written by pykeepass, opened with :data:`KDBX_PASSWORD`."""
    from pykeepass import PyKeePass

    database = PyKeePass(io.BytesIO(_kdbx_template()), password=KDBX_PASSWORD)
    for item in items:
        if item.kind == "card":
            continue
        group = database.root_group
        for name in [p for p in item.group.split("/") if p]:
            found = next((g for g in group.subgroups if g.name == name), None)
            group = found or database.add_group(group, name)
        database.add_entry(
            group,
            item.title,
            item.username,
            item.password,
            url=item.url or None,
            notes=item.notes or None,
            force_creation=True,
        )
    for title in recycled:
        gone = database.add_entry(database.root_group, title, "gone", "deleted-pw")
        database.trash_entry(gone)
    buffer = io.BytesIO()
    database.save(buffer)
    return buffer.getvalue()


def keepassxc_cli(*args: str, password: str = KDBX_PASSWORD) -> subprocess.CompletedProcess:
    """Debian's keepassxc-cli, reading the database password from stdin."""
    return subprocess.run(
        ["keepassxc-cli", *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )


BUILDERS = {
    "strongroom": strongroom,
    "bitwarden": bitwarden,
    "bitwarden_json": bitwarden_json,
    "keepassxc": keepassxc,
    "keepass_xml": keepass_xml,
    "kdbx": kdbx,
    "1password_1pux": onepux,
    "1password_csv": onepassword_csv,
    "lastpass": lastpass,
}
