"""CSV import: Strongroom's own format, Bitwarden and KeePassXC exports; malformed files and
rows are reported by row and nothing of a failed file is imported."""

from __future__ import annotations

import csv
import io

import pyotp
import pytest

from factories import api_for, error, user_make
from strongroom.audit.models import AuditEvent
from strongroom.vault import importers, services
from strongroom.vault.models import Account, Resource, ResourceGroup

pytestmark = pytest.mark.django_db

STRONGROOM_HEADER = [
    "resource_name",
    "resource_type",
    "host",
    "url",
    "department",
    "location",
    "description",
    "username",
    "password",
    "notes",
    "totp_seed",
]
BITWARDEN_HEADER = [
    "folder",
    "favorite",
    "type",
    "name",
    "notes",
    "fields",
    "reprompt",
    "login_uri",
    "login_username",
    "login_password",
    "login_totp",
]
KEEPASSXC_HEADER = [
    "Group",
    "Title",
    "Username",
    "Password",
    "URL",
    "Notes",
    "TOTP",
    "Icon",
    "Last Modified",
    "Created",
]
FORMULA = "=cmd|' /C calc'!A0"
MARKUP = "<img src=x onerror=alert(1)>"
UNICODE = "\u202e\u043a\u043b\u044e\u0447 🔐 交换机 ☃"
SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def _csv(header: list[str], rows: list[list[str]], *, quote_all: bool = False) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(
        out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n"
    )
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _accounts(owner) -> dict[str, tuple[Account, str]]:
    result = {}
    for account in Account.objects.select_related("resource").order_by("username"):
        result[f"{account.resource.name}|{account.username}"] = (
            account,
            services.password_retrieve(actor=owner, account_id=account.pk),
        )
    return result


@pytest.fixture
def importer():
    return user_make("password_admin")


def test_strongroom_format_with_hostile_values(importer):
    data = _csv(
        [*STRONGROOM_HEADER, "resource_group"],
        [
            [
                "core-sw",
                "Cisco",
                "10.0.0.1",
                "ssh://10.0.0.1",
                "Network",
                "DC1",
                MARKUP,
                "admin",
                FORMULA,
                "multi\nline note",
                SEED,
                "Network gear",
            ],
            [
                "core-sw",
                "",
                "",
                "ssh://10.0.0.1",
                "",
                "",
                "",
                "enable",
                UNICODE,
                "",
                "",
                "Network gear",
            ],
            [UNICODE, "", "", "", "", "", "", "", "", "", "", ""],
            [
                "core-sw",
                "Cisco",
                "10.0.0.2",
                "ssh://10.0.0.2",
                "",
                "",
                "",
                "admin",
                "x",
                "",
                "",
                "",
            ],
        ],
    )
    api = api_for(importer, ip="198.51.100.9")
    response = api.upload("/import", data, "strongroom")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["ok"] is True
    assert (report["rows"], report["resources_created"], report["accounts_created"]) == (4, 3, 4)
    assert report["resource_groups_created"] == 1 and report["problems"] == []

    shared = Resource.objects.get(name="core-sw", url="ssh://10.0.0.1")
    assert (shared.resource_type, shared.host, shared.description) == ("Cisco", "10.0.0.1", MARKUP)
    assert shared.owner == importer
    assert list(ResourceGroup.objects.get(name="Network gear").resources.all()) == [shared]
    accounts = _accounts(importer)
    assert accounts["core-sw|admin"][1] in {FORMULA, "x"}
    assert {accounts["core-sw|enable"][1], accounts[f"{UNICODE}|"][1]} == {UNICODE, ""}
    first = Account.objects.get(resource=shared, username="admin")
    assert services.password_retrieve(actor=importer, account_id=first.pk) == FORMULA
    assert api.get(f"/accounts/{first.pk}").json()["notes"] == "multi\nline note"
    code = api.post(f"/accounts/{first.pk}/totp").json()["code"]
    assert len(code) == 6 and code.isdigit()

    event = AuditEvent.objects.get(action="vault.import")
    assert event.client_ip == "198.51.100.9"
    assert event.details["accounts"] == 4 and event.details["resources"] == 3
    assert FORMULA not in str(event.details) and UNICODE not in str(event.details)


def test_bitwarden_export(importer):
    data = _csv(
        BITWARDEN_HEADER,
        [
            [
                "Work",
                "1",
                "login",
                "GitHub",
                "2FA on",
                "PIN: 1234\nRecovery: abc",
                "0",
                "https://github.com,https://api.github.com",
                "octo",
                FORMULA,
                f"otpauth://totp/GitHub:octo?secret={SEED}&issuer=GitHub",
            ],
            ["", "", "login", "GitHub", "", "", "0", "https://github.com", "octo-bot", MARKUP, ""],
            ["Personal", "", "note", "Wi-Fi", UNICODE, "", "0", "", "", "", ""],
        ],
    )
    report = services.import_csv(actor=importer, data=data, fmt="bitwarden")
    assert report.ok, report.problems
    assert (report.resources_created, report.accounts_created, report.resource_groups_created) == (
        2,
        3,
        2,
    )
    github = Resource.objects.get(name="GitHub")
    assert github.url == "https://github.com"
    assert github.resource_type == "Web Site"
    assert github.custom_fields == {"Other URIs": "https://api.github.com"}
    assert [g.name for g in github.resource_groups.all()] == ["Work"]
    octo = Account.objects.get(username="octo")
    assert services.password_retrieve(actor=importer, account_id=octo.pk) == FORMULA
    from strongroom.vault import selectors

    assert selectors.account_notes(account=octo) == "2FA on\n\nPIN: 1234\nRecovery: abc"
    assert services.account_totp_code(actor=importer, account_id=octo.pk).code.isdigit()
    bot = Account.objects.get(username="octo-bot")
    assert services.password_retrieve(actor=importer, account_id=bot.pk) == MARKUP
    wifi = Resource.objects.get(name="Wi-Fi")
    assert wifi.resource_type == "Secure Note"
    assert selectors.account_notes(account=wifi.accounts.get()) == UNICODE


def test_bitwarden_organisation_export_uses_collections(importer):
    header = [c if c != "folder" else "collections" for c in BITWARDEN_HEADER if c != "favorite"]
    data = _csv(
        header, [["Ops,Shared", "login", "NAS", "", "", "0", "https://nas", "root", "pw", ""]]
    )
    report = services.import_csv(actor=importer, data=data, fmt="bitwarden")
    assert report.ok, report.problems
    assert sorted(g.name for g in Resource.objects.get(name="NAS").resource_groups.all()) == [
        "Ops",
        "Shared",
    ]


def test_keepassxc_export(importer):
    otp = f"otpauth://totp/Example:alice?secret={SEED}&period=30&digits=6&issuer=Example"
    data = _csv(
        KEEPASSXC_HEADER,
        [
            [
                "Root/Servers/Linux",
                "web-01",
                "root",
                FORMULA,
                "ssh://web-01",
                MARKUP,
                otp,
                "0",
                "2024-01-02T03:04:05Z",
                "2023-01-01T00:00:00Z",
            ],
            ["Root", "", "guest", UNICODE, "https://wifi.example", "", "", "0", "", ""],
            ["Root", "", "", "pin-only", "", "", "", "0", "", ""],
        ],
        quote_all=True,
    )
    data = b"\xef\xbb\xbf" + data  # KeePassXC writes a byte-order mark on some platforms
    report = services.import_csv(actor=importer, data=data, fmt="keepassxc")
    assert report.ok, report.problems
    assert (report.resources_created, report.accounts_created, report.resource_groups_created) == (
        3,
        3,
        1,
    )
    web = Resource.objects.get(name="web-01")
    assert [g.name for g in web.resource_groups.all()] == ["Servers/Linux"]
    root = web.accounts.get()
    assert services.password_retrieve(actor=importer, account_id=root.pk) == FORMULA
    from strongroom.vault import selectors

    assert selectors.account_notes(account=root) == MARKUP
    expected = pyotp.TOTP(SEED).now()
    assert services.account_totp_code(actor=importer, account_id=root.pk).code in {
        expected,
        pyotp.TOTP(SEED).at(__import__("time").time() - 30),
    }
    assert Resource.objects.get(url="https://wifi.example").name == "https://wifi.example"
    assert Resource.objects.filter(name="Untitled entry").count() == 1


def test_older_keepassxc_exports_without_totp_columns_are_accepted(importer):
    data = _csv(KEEPASSXC_HEADER[:6], [["Root", "Mail", "me", "pw", "", ""]])
    assert services.import_csv(actor=importer, data=data, fmt="keepassxc").ok


def _rejected(api, data: bytes, fmt: str) -> dict:
    before = (Resource.objects.count(), Account.objects.count(), ResourceGroup.objects.count())
    response = api.upload("/import", data, fmt)
    assert response.status_code == 400, response.content
    problem = error(response)
    assert problem["code"] == "import_rejected"
    assert (
        Resource.objects.count(),
        Account.objects.count(),
        ResourceGroup.objects.count(),
    ) == before
    return problem["details"]


def test_bad_rows_are_each_named_and_nothing_is_imported(importer):
    api = api_for(importer)
    rows = [
        ["good", "", "", "", "", "", "", "u", "p", "", "", "G"],
        ["", "", "", "", "", "", "", "u", "p", "", "", ""],  # row 3: no name
        ["x", "", "h" * 1001, "", "", "", "", "u", "p", "", "", ""],  # row 4: host too long
        ["x", "", "", "", "", "", "", "u", "p\x00", "", "", ""],  # row 5: NUL
        ["x", "", "", "", "", "", "", "u", "p", "", "not-a-seed!", ""],  # row 6: bad seed
        ["good", "Linux", "", "", "", "", "", "u2", "p", "", "", ""],  # fine
        ["good", "Windows", "", "", "", "", "", "u3", "p", "", "", ""],  # row 8: disagrees
    ]
    report = _rejected(api, _csv([*STRONGROOM_HEADER, "resource_group"], rows), "strongroom")
    assert report["ok"] is False and report["rows"] == 7
    found = {(p["row"], p["column"]) for p in report["problems"]}
    assert found == {
        (3, "resource_name"),
        (4, "host"),
        (5, "password"),
        (6, "totp_seed"),
        (8, "resource_type"),
    }
    messages = {p["row"]: p["problem"] for p in report["problems"]}
    assert "required" in messages[3]
    assert "1000" in messages[4]
    assert "NUL" in messages[5]
    assert "row 7" in messages[8]
    # The rejected attempt is audited too, without values.
    event = AuditEvent.objects.get(action="vault.import")
    assert event.outcome == "failure" and event.details["problems"] == 5


def test_malformed_files_are_rejected_with_a_clear_message(importer):
    api = api_for(importer)
    good_row = ["n", "", "", "", "", "", "", "u", "p", "", ""]

    latin1 = _csv(STRONGROOM_HEADER, [good_row]) + "café,,,,,,,u,p,,\n".encode("latin-1")
    details = _rejected(api, latin1, "strongroom")
    assert "not UTF-8" in details["problems"][0]["problem"]
    assert details["problems"][0]["line"] == 3

    wrong_header = _csv(["name", "password"], [["a", "b"]])
    details = _rejected(api, wrong_header, "strongroom")
    assert details["problems"][0]["row"] == 1
    assert "missing columns: resource_name" in details["problems"][0]["problem"]

    # A KeePassXC file offered as Bitwarden.
    details = _rejected(
        api, _csv(KEEPASSXC_HEADER, [["Root", "a", "b", "c", "", "", "", "", "", ""]]), "bitwarden"
    )
    assert "not a bitwarden CSV header" in details["problems"][0]["problem"]

    ragged = _csv(STRONGROOM_HEADER, [good_row, good_row[:5], [*good_row, "extra"]])
    details = _rejected(api, ragged, "strongroom")
    assert [(p["row"], p["problem"]) for p in details["problems"]] == [
        (3, "this row has 5 fields but the header has 11"),
        (4, "this row has 12 fields but the header has 11"),
    ]

    bad_quote = _csv(STRONGROOM_HEADER, [good_row]) + b'"a"b,,,,,,,,,,\n'
    details = _rejected(api, bad_quote, "strongroom")
    assert details["problems"][0]["row"] == 3 and "malformed" in details["problems"][0]["problem"]

    assert "empty" in _rejected(api, b"", "strongroom")["problems"][0]["problem"]
    header_only = _csv(STRONGROOM_HEADER, [])
    assert "no entries" in _rejected(api, header_only, "strongroom")["problems"][0]["problem"]
    assert (
        "unknown import format" in _rejected(api, header_only, "dashlane")["problems"][0]["problem"]
    )
    unknown_column = _csv([*STRONGROOM_HEADER, "pasword"], [[*good_row, "x"]])
    assert (
        "unknown column" in _rejected(api, unknown_column, "strongroom")["problems"][0]["problem"]
    )


def test_row_numbers_count_records_not_lines(importer):
    rows = [
        ["a", "", "", "", "", "", "line one\nline two\nline three", "u", "p", "", ""],
        ["", "", "", "", "", "", "", "u", "p", "", ""],
    ]
    report = services.import_csv(
        actor=importer, data=_csv(STRONGROOM_HEADER, rows), fmt="strongroom"
    )
    assert not report.ok
    assert [(p.row, p.line, p.column) for p in report.problems] == [(3, 5, "resource_name")]


def test_oversized_files_are_refused_before_parsing(importer):
    data = _csv(STRONGROOM_HEADER, [["n", "", "", "", "", "", "", "u", "p", "", ""]])
    data += b"#" * (importers.MAX_IMPORT_BYTES - len(data) + 1)
    report = services.import_csv(actor=importer, data=data, fmt="strongroom")
    assert not report.ok
    assert "larger than" in report.problems[0].problem
    assert not Resource.objects.exists()


def test_only_roles_with_the_import_permission_may_import():
    api = api_for(user_make("password_user"))
    response = api.upload("/import", _csv(STRONGROOM_HEADER, [["n"] + [""] * 10]), "strongroom")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="vault.import").exists()


def test_existing_resource_group_of_the_same_name_is_reused(importer):
    existing = services.resource_group_create(actor=importer, name="Ops")
    data = _csv(
        [*STRONGROOM_HEADER, "resource_group"],
        [["n", "", "", "", "", "", "", "u", "p", "", "", "Ops"]],
    )
    report = services.import_csv(actor=importer, data=data, fmt="strongroom")
    assert report.ok and report.resource_groups_created == 0
    assert existing.resources.get().name == "n"


def test_a_file_without_a_header_does_not_echo_its_first_row(importer):
    data = b"core-sw,Cisco,10.0.0.1,,,,,admin,Sup3r-Secret-Canary,,\n"
    report = services.import_csv(actor=importer, data=data, fmt="strongroom")
    assert not report.ok
    assert "missing column" in report.problems[0].problem
    assert "Sup3r-Secret-Canary" not in str(report.as_dict())
    bitwarden = _csv(
        BITWARDEN_HEADER, [["", "", "Sup3r-Secret-Canary", "n", "", "", "", "", "", "", ""]]
    )
    report = services.import_csv(actor=importer, data=bitwarden, fmt="bitwarden")
    assert [(p.row, p.column) for p in report.problems] == [(2, "type")]
    assert "Sup3r-Secret-Canary" not in str(report.as_dict())
