"""Every import format, from real files (tests/vault/import_files.py): hostile values kept
exactly as text, values past the field limits and invalid URLs refused per row or item,
re-imports skipped / updated / duplicated, cards reported and skipped, and a bad entry
leaving the vault exactly as it was."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from factories import api_for, error, user_make
from strongroom.audit.models import AuditEvent
from strongroom.core.secrets import unseal
from strongroom.vault import importers, selectors, services
from strongroom.vault.models import Account, PasswordHistory, Resource, ResourceGroup
from vault import import_files as files
from vault.import_files import FORMATS, KDBX_PASSWORD, WITH_CARDS, Item

pytestmark = pytest.mark.django_db

MARKUP = "<script>alert(1)</script>"
FORMULA = "=cmd|' /C calc'!A0"
RTL = "\u202eRTL\u200b交换机 🔐"
CSV_FORMATS = ("strongroom", "bitwarden", "keepassxc", "1password_csv", "lastpass")
# Where a format keeps groups: the resource group an item lands in.
NO_GROUPS = ("1password_csv",)


def _expected_group(fmt: str, item: Item) -> str | None:
    if fmt in NO_GROUPS:
        return None
    if fmt == "1password_1pux":
        return item.group or "Private"
    return item.group or None


def _first_row(fmt: str) -> int:
    """The report's number of the file's first item (CSV counts the header as row 1)."""
    return 2 if fmt in CSV_FORMATS else 1


def upload(api, data: bytes, *, fmt: str = "auto", mode: str | None = None, password=None):
    body = {"file": SimpleUploadedFile("export.bin", data), "format": fmt}
    if mode is not None:
        body["mode"] = mode
    if password is not None:
        body["password"] = password
    return api.client.post("/api/v1/import", body, headers=api._headers({}), REMOTE_ADDR=api.ip)


def _import(api, fmt: str, items: list[Item], **kwargs) -> dict:
    response = upload(api, files.BUILDERS[fmt](items), password=KDBX_PASSWORD, **kwargs)
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["ok"] is True and report["format"] == fmt, report
    return report


def _vault_state() -> tuple:
    return (
        sorted(Resource.objects.values_list("name", "url")),
        sorted(Account.objects.values_list("username", "password", "notes")),
        sorted(ResourceGroup.objects.values_list("name", flat=True)),
        PasswordHistory.objects.count(),
    )


def _rejected(api, fmt: str, items: list[Item], **kwargs) -> dict:
    before = _vault_state()
    response = upload(api, files.BUILDERS[fmt](items), password=KDBX_PASSWORD, **kwargs)
    assert response.status_code == 400, response.content
    problem = error(response)
    assert problem["code"] == "import_rejected"
    assert _vault_state() == before
    return problem["details"]


@pytest.fixture
def importer():
    return user_make("password_admin")


HOSTILE = [
    Item(
        title=MARKUP,
        username=FORMULA,
        password="+1+1",
        url="https://intranet.example/login?next=%2F",
        notes="-2+3\n@SUM(A1)\n" + MARKUP,
        group="<b>Ops</b>",
    ),
    Item(
        title=RTL,
        username="@admin",
        password="\u200b\u202e-pw",
        url="ssh://10.0.0.1:22",
        notes=RTL,
        group="Ops/Servers",
    ),
    Item(title="-minus", username="+plus", password=FORMULA, url="[2001:db8::1]:8443"),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_values_are_kept_exactly_as_text(importer, fmt):
    api = api_for(importer)
    report = _import(api, fmt, HOSTILE)
    assert report["accounts_created"] == 3 and report["problems"] == []
    for item in HOSTILE:
        resource = Resource.objects.get(owner=importer, name=item.title)
        assert resource.url == item.url
        account = resource.accounts.get()
        assert account.username == item.username
        assert services.password_retrieve(actor=importer, account_id=account.pk) == item.password
        assert api.get(f"/accounts/{account.pk}").json()["notes"] == item.notes
        groups = list(resource.resource_groups.values_list("name", flat=True))
        expected = _expected_group(fmt, item)
        assert groups == ([expected] if expected else [])
    event = AuditEvent.objects.get(action="vault.import")
    assert event.details["format"] == fmt and event.details["accounts"] == 3
    assert FORMULA not in str(event.details) and MARKUP not in str(event.details)


@pytest.mark.parametrize("fmt", FORMATS)
def test_values_beyond_the_field_limits_are_refused_by_row(importer, fmt):
    api = api_for(importer)
    items = [
        Item("fine", "u", "p"),
        Item("n" * 501, "u", "p"),
        Item("long password", "u", "p" * 16_385),
        Item("long user", "u" * 501, "p"),
    ]
    details = _rejected(api, fmt, items)
    first = _first_row(fmt)
    by_row = {p["row"]: p for p in details["problems"]}
    assert set(by_row) == {first + 1, first + 2, first + 3}, details["problems"]
    assert "500" in by_row[first + 1]["problem"]
    assert "16384" in by_row[first + 2]["problem"]
    assert "500" in by_row[first + 3]["problem"]
    assert all(p["column"] for p in details["problems"])
    assert "p" * 100 not in str(details)  # the refused value is not echoed


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_urls_are_refused_with_a_specific_error(importer, fmt):
    api = api_for(importer)
    items = [
        Item("ok", "u", "p", url="https://ok.example/"),
        Item("js", "u", "p", url="javascript:alert(1)"),
        Item("space", "u", "p", url="https://exa mple.test/"),
        Item("zero width", "u", "p", url="https://a\u200b.example/"),
        Item("markup", "u", "p", url="https://x.example/?q=<script>"),
        Item("vbscript", "u", "p", url="VBScript:msgbox(1)"),
    ]
    details = _rejected(api, fmt, items)
    first = _first_row(fmt)
    rows = {p["row"] for p in details["problems"]}
    assert rows == {first + n for n in range(1, 6)}, details["problems"]
    problems = {p["row"]: p["problem"] for p in details["problems"]}
    assert all("is not a valid URL" in text for text in problems.values())
    assert "'javascript' is not accepted" in problems[first + 1]
    assert "U+0020" in problems[first + 2]
    assert "U+200B" in problems[first + 3]
    assert "'<'" in problems[first + 4]
    assert "'vbscript'" in problems[first + 5]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reimport_skips_updates_or_duplicates(importer, fmt):
    api = api_for(importer)
    items = [Item("router", "admin", "pw-1", url="https://r.example"), Item("db", "sa", "pw-2")]
    first = _import(api, fmt, items)
    assert (first["resources_created"], first["accounts_created"]) == (2, 2)

    again = _import(api, fmt, items)  # the default: skip
    assert again["mode"] == "skip"
    assert (again["resources_created"], again["accounts_created"]) == (0, 0)
    assert again["skipped_count"] == 2
    assert {s["name"] for s in again["skipped"]} == {"router / admin", "db / sa"}
    assert {s["reason"] for s in again["skipped"]} == {
        "already in the vault (same resource and username)"
    }
    assert Account.objects.count() == 2

    changed = [Item("router", "admin", "pw-NEW", url="https://r.example"), items[1]]
    updated = _import(api, fmt, changed, mode="update")
    assert (updated["accounts_created"], updated["accounts_updated"]) == (0, 1)
    assert [(n["name"], n["reason"]) for n in updated["updated"]] == [
        ("router / admin", "updated: password")
    ]
    assert [(n["name"], n["reason"]) for n in updated["skipped"]] == [
        ("db / sa", "already up to date in the vault")
    ]
    router = Account.objects.get(username="admin")
    assert services.password_retrieve(actor=importer, account_id=router.pk) == "pw-NEW"
    old = [h.pk for h in PasswordHistory.objects.filter(account=router)]
    assert len(old) == 1
    history = services.password_history_list(actor=importer, account_id=router.pk)
    assert [
        services.password_history_retrieve(actor=importer, account_id=router.pk, history_id=h.pk)
        for h in history
    ] == ["pw-1"]
    assert AuditEvent.objects.filter(action="account.update", object_id=str(router.pk)).count() == 1

    # A new username on a known resource joins that resource.
    more = _import(api, fmt, [Item("router", "backup", "pw-3", url="https://r.example")])
    assert (more["resources_created"], more["accounts_created"]) == (0, 1)
    assert Resource.objects.get(name="router").accounts.count() == 2

    dup = _import(api, fmt, items, mode="duplicate")
    assert (dup["resources_created"], dup["accounts_created"], dup["skipped_count"]) == (2, 2, 0)
    assert Resource.objects.filter(name="router").count() == 2


@pytest.mark.parametrize("fmt", WITH_CARDS)
def test_card_items_are_skipped_and_reported_and_the_logins_imported(importer, fmt):
    api = api_for(importer)
    items = [Item("mail", "me", "pw"), Item("My Visa", "Me", kind="card"), Item("vpn", "me", "p2")]
    report = _import(api, fmt, items)
    assert report["accounts_created"] == 2 and report["skipped_count"] == 1
    (skipped,) = report["skipped"]
    assert skipped["name"] == "My Visa"
    assert "card" in skipped["reason"].lower() and "not imported" in skipped["reason"]
    position = {
        "bitwarden": (3, None),
        "lastpass": (3, None),
        "bitwarden_json": (2, "items[1]"),
        "1password_1pux": (2, "accounts[0].vaults[0].items[1]"),
    }[fmt]
    assert (skipped["row"], skipped["item"]) == position
    assert not Resource.objects.filter(name="My Visa").exists()
    assert set(Resource.objects.values_list("name", flat=True)) == {"mail", "vpn"}
    assert AuditEvent.objects.get(action="vault.import").details["skipped"] == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_bad_entry_leaves_the_vault_unchanged_even_when_updating(importer, fmt):
    api = api_for(importer)
    _import(api, fmt, [Item("a", "u", "old-a"), Item("b", "u", "old-b")])
    state = _vault_state()
    events = AuditEvent.objects.count()
    bad = [Item("a", "u", "new-a"), Item("c", "u", "new-c"), Item("d", "u", "x" * 16_385)]
    _rejected(api, fmt, bad, mode="update")
    assert _vault_state() == state
    # Only the refusal is audited.
    assert list(AuditEvent.objects.order_by("seq")[events:].values_list("action", "outcome")) == [
        ("vault.import", "failure")
    ]
    a = Account.objects.get(resource__name="a")
    assert services.password_retrieve(actor=importer, account_id=a.pk) == "old-a"


def test_update_never_reaches_another_users_resources(importer):
    other = user_make("password_admin")
    mine = api_for(importer)
    theirs = api_for(other)
    _import(theirs, "bitwarden_json", [Item("shared-name", "root", "their-secret")])
    report = _import(mine, "bitwarden_json", [Item("shared-name", "root", "mine")], mode="update")
    assert (report["accounts_created"], report["accounts_updated"]) == (1, 0)
    their_account = Account.objects.get(resource__owner=other)
    assert services.password_retrieve(actor=other, account_id=their_account.pk) == "their-secret"


def test_repeated_entries_within_one_file_are_skipped_unless_duplicating(importer):
    api = api_for(importer)
    items = [Item("web", "root", "one"), Item("web", "root", "two")]
    report = _import(api, "strongroom", items)
    assert report["accounts_created"] == 1
    assert report["skipped"] == [
        {
            "row": 3,
            "item": None,
            "name": "web / root",
            "reason": "same resource and username as row 2 of this file",
        }
    ]
    again = _import(api, "strongroom", items, mode="duplicate")
    assert again["accounts_created"] == 2


def test_the_mode_must_be_one_of_the_three(importer):
    response = upload(api_for(importer), files.strongroom([Item("a")]), mode="merge")
    assert response.status_code == 400
    assert (
        "unknown import mode 'merge'; use one of: skip, update, duplicate"
        in error(response)["message"]
    )


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_format_is_detected_from_the_file(fmt):
    data = files.BUILDERS[fmt]([Item("a", "u", "p")])
    assert importers.format_detect(data) == fmt


def test_a_file_of_no_known_format_asks_for_the_format(importer):
    response = upload(api_for(importer), b"just,some\ncolumns,here\n")
    assert response.status_code == 400
    (problem,) = error(response)["details"]["problems"]
    assert problem["problem"].startswith("could not tell which program exported this file")
    assert error(response)["message"] == "nothing was imported: the file has 1 problem"


# --------------------------------------------------------------------------- Bitwarden JSON


def test_bitwarden_organisation_json_puts_items_in_their_collections(importer):
    import json

    doc = {
        "encrypted": False,
        "collections": [
            {"id": "c1", "organizationId": "o", "name": "Network", "externalId": None},
            {"id": "c2", "organizationId": "o", "name": "Servers", "externalId": None},
        ],
        "items": [
            {
                "type": 1,
                "name": "core-sw",
                "collectionIds": ["c1", "c2"],
                "fields": [
                    {"name": "enable secret", "value": "s3", "type": 1},
                    {"name": "linked", "value": None, "type": 3, "linkedId": 100},
                ],
                "login": {
                    "uris": [{"uri": "ssh://10.0.0.1"}, {"uri": "https://10.0.0.1/"}],
                    "username": "admin",
                    "password": "pw",
                    "totp": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
                },
            },
            {"type": 4, "name": "Me", "identity": {"firstName": "A"}},
        ],
    }
    report = services.import_csv(actor=importer, data=json.dumps(doc).encode(), fmt="auto")
    assert report.ok and report.format == "bitwarden_json"
    assert [n.reason for n in report.skipped] == [
        "Bitwarden identity items are not imported (Strongroom keeps logins and notes)"
    ]
    resource = Resource.objects.get(name="core-sw")
    assert resource.url == "ssh://10.0.0.1"
    assert resource.custom_fields == {"Other URIs": "https://10.0.0.1/"}
    assert sorted(resource.resource_groups.values_list("name", flat=True)) == [
        "Network",
        "Servers",
    ]
    account = resource.accounts.get()
    assert selectors.account_notes(account=account) == "enable secret: s3"
    assert unseal(account, "totp_seed") == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_an_encrypted_bitwarden_export_is_refused_with_what_to_do(importer):
    data = b'{"encrypted": true, "passwordProtected": true, "salt": "x", "data": "y"}'
    report = services.import_csv(actor=importer, data=data, fmt="auto")
    assert not report.ok
    assert "export the vault again with the file format '.json'" in report.problems[0].problem


def test_json_values_of_the_wrong_type_are_named(importer):
    data = b'{"items": [{"type": 1, "name": ["a"], "login": {"username": {"x": 1}}}]}'
    report = services.import_csv(actor=importer, data=data, fmt="bitwarden_json")
    assert {(p.row, p.item, p.column) for p in report.problems} == {
        (1, "items[0]", "name"),
        (1, "items[0]", "login.username"),
    }


# --------------------------------------------------------------------------- 1Password 1PUX


def test_the_1pux_sample_imports_logins_servers_and_notes_and_skips_the_rest(importer):
    sample = (files.SAMPLES / "1pux-export.data.json").read_bytes()
    report = services.import_csv(actor=importer, data=files.onepux_zip(sample), fmt="auto")
    assert report.ok, report.problems
    assert report.format == "1password_1pux"
    names = dict(Resource.objects.values_list("name", "resource_type"))
    assert names == {
        "GitHub": "Web Site",
        "Wi-Fi guest": "",
        "db-01": "Server",
        "Change procedure": "Secure Note",
    }
    server = Account.objects.get(resource__name="db-01")
    assert server.username == "postgres"
    assert services.password_retrieve(actor=importer, account_id=server.pk) == "pg-S3cret!"
    assert Resource.objects.get(name="db-01").url == "ssh://db-01.internal:22"
    github = Account.objects.get(resource__name="GitHub")
    assert unseal(github, "totp_seed").startswith("otpauth://totp/")
    assert selectors.account_notes(account=github) == "recovery codes: in the safe"
    assert {(n.name, n.reason.split(" (")[0]) for n in report.skipped} == {
        ("Visa", "1Password credit card items are not imported"),
        ("Old mail", "archived in 1Password"),
    }
    assert set(ResourceGroup.objects.values_list("name", flat=True)) == {"Private", "Shared IT"}


def test_a_1pux_that_inflates_past_the_limit_is_refused_unread(importer):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.data", b"\0" * (importers.MAX_IMPORT_BYTES + 1))
    assert len(buffer.getvalue()) < 100_000
    report = services.import_csv(actor=importer, data=buffer.getvalue(), fmt="auto")
    assert not report.ok and "export.data is larger than" in report.problems[0].problem


def test_a_zip_that_is_not_1pux_says_so(importer):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    report = services.import_csv(actor=importer, data=buffer.getvalue(), fmt="auto")
    assert (
        report.problems[0].problem == "this zip file is not a 1PUX export (it has no export.data)"
    )


# --------------------------------------------------------------------------- KeePass


def test_keepass_xml_skips_the_recycle_bin_and_history(importer):
    data = files.keepass_xml([Item("live", "u", "p", group="A/B")], recycled=["deleted one"])
    report = services.import_csv(actor=importer, data=data, fmt="auto")
    assert report.ok and report.format == "keepass_xml"
    assert report.accounts_created == 1  # not the History version
    assert [(n.item, n.name) for n in report.skipped] == [("recycle bin", "deleted one")]
    account = Account.objects.get()
    assert services.password_retrieve(actor=importer, account_id=account.pk) == "p"
    assert list(ResourceGroup.objects.values_list("name", flat=True)) == ["A/B"]


def test_keepass_xml_with_a_dtd_or_entities_is_refused(importer):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE KeePassFile [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<KeePassFile><Root><Group><Name>&b;</Name></Group></Root></KeePassFile>"
    )
    report = services.import_csv(actor=importer, data=bomb, fmt="auto")
    assert report.problems[0].problem == (
        "the XML declares a DTD or entities, which an export never does"
    )


def test_keepass_xml_with_encrypted_protected_values_says_how_to_export(importer):
    data = files.keepass_xml([Item("x", "u", "p")]).replace(
        b'ProtectInMemory="True">p<', b'Protected="True">cGFzcw==<'
    )
    report = services.import_csv(actor=importer, data=data, fmt="keepass_xml")
    (problem,) = report.problems
    assert problem.column == "Password" and "KeePass XML (2.x)" in problem.problem


@pytest.fixture
def kdbx_file(tmp_path):
    items = [Item("router", "admin", "pw <1>", url="https://r.example", group="Net/Core")]
    path = tmp_path / "db.kdbx"
    path.write_bytes(files.kdbx(items, recycled=["trashed"]))
    return path


def test_kdbx_written_by_pykeepass_is_a_genuine_database_and_imports(importer, kdbx_file):
    import shutil

    if shutil.which("keepassxc-cli"):
        listing = files.keepassxc_cli("ls", "-R", "-f", str(kdbx_file))
        assert listing.returncode == 0, listing.stderr
        assert "Net/Core/router" in listing.stdout
    response = upload(api_for(importer), kdbx_file.read_bytes(), password=KDBX_PASSWORD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["format"] == "kdbx" and body["accounts_created"] == 1
    assert [s["name"] for s in body["skipped"]] == ["trashed"]
    account = Account.objects.get(resource__name="router")
    assert services.password_retrieve(actor=importer, account_id=account.pk) == "pw <1>"
    assert Resource.objects.get(name="router").resource_groups.get().name == "Net/Core"


def test_keepassxc_own_xml_export_of_the_database_imports_the_same(importer, kdbx_file):
    import shutil

    if not shutil.which("keepassxc-cli"):
        pytest.skip("keepassxc-cli is not installed (scripts/test installs it)")
    exported = files.keepassxc_cli("export", "-f", "xml", str(kdbx_file))
    assert exported.returncode == 0, exported.stderr
    report = services.import_csv(actor=importer, data=exported.stdout.encode(), fmt="auto")
    assert report.ok and report.format == "keepass_xml", report.problems
    assert report.accounts_created == 1 and [n.name for n in report.skipped] == ["trashed"]
    account = Account.objects.get(resource__name="router")
    assert services.password_retrieve(actor=importer, account_id=account.pk) == "pw <1>"


def test_kdbx_needs_the_right_password(importer, kdbx_file):
    data = kdbx_file.read_bytes()
    missing = services.import_csv(actor=importer, data=data, fmt="auto")
    assert missing.problems[0].problem == (
        "this is a KeePass database (.kdbx): give its password to import it"
    )
    wrong = services.import_csv(actor=importer, data=data, fmt="auto", password="nope")
    assert wrong.problems[0].problem.startswith("the password is wrong for this KeePass database")
    assert not Resource.objects.exists()


def test_kdbx_asking_for_a_ruinous_kdf_is_refused_before_any_hashing(importer, kdbx_file):
    data = kdbx_file.read_bytes()
    # The Argon2 memory parameter in the KDF dictionary: type 0x05 (UInt64), key "M".
    marker = b"\x05\x01\x00\x00\x00M\x08\x00\x00\x00"
    at = data.index(marker) + len(marker)
    hostile = data[:at] + (64 * 2**30).to_bytes(8, "little") + data[at + 8 :]
    report = services.import_csv(actor=importer, data=hostile, fmt="kdbx", password="x")
    assert report.problems[0].problem.startswith(
        "the database asks for 65,536 MiB of Argon2 memory, more than the 512"
    )


def test_a_damaged_kdbx_is_named(importer, kdbx_file):
    data = kdbx_file.read_bytes()[:200]
    report = services.import_csv(actor=importer, data=data, fmt="kdbx", password=KDBX_PASSWORD)
    assert not report.ok
    assert "KeePass database" in report.problems[0].problem


# --------------------------------------------------------------------------- LastPass


def test_lastpass_plain_notes_are_imported_and_typed_notes_skipped(importer):
    items = [Item("wifi codes", notes="guest: 1234", kind="note"), Item("card", kind="card")]
    report = services.import_csv(actor=importer, data=files.lastpass(items), fmt="auto")
    assert report.ok and report.format == "lastpass"
    note = Resource.objects.get(name="wifi codes")
    assert (note.resource_type, note.url) == ("Secure Note", "")
    assert [n.reason for n in report.skipped] == [
        "LastPass 'Credit Card' notes are not imported (Strongroom keeps logins and plain "
        "secure notes)"
    ]


# --------------------------------------------------------------------------- progress


def test_import_reports_progress_to_whoever_asks(importer):
    seen: list[tuple[str, int, int]] = []

    class Ticker:
        def __init__(self, desc: str, total: int) -> None:
            self.desc, self.total, self.count = desc, total, 0

        def update(self, n: int = 1) -> None:
            self.count += n

        def close(self) -> None:
            seen.append((self.desc, self.total, self.count))

    items = [Item(f"r{n}", "u", "p") for n in range(50)]
    report = services.import_csv(
        actor=importer, data=files.strongroom(items), fmt="strongroom", progress=Ticker
    )
    assert report.ok
    # The CSV bar counts lines (a header and 50 records), the writing bar entries.
    assert seen == [("reading Strongroom CSV", 51, 51), ("writing", 50, 50)]


# --------------------------------------------------------------------------- hostile files


@pytest.mark.parametrize(
    "data",
    [
        b'{"items": [{"type": [1], "name": "x", "collectionIds": 5}]}',
        b'{"items": [{"type": 1, "name": "x", "login": {"uris": "nope"}, "fields": 3}]}',
        b'{"items": 7}',
        b'{"items": [1, "two", null]}',
        b"[" * 100_000,
        b'{"items": [{"type": 1, "name": ' + b"9" * 5000 + b"}]}",
        b'<?xml version="1.0" encoding="x-unknown"?><KeePassFile/>',
        b"<KeePassFile><Root><Group><Entry><String><Key>Title</Key></String></Entry>",
        files.KDBX_SIGNATURE_FOR_TESTS + b"\x01\x00\x04\x00" + b"\xff" * 64,
        b"PK\x03\x04" + b"\x00" * 40,
    ],
)
def test_hostile_files_get_a_problem_never_a_server_error(importer, data):
    response = upload(api_for(importer), data, password="x")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert error(response)["details"]["problems"]
    assert not Resource.objects.exists()


def test_json_items_of_odd_shapes_are_named(importer):
    data = b'{"items": [{"type": [1], "name": "x"}, {"type": 2, "name": "n", "collectionIds": 5}]}'
    report = services.import_csv(actor=importer, data=data, fmt="bitwarden_json")
    assert [(p.row, p.column) for p in report.problems] == [(1, "type")]


def test_a_1pux_item_of_an_odd_category_is_skipped(importer):
    import json

    doc = {"accounts": [{"vaults": [{"items": [{"categoryUuid": ["001"], "overview": {}}]}]}]}
    report = services.import_csv(
        actor=importer, data=files.onepux_zip(json.dumps(doc).encode()), fmt="auto"
    )
    assert report.ok and [n.reason for n in report.skipped] == [
        "this 1Password item category is not imported"
    ]
