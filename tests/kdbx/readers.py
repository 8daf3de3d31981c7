"""Real KeePass readers for the tests: Debian's ``keepassxc-cli`` (package ``keepassxc``,
installed by scripts/test) and pykeepass. Nothing here shares code with the writer."""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

_KEEPASS_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def keepassxc_cli() -> str:
    found = shutil.which("keepassxc-cli")
    if found is None:
        pytest.fail("keepassxc-cli is missing: install Debian's keepassxc (scripts/test does)")
    return found


def _env() -> dict[str, str]:
    # keepassxc-cli needs no display; offscreen keeps Qt from looking for one.
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": os.environ.get("HOME", "/tmp")}


def run_cli(args: list[str], passphrase: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [keepassxc_cli(), *args],
        input=passphrase.encode("utf-8") + b"\n",
        capture_output=True,
        env=_env(),
        timeout=120,
        check=False,
    )


@dataclass
class ReadEntry:
    uuid: bytes
    group: str
    tags: str
    modified: datetime
    strings: dict[str, str] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)


@dataclass
class ReadDatabase:
    name: str
    description: str
    entries: list[ReadEntry]
    groups: list[str]


def _time(text: str) -> datetime:
    (seconds,) = struct.unpack("<q", base64.b64decode(text))
    return _KEEPASS_EPOCH + timedelta(seconds=seconds)


def keepassxc_export(path: Path, passphrase: str) -> ReadDatabase:
    """Open the file with keepassxc-cli and read its clear XML export."""
    done = run_cli(["export", "-q", "--format", "xml", str(path)], passphrase)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    # KeePassXC writes carriage returns in values literally; an XML parser would turn them
    # into line feeds, so keep them as references.
    root = ET.fromstring(done.stdout.replace(b"\r", b"&#13;"))  # noqa: S314 - our own file
    meta = root.find("Meta")
    assert meta is not None
    entries: list[ReadEntry] = []
    groups: list[str] = []

    def walk(group: ET.Element, path_names: list[str]) -> None:
        name = group.findtext("Name") or ""
        names = [*path_names, name]
        label = "/".join(names[1:])
        groups.append(label)
        for entry in group.findall("Entry"):
            read = ReadEntry(
                uuid=base64.b64decode(entry.findtext("UUID") or ""),
                group=label,
                tags=entry.findtext("Tags") or "",
                modified=_time(entry.findtext("Times/LastModificationTime") or ""),
            )
            for string in entry.findall("String"):
                key = string.findtext("Key") or ""
                value = string.find("Value")
                assert value is not None
                read.strings[key] = value.text or ""
                if value.get("ProtectInMemory") == "True":
                    read.protected.add(key)
            entries.append(read)
        for child in group.findall("Group"):
            walk(child, names)

    top = root.find("Root/Group")
    assert top is not None
    walk(top, [])
    return ReadDatabase(
        name=meta.findtext("DatabaseName") or "",
        description=meta.findtext("DatabaseDescription") or "",
        entries=entries,
        groups=groups,
    )


def keepassxc_totp(path: Path, passphrase: str, entry_path: str) -> str:
    done = run_cli(["show", "-q", "--totp", str(path), entry_path], passphrase)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return done.stdout.decode().strip()


def keepassxc_refuses(path: Path, passphrase: str) -> str:
    """keepassxc-cli's error for a file it will not open (fails if it opens it)."""
    done = run_cli(["export", "--format", "xml", str(path)], passphrase)
    assert done.returncode != 0, "keepassxc-cli opened the file"
    assert not done.stdout.strip()
    return done.stderr.decode("utf-8", "replace")
