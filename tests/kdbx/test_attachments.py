"""Attachments in KeePass copies: the writer's binaries read back by keepassxc-cli
(``attachment-export``) and pykeepass. No database needed."""

from __future__ import annotations

from datetime import UTC, datetime

from pykeepass import PyKeePass

from factories import PASSPHRASE
from kdbx.readers import run_cli
from strongroom.crypto import kdbx
from strongroom.crypto.offline import OfflineAttachment, OfflineEntry

FAST = {"memory_kib": 8 * 1024, "iterations": 1, "parallelism": 1}
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
BINARY = bytes(range(256)) * 40
HOSTILE_NAME = "<cert> & 証明書 🔑.crt"


def keepassxc_attachment(path, entry: str, name: str) -> bytes:
    """The attachment's bytes as ``keepassxc-cli attachment-export`` writes them to a file
    (its --stdout converts to text)."""
    target = path.with_name(f"{path.stem}-exported.bin")
    done = run_cli(["attachment-export", "-q", str(path), entry, name, str(target)], PASSPHRASE)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    data = target.read_bytes()
    target.unlink()
    return data


def test_writer_binaries_open_in_keepassxc_and_pykeepass(tmp_path):
    keys = kdbx.kdbx_keys_create(passphrase=PASSPHRASE, **FAST)
    entries = [
        OfflineEntry(
            name="bastion",
            username="deploy",
            password="pw",
            entry_id="7f1c3c1e-0000-4000-8000-000000000001",
            attachments=(
                OfflineAttachment("id_ed25519", b"-----BEGIN KEY-----\n"),
                OfflineAttachment(HOSTILE_NAME, BINARY),
            ),
        ),
        OfflineEntry(name="plain", username="u", password="p", entry_id="e2"),
        OfflineEntry(
            name="licence server",
            username="",
            password="",
            folder="Apps",
            entry_id="e3",
            attachments=(OfflineAttachment("licence.lic", b"LICENSE-KEY-1234"),),
        ),
    ]
    path = tmp_path / "copy.kdbx"
    path.write_bytes(kdbx.kdbx_build(keys=keys, entries=entries, generated_at=NOW, title="T"))

    assert keepassxc_attachment(path, "bastion", "id_ed25519") == b"-----BEGIN KEY-----\n"
    assert keepassxc_attachment(path, "bastion", HOSTILE_NAME) == BINARY
    assert keepassxc_attachment(path, "Apps/licence server", "licence.lic") == b"LICENSE-KEY-1234"

    db = PyKeePass(str(path), password=PASSPHRASE)
    by_title = {e.title: e for e in db.entries}
    assert sorted(a.filename for a in by_title["bastion"].attachments) == sorted(
        ["id_ed25519", HOSTILE_NAME]
    )
    assert {a.filename: a.data for a in by_title["bastion"].attachments}[HOSTILE_NAME] == BINARY
    assert by_title["plain"].attachments == []
