"""`strongroom import` with the new formats and modes: a KeePass database with its password
from a file, what was skipped and updated listed, and the singular and plural wording."""

from __future__ import annotations

from cli.helpers import LOGIN_PASSWORD
from vault import import_files as files
from vault.import_files import KDBX_PASSWORD, Item

EXIT_FAILED = 1


def test_import_a_kdbx_then_update_it_and_read_the_report(migrated, tmp_path):
    pw_file = tmp_path / "pw"
    pw_file.write_text(LOGIN_PASSWORD)
    migrated.ok("createadmin", "importer", "--password-file", str(pw_file))
    db = tmp_path / "team.kdbx"
    db.write_bytes(files.kdbx([Item("router", "admin", "old", group="Net")], recycled=["gone"]))
    kdbx_pw = tmp_path / "kdbx-pw"
    kdbx_pw.write_text(KDBX_PASSWORD + "\n", encoding="utf-8")

    missing = migrated.run("import", str(db), "--user", "importer")
    assert missing.returncode == EXIT_FAILED
    assert f"import of {db} refused, nothing was imported: 1 problem\n" in missing.stderr
    assert "give the database's password with --password-file" in missing.stderr

    done = migrated.ok("import", str(db), "--user", "importer", "--password-file", str(kdbx_pw))
    assert done.stdout.startswith(
        f"1 entry read from {db} (kdbx) for importer: imported 1 account into 1 new resource "
        "and 1 new resource group; skipped 1 item\n"
    )
    assert "  skipped: recycle bin: gone: in the KeePass recycle bin" in done.stdout
    assert done.stderr == ""  # no progress on a pipe
    assert KDBX_PASSWORD not in done.stdout + done.stderr

    db.write_bytes(files.kdbx([Item("router", "admin", "new", group="Net")]))
    updated = migrated.ok(
        "import", str(db), "--user", "importer", "--mode", "update", "--password-file", str(kdbx_pw)
    )
    assert "imported 0 accounts into 0 new resources; updated 1 account" in updated.stdout
    assert "  updated: entry 'router' in Net: router / admin: updated: password" in updated.stdout
    password = migrated.script(
        """
        from strongroom.accounts.models import User
        from strongroom.vault.models import Account
        from strongroom.vault.services import password_retrieve
        owner = User.objects.get(username="importer")
        result = password_retrieve(actor=owner, account_id=Account.objects.get().pk)
        """
    )
    assert password == "new"

    bad_mode = migrated.run("import", str(db), "--user", "importer", "--mode", "merge")
    assert bad_mode.returncode == 2 and "invalid choice: 'merge'" in bad_mode.stderr


def test_the_command_line_offers_exactly_the_importers_formats():
    """cli/vault.py spells the format list out (importing the importers at start-up costs
    ~90 ms on every command): it must stay the importers' list plus "auto"."""
    from strongroom.cli.vault import IMPORT_FORMATS
    from strongroom.vault.importers import FORMAT_LABELS, FORMATS

    assert ("auto", *FORMATS) == IMPORT_FORMATS
    assert set(FORMAT_LABELS) == set(IMPORT_FORMATS)
