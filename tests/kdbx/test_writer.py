"""The KDBX 4 writer, read back by real KeePass readers: keepassxc-cli (KeePassXC's own
parser) and pykeepass. No database needed."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kdbx.readers import (
    keepassxc_export,
    keepassxc_refuses,
    keepassxc_totp,
)
from strongroom.crypto import kdbx
from strongroom.crypto.offline import OfflineEntry
from strongroom.crypto.offline_cli import totp_now

PASSPHRASE = "correct horse battery staple ünïcödé"
# Small Argon2id costs keep the tests quick; the defaults are checked separately.
FAST = {"memory_kib": 8 * 1024, "iterations": 1, "parallelism": 1}
NOW = datetime(2026, 12, 1, 9, 30, 0, tzinfo=UTC)
SEED = "JBSWY3DPEHPK3PXP"
URI_SEED = "otpauth://totp/ACME:ops?secret=GEZDGNBVGY3TQOJQ&digits=8&period=60&algorithm=SHA256"
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def hostile_entries() -> list[OfflineEntry]:
    big_notes = ("1 MB of notes <&> \r\n" * 60_000)[:1_000_000]
    return [
        OfflineEntry(
            name="Core router <R1> & \"edge\" 'quoted'",
            username="admin\tadmin",
            password="p\x00w\x01d\r\n<not>&markup;]]>",
            url="https://r1.example.net/?a=1&b=<2>",
            notes="line 1\r\nline 2\rline 3\n  trailing spaces  ",
            totp_seed=SEED,
            folder="Network, Servers",
            host="10.0.0.1",
            resource_type="router",
            department="NetOps ☎",
            location="DC1 \U0001f3e2 rack 4",
            description="Edge router; \x0bvertical tab\x1f",
            custom_fields=(("Title", "custom title"), ("pin\x02", "1234"), ("Host", "dup")),
            updated_at=NOW - timedelta(days=3),
            entry_id="7f1c3c1e-0000-4000-8000-000000000001",
        ),
        OfflineEntry(
            name="Bare entry",
            username="",
            password="",
            entry_id="7f1c3c1e-0000-4000-8000-000000000002",
        ),
        OfflineEntry(
            name="Big notes",
            username="u",
            password="\ufffe\uffff emoji \U0001f600",
            notes=big_notes,
            totp_seed=URI_SEED,
            folder="Servers",
            updated_at=NOW - timedelta(hours=1),
            entry_id="7f1c3c1e-0000-4000-8000-000000000003",
        ),
        OfflineEntry(
            name="Same name",
            username="root",
            password="one",
            folder="Servers",
            entry_id="7f1c3c1e-0000-4000-8000-000000000004",
        ),
        OfflineEntry(
            name="Same name",
            username="root",
            password="two",
            folder="Servers",
            entry_id="7f1c3c1e-0000-4000-8000-000000000005",
        ),
    ]


def clean(text: str) -> str:
    return _INVALID.sub("\ufffd", text)


def expected_strings(entry: OfflineEntry) -> dict[str, str]:
    """What a KeePass app must show for the entry (docs/offline-kdbx.md, "What goes where")."""
    found = {
        "Title": clean(entry.name),
        "UserName": clean(entry.username),
        "Password": clean(entry.password),
        "URL": clean(entry.url),
        "Notes": clean(entry.notes),
    }
    if entry.totp_seed:
        found["otp"] = kdbx.otp_uri(entry.totp_seed, name=entry.name, username=entry.username)
    for label, value in (
        ("Host", entry.host),
        ("Type", entry.resource_type),
        ("Department", entry.department),
        ("Location", entry.location),
        ("Description", entry.description),
    ):
        if value:
            found[label] = clean(value)
    for label, value in entry.custom_fields:
        key = clean(label)
        if key in found or key in kdbx.STANDARD_FIELDS:
            key = f"{key} (2)"
        found[key] = clean(value)
    return found


def write(tmp_path: Path, keys: kdbx.KdbxKeys, entries: list[OfflineEntry], name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(
        kdbx.kdbx_build(keys=keys, entries=entries, generated_at=NOW, title="Ops copy <&>")
    )
    return path


@pytest.fixture(scope="module")
def keys() -> kdbx.KdbxKeys:
    return kdbx.kdbx_keys_create(passphrase=PASSPHRASE, **FAST)


@pytest.mark.parametrize("cipher", [kdbx.CIPHER_AES256, kdbx.CIPHER_CHACHA20])
def test_keepassxc_opens_and_shows_every_entry_and_field(
    tmp_path: Path, keys: kdbx.KdbxKeys, cipher: str
) -> None:
    keyed = kdbx.KdbxKeys.from_dict(
        {**keys.to_dict(), "cipher": cipher}, transformed_key=keys.transformed_key
    )
    entries = hostile_entries()
    path = write(tmp_path, keyed, entries, f"copy-{cipher}.kdbx")
    assert kdbx.kdbx_header_kdf(path.read_bytes())["cipher"] == cipher

    db = keepassxc_export(path, PASSPHRASE)
    assert db.name == "Ops copy <&>"
    assert sorted(db.groups) == ["", "Network, Servers", "Servers"]
    assert len(db.entries) == len(entries)
    by_uuid = {read.uuid: read for read in db.entries}
    assert len(by_uuid) == len(entries), "entry UUIDs must be unique"
    for read, entry in zip(
        sorted(db.entries, key=lambda r: r.strings["Password"]),
        sorted(entries, key=lambda e: clean(e.password)),
        strict=True,
    ):
        assert read.strings == expected_strings(entry), entry.name
        assert read.group == entry.folder
        assert [tag for tag in re.split("[,;]", read.tags) if tag] == kdbx.group_names(entry.folder)
        assert "Password" in read.protected
        assert read.modified == (entry.updated_at or NOW)


def test_hostile_values_round_trip_exactly_apart_from_what_xml_cannot_hold(
    tmp_path: Path, keys: kdbx.KdbxKeys
) -> None:
    entries = hostile_entries()
    db = keepassxc_export(write(tmp_path, keys, entries, "hostile.kdbx"), PASSPHRASE)
    by_title = {read.strings["Title"]: read for read in db.entries}
    router = by_title["Core router <R1> & \"edge\" 'quoted'"]
    # CR, CRLF, tabs, markup and surrounding spaces survive; NUL and other C0 controls
    # become U+FFFD (visible) instead of cutting the password short in KeePassXC.
    assert router.strings["Notes"] == "line 1\r\nline 2\rline 3\n  trailing spaces  "
    assert router.strings["Password"] == "p\ufffdw\ufffdd\r\n<not>&markup;]]>"
    assert router.strings["pin\ufffd"] == "1234"
    assert router.strings["Title (2)"] == "custom title"
    assert router.strings["Host (2)"] == "dup"
    big = by_title["Big notes"]
    assert len(big.strings["Notes"]) == 1_000_000
    assert big.strings["Notes"] == hostile_entries()[2].notes
    assert big.strings["Password"] == "\ufffd\ufffd emoji \U0001f600"


def test_keepassxc_computes_the_same_totp_codes(tmp_path: Path, keys: kdbx.KdbxKeys) -> None:
    entries = hostile_entries()
    path = write(tmp_path, keys, entries, "totp.kdbx")
    for entry, entry_path in (
        (entries[0], "Network, Servers/" + entries[0].name),
        (entries[2], "Servers/Big notes"),
    ):
        before = totp_now(entry.totp_seed)
        shown = keepassxc_totp(path, PASSPHRASE, entry_path)
        after = totp_now(entry.totp_seed, at=time.time())
        assert shown in {before, after}, entry.name
        assert shown.isdigit()
    assert len(keepassxc_totp(path, PASSPHRASE, "Servers/Big notes")) == 8


def test_pykeepass_reads_it_independently(tmp_path: Path, keys: kdbx.KdbxKeys) -> None:
    pykeepass = pytest.importorskip("pykeepass")
    entries = hostile_entries()
    path = write(tmp_path, keys, entries, "py.kdbx")
    kp = pykeepass.PyKeePass(str(path), password=PASSPHRASE)
    assert len(kp.entries) == len(entries)
    read = {e.uuid.bytes: e for e in kp.entries}
    via_cli = keepassxc_export(path, PASSPHRASE)
    for cli_entry in via_cli.entries:
        py_entry = read[cli_entry.uuid]
        assert (py_entry.title or "") == cli_entry.strings["Title"]
        assert (py_entry.username or "") == cli_entry.strings["UserName"]
        assert (py_entry.password or "") == cli_entry.strings["Password"]
        assert (py_entry.url or "") == cli_entry.strings["URL"]
        assert (py_entry.notes or "") == cli_entry.strings["Notes"]
        assert (py_entry.otp or "") == cli_entry.strings.get("otp", "")
        assert py_entry.mtime == cli_entry.modified
        assert py_entry.group.name == (cli_entry.group or None) or (
            cli_entry.group == "" and py_entry.group.is_root_group
        )


def test_wrong_passphrase_is_refused(tmp_path: Path, keys: kdbx.KdbxKeys) -> None:
    path = write(tmp_path, keys, hostile_entries()[:2], "wrong.kdbx")
    assert "Invalid credentials" in keepassxc_refuses(path, PASSPHRASE + "x")
    assert "Invalid credentials" in keepassxc_refuses(path, PASSPHRASE.upper())


def _edited(path: Path, offset: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    edited = path.with_name(f"edited-{offset}.kdbx")
    edited.write_bytes(bytes(data))
    return edited


def _header_size(data: bytes) -> int:
    offset = 12
    while True:
        field_id = data[offset]
        size = int.from_bytes(data[offset + 1 : offset + 5], "little")
        offset += 5 + size
        if field_id == 0:
            return offset


def test_edited_bytes_are_refused(tmp_path: Path, keys: kdbx.KdbxKeys) -> None:
    path = write(tmp_path, keys, hostile_entries()[:2], "edit.kdbx")
    data = path.read_bytes()
    header = _header_size(data)
    header_hmac = header + 32
    first_block = header + 64
    places = {
        "master seed in the header": (12 + 5 + 16 + 5 + 4 + 5 + 3, "Header SHA256 mismatch"),
        "header hash": (header + 3, "Header SHA256 mismatch"),
        "header HMAC": (header_hmac + 5, "HMAC mismatch"),
        "first block HMAC": (first_block + 7, "Error while reading the database"),
        "first block data": (first_block + 32 + 4 + 10, "Error while reading the database"),
        "last block data": (len(data) - 32 - 4 - 40, "Error while reading the database"),
    }
    for what, (offset, expected) in places.items():
        message = keepassxc_refuses(_edited(path, offset), PASSPHRASE)
        assert expected in message, what
    # The untouched file still opens (the edits above are what was refused).
    assert len(keepassxc_export(path, PASSPHRASE).entries) == 2


def test_every_build_is_fresh_but_keeps_entry_uuids(tmp_path: Path, keys: kdbx.KdbxKeys) -> None:
    entries = hostile_entries()
    first = write(tmp_path, keys, entries, "first.kdbx")
    changed = [*entries[:3], entries[4]]  # one account left the scope
    second = write(tmp_path, keys, changed, "second.kdbx")
    head1 = kdbx.kdbx_header_kdf(first.read_bytes())
    head2 = kdbx.kdbx_header_kdf(second.read_bytes())
    assert head1["S"] == head2["S"] == keys.salt
    assert head1["master_seed"] != head2["master_seed"]
    assert head1["iv"] != head2["iv"]
    uuids1 = {r.strings["Password"]: r.uuid for r in keepassxc_export(first, PASSPHRASE).entries}
    uuids2 = {r.strings["Password"]: r.uuid for r in keepassxc_export(second, PASSPHRASE).entries}
    assert "one" not in uuids2
    assert all(uuids1[password] == uuid for password, uuid in uuids2.items())
    # Another copy (new keys, same accounts) gets other UUIDs: they do not name the account.
    other = kdbx.kdbx_keys_create(passphrase=PASSPHRASE, **FAST)
    third = write(tmp_path, other, entries, "third.kdbx")
    uuids3 = {r.uuid for r in keepassxc_export(third, PASSPHRASE).entries}
    assert not uuids3 & set(uuids1.values())


def test_header_carries_the_copys_argon2id_parameters(keys: kdbx.KdbxKeys) -> None:
    data = kdbx.kdbx_build(keys=keys, entries=[], generated_at=NOW, title="t")
    head = kdbx.kdbx_header_kdf(data)
    assert head["$UUID"] == kdbx.ARGON2ID_UUID
    assert (head["M"], head["I"], head["P"], head["V"]) == (8 * 1024 * 1024, 1, 1, 0x13)
    assert "transformed_key" not in keys.to_dict()
    assert kdbx.KdbxKeys.from_dict(keys.to_dict()) == keys


def test_defaults_are_argon2id_64_mib_and_open_in_keepassxc(tmp_path: Path) -> None:
    keys = kdbx.kdbx_keys_create(passphrase=PASSPHRASE)
    assert (keys.memory_kib, keys.iterations, keys.parallelism) == (64 * 1024, 3, 2)
    path = write(tmp_path, keys, hostile_entries()[1:2], "defaults.kdbx")
    assert [r.strings["Title"] for r in keepassxc_export(path, PASSPHRASE).entries] == [
        "Bare entry"
    ]


def test_refuses_parameters_outside_the_bounds() -> None:
    with pytest.raises(kdbx.KdbxError):
        kdbx.kdbx_keys_create(passphrase=PASSPHRASE, memory_kib=1024, iterations=1, parallelism=1)
    with pytest.raises(kdbx.KdbxError):
        kdbx.kdbx_keys_create(passphrase=PASSPHRASE, memory_kib=8192, iterations=0, parallelism=1)
    with pytest.raises(kdbx.KdbxError):
        kdbx.kdbx_keys_create(passphrase="", **FAST)
    with pytest.raises(kdbx.KdbxError):
        kdbx.kdbx_build(
            keys=kdbx.KdbxKeys(salt=bytes(32)), entries=[], generated_at=NOW, title="no key"
        )


def test_many_entries_across_chunks_keep_the_inner_stream_in_step(
    tmp_path: Path, keys: kdbx.KdbxKeys
) -> None:
    """More entries than one chunk, in several groups, hostile values here and there: every
    protected value decrypts (the inner stream continues across chunks and groups)."""
    count = kdbx.CHUNK * 2 + 333
    entries = [
        OfflineEntry(
            name=f"host-{i:05d}" + (" <&>" if i % 7 == 0 else ""),
            username=f"user{i}",
            password=f"pw-{i}-\u00e9" + ("\x01" if i % 1001 == 0 else ""),
            totp_seed=SEED if i % 3 == 0 else None,
            folder=f"Group {i % 3}" if i % 4 else "",
            notes="n\r\n" * (i % 5),
            custom_fields=(("serial", f"SN{i}"),) if i % 2 else (),
            entry_id=f"id-{i}",
        )
        for i in range(count)
    ]
    db = keepassxc_export(write(tmp_path, keys, entries, "many.kdbx"), PASSPHRASE)
    assert len(db.entries) == count
    shown = {r.strings["UserName"]: r.strings for r in db.entries}
    for entry in entries:
        assert shown[entry.username] == expected_strings(entry), entry.username
