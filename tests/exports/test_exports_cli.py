"""`strongroom export` in a subprocess against a private installation (its own data
directory and database): the encrypted file it writes opens with `strongroom open` (at the
real 600,000 PBKDF2 iterations: the subprocess has no test settings), spreadsheets obey the
policy, refusals exit 1 with the policy's reason and write nothing."""

from __future__ import annotations

import json
import stat

import pytest

from cli.helpers import LOGIN_PASSWORD, make_installation

pytestmark = pytest.mark.db_specific

PASSPHRASE = "plum orbit quietly seventy lantern"

SEED = f"""
from strongroom.accounts import services as people
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel
def person(name, role):
    return people.user_create(actor=None, username=name, password={LOGIN_PASSWORD!r}, role=role)
alice = person("alice", "password_admin")
bob = person("bob", "password_user")
web = vault.resource_create(actor=alice, name="web-01", host="web-01.example")
vault.account_create(
    actor=alice, resource_id=web.pk, username="root", password="W3b-root-pw",
    totp_seed="JBSWY3DPEHPK3PXP",
)
db = vault.resource_create(actor=alice, name="=db-01")
vault.account_create(actor=alice, resource_id=db.pk, username="sa", password="Db-sa-pw")
ops = vault.resource_group_create(actor=alice, name="ops")
vault.resource_group_add_resource(actor=alice, resource_group_id=ops.pk, resource_id=db.pk)
vault.share_grant(actor=alice, resource_id=web.pk, user_id=bob.pk, level=AccessLevel.VIEW)
result = "ok"
"""


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    installation, cleanup = make_installation(tmp_path_factory.mktemp("export-cli"))
    try:
        installation.ok("migrate")
        installation.script(SEED)
        yield installation
    finally:
        cleanup()


def test_cli_html_export_opens_with_strongroom_open(inst, tmp_path):
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    out = tmp_path / "alice.html"
    done = inst.ok(
        "export", "--user", "alice", "--format", "html", "--passphrase-file", str(secret),
        "--out", str(out), "--reason", "DMZ visit",
    )  # fmt: skip
    assert "exported 2 entries for alice" in done.stdout
    assert PASSPHRASE not in done.stdout + done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    opened = inst.ok("open", str(out), "--passphrase-file", str(secret), "--json")
    document = json.loads(opened.stdout)
    assert document["kdf_iterations"] == 600_000
    assert document["integrity"] == "authenticated"
    assert [
        (e["name"], e["username"], e["password"], e["folder"]) for e in document["entries"]
    ] == [
        ("=db-01", "sa", "Db-sa-pw", "ops"),
        ("web-01", "root", "W3b-root-pw", ""),
    ]
    # The audit record names the file's SHA-256, which the command printed.
    digest = done.stdout.rsplit("SHA-256 ", 1)[1].rstrip(")\n")
    audited = inst.script(
        "from strongroom.audit.models import AuditEvent\n"
        "e = AuditEvent.objects.get(action='export.html')\n"
        "result = [e.actor_name, e.reason, e.details['sha256'], e.details['entry_count']]"
    )
    assert audited == ["alice", "DMZ visit", digest, 2]


def test_cli_group_scope_and_spreadsheet(inst, tmp_path):
    secret = tmp_path / "p.txt"
    secret.write_text(PASSPHRASE, encoding="utf-8")
    out = tmp_path / "ops.html"
    inst.ok(
        "export", "--user", "alice", "--format", "html", "--passphrase-file", str(secret),
        "--out", str(out), "--group", "ops",
    )  # fmt: skip
    opened = json.loads(
        inst.ok("open", str(out), "--passphrase-file", str(secret), "--json").stdout
    )
    assert [e["name"] for e in opened["entries"]] == ["=db-01"]
    missing = inst.run(
        "export", "--user", "bob", "--format", "csv", "--out", str(tmp_path / "x.csv"),
        "--group", "ops",
    )  # fmt: skip
    assert missing.returncode == 1 and "cannot see a resource group named 'ops'" in missing.stderr

    sheet = tmp_path / "bob.csv"
    inst.ok("export", "--user", "bob", "--format", "csv", "--out", str(sheet))
    text = sheet.read_text(encoding="utf-8-sig")
    assert "web-01" in text and "=db-01" not in text and "W3b-root-pw" not in text


def test_cli_refusals_exit_1_with_the_reason_and_write_nothing(inst, tmp_path):
    weak = tmp_path / "weak.txt"
    weak.write_text("password1234\n", encoding="utf-8")
    out = tmp_path / "never.html"
    done = inst.run(
        "export", "--user", "bob", "--format", "html", "--passphrase-file", str(weak),
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 1
    assert "too easy to guess" in done.stderr
    assert "password1234" not in done.stderr + done.stdout
    plain = inst.run(
        "export", "--user", "bob", "--format", "xlsx", "--with-passwords", "--out", str(out)
    )
    assert plain.returncode == 1 and "plain-text" in plain.stderr
    nobody = inst.run("export", "--user", "nobody", "--format", "csv", "--out", str(out))
    assert nobody.returncode == 1 and "no active user named 'nobody'" in nobody.stderr
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["html", "csv"])
def test_an_export_that_cannot_be_written_is_audited_as_a_failure(inst, tmp_path, fmt):
    """A missing directory (a full disk behaves the same: the write fails inside the audit
    transaction): exit 1, no file, and the audit trail says the export failed, never a
    success with the SHA-256 of a file that does not exist."""
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    out = tmp_path / "no-such-dir" / f"alice.{fmt}"
    count = (
        "from strongroom.audit.models import AuditEvent\n"
        "result = [[e.outcome, e.object_name, e.details.get('sha256'),"
        " e.details.get('refusal')] for e in AuditEvent.objects.filter("
        f"action='export.{'html' if fmt == 'html' else 'spreadsheet'}').order_by('seq')]"
    )
    before = inst.script(count)
    args = ["--passphrase-file", str(secret)] if fmt == "html" else []
    done = inst.run(
        "export", "--user", "alice", "--format", fmt, *args, "--out", str(out), "--reason", "r"
    )
    assert done.returncode == 1, done.stderr
    assert "cannot write" in done.stderr and "nothing was exported" in done.stderr
    assert not out.parent.exists()
    after = inst.script(count)
    [new] = after[len(before) :]
    assert new == ["failure", f"alice.{fmt}", None, "export_write_failed"]
    inst.ok("audit", "verify")  # the failure record is part of an intact chain
