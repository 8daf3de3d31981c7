"""`strongroom open` on a format 4 copy: attachments listed in the table (listed-only ones
marked), in --json (bytes as base64, null when not carried), and saved with
--save-attachments under safe names: never outside the folder, never over a file."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from strongroom.crypto import offline_cli
from strongroom.crypto.offline import OfflineAttachment, OfflineEntry

from .helpers import PASSPHRASE, build, cheap_keys
from .test_cli_open import run

CERT = bytes(range(256)) + b"\n-----END CERTIFICATE-----\n"
KEY = b"\x00openssh-key-v1\xff"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("offline-cli-attachments")
    entries = [
        OfflineEntry(
            name="../../etc/passwd",  # an entry name is no file name: made safe to save under
            username="root",
            password="pw",
            attachments=(
                OfflineAttachment("ca.pem", CERT),
                OfflineAttachment("CON", KEY),  # a Windows device name
                OfflineAttachment("huge.iso", None, size=40_000_000),
            ),
        ),
        OfflineEntry(name="Plain", username="u", password="p"),
        OfflineEntry(
            name="Mail",
            username="m",
            password="p",
            attachments=(OfflineAttachment(".hidden:key?", KEY),),
        ),
    ]
    (folder / "copy.html").write_bytes(build(cheap_keys(), entries))
    (folder / "pass.txt").write_text(PASSPHRASE + "\n", encoding="utf-8")
    return folder


def test_the_table_lists_attachments_and_marks_the_ones_left_out(folder):
    done = run(folder, str(folder / "copy.html"), "--passphrase-file",
               str(folder / "pass.txt"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "    attachment ca.pem (283 bytes)" in done.stdout
    assert "    attachment huge.iso (40,000,000 bytes, not included in the offline copy)" in (
        done.stdout
    )


def test_json_carries_each_attachment_with_its_bytes_and_digest(folder):
    done = run(folder, str(folder / "copy.html"), "--passphrase-file",
               str(folder / "pass.txt"), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)["entries"]
    first = entries[0]["attachments"]
    assert first[0] == {
        "name": "ca.pem",
        "size": len(CERT),
        "included": True,
        "sha256": hashlib.sha256(CERT).hexdigest(),
        "data_base64": base64.b64encode(CERT).decode(),
    }
    assert first[2] == {
        "name": "huge.iso",
        "size": 40_000_000,
        "included": False,
        "sha256": None,
        "data_base64": None,
    }
    assert entries[1]["attachments"] == []


def test_save_attachments_writes_safe_names_inside_the_folder_and_never_overwrites(folder):
    out = folder / "saved"
    args = [str(folder / "copy.html"), "--passphrase-file", str(folder / "pass.txt"),
            "--save-attachments", str(out)]  # fmt: skip
    done = run(folder, *args)
    assert done.returncode == 0, done.stderr
    assert "saved 3 attachments to" in done.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["1 .._.._etc_passwd/_CON", "1 .._.._etc_passwd/ca.pem", "3 Mail/hidden_key_"]
    assert (out / "1 .._.._etc_passwd" / "ca.pem").read_bytes() == CERT
    assert (out / "1 .._.._etc_passwd" / "_CON").read_bytes() == KEY
    assert not (folder / "etc").exists() and not (folder.parent / "etc").exists()
    # A second run finds the files there: refused, nothing overwritten.
    (out / "1 .._.._etc_passwd" / "ca.pem").write_bytes(b"mine")
    again = run(folder, *args)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    assert (out / "1 .._.._etc_passwd" / "ca.pem").read_bytes() == b"mine"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../x", "_.._x"),
        ("..", "_"),
        (".", "_"),
        ("a/b\\c", "a_b_c"),
        ("nul.txt", "_nul.txt"),
        ("id_rsa\u202etxt.exe", "id_rsa_txt.exe"),
        ("line\nbreak", "line_break"),
        (" .trailing. ", "trailing"),
        ("é" * 200, "é" * 120),
        ("ok name (1).pem", "ok name (1).pem"),
    ],
)
def test_safe_file_name_is_one_name_and_never_a_path(name, safe):
    assert offline_cli.safe_file_name(name) == safe


def test_save_attachments_refuses_a_symbolic_link_planted_as_an_entry_folder(folder, tmp_path):
    out = tmp_path / "saved"
    elsewhere = tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "1 .._.._etc_passwd").symlink_to(elsewhere, target_is_directory=True)
    done = run(folder, str(folder / "copy.html"), "--passphrase-file", str(folder / "pass.txt"),
               "--save-attachments", str(out))  # fmt: skip
    assert done.returncode == 1 and "refusing to write outside" in done.stderr
    assert list(elsewhere.iterdir()) == []
