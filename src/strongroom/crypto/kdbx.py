"""The KeePass offline copy: a standard KDBX 4.0 database that KeePassXC, KeePassDX,
Keepass2Android and Strongbox open with the copy's passphrase.

Pure functions: no models, no I/O. ``docs/offline-kdbx.md`` says what goes where; the
layout is KeePass's (KeePassXC ``src/format/Kdbx4Writer.cpp``, ``KdbxXmlWriter.cpp``):

* :func:`kdbx_keys_create` turns the passphrase into the copy's **transformed key**: the
  composite key ``SHA-256(SHA-256(passphrase))`` through Argon2id with a salt and
  parameters fixed for the copy. The server keeps the salt and parameters in the clear
  (:meth:`KdbxKeys.to_dict`) and the transformed key sealed at rest; never the passphrase.
  The transformed key opens every file of this copy (it is what a KeePass app computes from
  the passphrase before opening), not any other copy's, and it is not the passphrase.
* :func:`kdbx_build` writes one version of the file from the transformed key with a fresh
  master seed, encryption IV and inner-stream key: header, its SHA-256 and HMAC-SHA256,
  then the HMAC block stream of the encrypted (AES-256-CBC or ChaCha20), gzip-compressed
  inner header and XML document. Protected values (passwords, TOTP, and any value holding
  a character XML 1.0 cannot carry) are XORed with the ChaCha20 inner stream.

Speed: the XML is built by string joins (no DOM), every protected value is encrypted in a
single inner-stream call, so 100,000 entries take a few seconds (``bench/kdbx.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from strongroom.crypto.offline import OfflineEntry

FORMAT = "kdbx"
#: KDBX 4.0 (minor 0): every current KeePass app reads it.
FILE_VERSION = 0x00040000
SIGNATURE_1 = 0x9AA2D903
SIGNATURE_2 = 0xB54BFB67

CIPHER_AES256 = "aes256"
CIPHER_CHACHA20 = "chacha20"
CIPHERS = {
    CIPHER_AES256: bytes.fromhex("31c1f2e6bf714350be5805216afc5aff"),
    CIPHER_CHACHA20: bytes.fromhex("d6038a2b8b6f4cb5a524339a31dbb59a"),
}
#: AES-256-CBC is KeePass's own default and the one every app has read longest.
DEFAULT_CIPHER = CIPHER_AES256
ARGON2ID_UUID = bytes.fromhex("9e298b1956db4773b23dfc3ec6f0a1e6")
ARGON2_VERSION = 0x13

#: Argon2id defaults: about half a second on a recent phone.
DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_ITERATIONS = 3
DEFAULT_PARALLELISM = 2
#: Bounds the policy may choose within (phones must still open the file).
MIN_MEMORY_KIB, MAX_MEMORY_KIB = 8 * 1024, 1024 * 1024
MIN_ITERATIONS, MAX_ITERATIONS = 1, 100
MIN_PARALLELISM, MAX_PARALLELISM = 1, 16
SALT_BYTES = 32
KEY_BYTES = 32
BLOCK_BYTES = 1024 * 1024
GZIP_LEVEL = 1

_HEADER_END, _CIPHER_ID, _COMPRESSION, _MASTER_SEED, _IV, _KDF = 0, 2, 3, 4, 7, 11
_INNER_END, _INNER_STREAM_ID, _INNER_STREAM_KEY = 0, 1, 2
# An inner header binary (an attachment): one flags byte (0x01 = protect in memory), the data.
_INNER_BINARY = 3
_INNER_CHACHA20 = 3

# KeePass stores times as seconds since 0001-01-01T00:00:00Z.
_EPOCH_OFFSET = 62135596800

_UUID_LABEL = b"strongroom-kdbx/1 uuid key\x00"
_FINGERPRINT_LABEL = b"strongroom-kdbx/1 fingerprint\x00"

#: Fields the writer names itself; a custom field with one of these labels is renamed.
STANDARD_FIELDS = ("Title", "UserName", "Password", "URL", "Notes", "otp")
DETAIL_FIELDS = (
    ("Host", "host"),
    ("Type", "resource_type"),
    ("Department", "department"),
    ("Location", "location"),
    ("Description", "description"),
)

# Characters XML 1.0 cannot hold, even as references (and lone surrogates, which UTF-8
# cannot hold either).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_SPECIAL = re.compile("[&<>\r]")
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_TAG_SEPARATORS = re.compile("[,;]")


class KdbxError(ValueError):
    """Keys or parameters the writer refuses."""


# --------------------------------------------------------------------------------------
# Keys


@dataclass(frozen=True)
class KdbxKeys:
    """The key material of one KeePass copy.

    ``salt``, ``memory_kib``, ``iterations``, ``parallelism`` and ``cipher`` are public
    (they are in every file's header). ``transformed_key`` is the Argon2id output of the
    composite key: it opens this copy's files, so the server keeps it sealed at rest and
    :meth:`to_dict` never includes it."""

    salt: bytes
    memory_kib: int = DEFAULT_MEMORY_KIB
    iterations: int = DEFAULT_ITERATIONS
    parallelism: int = DEFAULT_PARALLELISM
    cipher: str = DEFAULT_CIPHER
    transformed_key: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.salt) != SALT_BYTES:
            raise KdbxError(f"salt must be {SALT_BYTES} bytes")
        _kdf_check(self.memory_kib, self.iterations, self.parallelism)
        if self.cipher not in CIPHERS:
            raise KdbxError(f"cipher must be one of {', '.join(CIPHERS)}")
        if self.transformed_key is not None and len(self.transformed_key) != KEY_BYTES:
            raise KdbxError(f"transformed_key must be {KEY_BYTES} bytes")

    def to_dict(self) -> dict[str, Any]:
        """The public part, JSON-ready (never the transformed key)."""
        return {
            "format": FORMAT,
            "version": 4,
            "kdf": "argon2id",
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "parallelism": self.parallelism,
            "cipher": self.cipher,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, transformed_key: bytes | None = None) -> KdbxKeys:
        if data.get("format") != FORMAT or data.get("kdf") != "argon2id":
            raise KdbxError("not KeePass copy keys")
        return cls(
            salt=base64.b64decode(data["salt"], validate=True),
            memory_kib=int(data["memory_kib"]),
            iterations=int(data["iterations"]),
            parallelism=int(data["parallelism"]),
            cipher=str(data["cipher"]),
            transformed_key=transformed_key,
        )

    @property
    def can_build(self) -> bool:
        return self.transformed_key is not None

    @property
    def fingerprint(self) -> str:
        """A short non-secret name for this copy's key (from the salt, which files show)."""
        return hashlib.sha256(_FINGERPRINT_LABEL + self.salt).hexdigest()[:16]


def _kdf_check(memory_kib: int, iterations: int, parallelism: int) -> None:
    for name, value, low, high in (
        ("memory_kib", memory_kib, MIN_MEMORY_KIB, MAX_MEMORY_KIB),
        ("iterations", iterations, MIN_ITERATIONS, MAX_ITERATIONS),
        ("parallelism", parallelism, MIN_PARALLELISM, MAX_PARALLELISM),
    ):
        if type(value) is not int or not low <= value <= high:
            raise KdbxError(f"Argon2id {name} must be {low}..{high}")
    if memory_kib < 8 * parallelism:
        raise KdbxError("Argon2id memory must be at least 8 KiB per lane")


def composite_key(passphrase: str) -> bytes:
    """KeePass's composite key of a password-only database: SHA-256 over the SHA-256 of
    the password's UTF-8 (no normalisation, as KeePass)."""
    return hashlib.sha256(hashlib.sha256(passphrase.encode("utf-8")).digest()).digest()


def transform_key(
    passphrase: str, *, salt: bytes, memory_kib: int, iterations: int, parallelism: int
) -> bytes:
    """The Argon2id output every KeePass app computes from the passphrase (KDF "$UUID"
    Argon2id, version 0x13, 32 bytes)."""
    return hash_secret_raw(
        secret=composite_key(passphrase),
        salt=salt,
        time_cost=iterations,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def kdbx_keys_create(
    *,
    passphrase: str,
    memory_kib: int = DEFAULT_MEMORY_KIB,
    iterations: int = DEFAULT_ITERATIONS,
    parallelism: int = DEFAULT_PARALLELISM,
    cipher: str = DEFAULT_CIPHER,
) -> KdbxKeys:
    """New keys for one copy: a fresh salt, the parameters, the transformed key."""
    if not isinstance(passphrase, str) or not passphrase:
        raise KdbxError("a passphrase is required")
    _kdf_check(memory_kib, iterations, parallelism)
    salt = os.urandom(SALT_BYTES)
    return KdbxKeys(
        salt=salt,
        memory_kib=memory_kib,
        iterations=iterations,
        parallelism=parallelism,
        cipher=cipher,
        transformed_key=transform_key(
            passphrase,
            salt=salt,
            memory_kib=memory_kib,
            iterations=iterations,
            parallelism=parallelism,
        ),
    )


# --------------------------------------------------------------------------------------
# Binary layout


def _variant_dict(items: Sequence[tuple[int, str, bytes]]) -> bytes:
    """KeePass's VariantDictionary: version 0x0100, (type, name, value) items, 0x00."""
    out = [struct.pack("<H", 0x0100)]
    for kind, name, value in items:
        raw = name.encode("ascii")
        out.append(struct.pack("<Bi", kind, len(raw)) + raw + struct.pack("<i", len(value)) + value)
    out.append(b"\x00")
    return b"".join(out)


def _kdf_parameters(keys: KdbxKeys) -> bytes:
    return _variant_dict(
        [
            (0x42, "$UUID", ARGON2ID_UUID),
            (0x42, "S", keys.salt),
            (0x04, "P", struct.pack("<I", keys.parallelism)),
            (0x05, "M", struct.pack("<Q", keys.memory_kib * 1024)),
            (0x05, "I", struct.pack("<Q", keys.iterations)),
            (0x04, "V", struct.pack("<I", ARGON2_VERSION)),
        ]
    )


def _header_field(field_id: int, data: bytes) -> bytes:
    return struct.pack("<BI", field_id, len(data)) + data


def _block_key(index: int, hmac_key: bytes) -> bytes:
    return hashlib.sha512(struct.pack("<Q", index) + hmac_key).digest()


def _hmac_blocks(data: bytes, hmac_key: bytes) -> bytes:
    """The HMAC block stream: (HMAC-SHA256, int32 size, data) blocks, then an empty one."""
    out: list[bytes | memoryview] = []
    view = memoryview(data)
    index = 0
    for start in range(0, len(data), BLOCK_BYTES):
        chunk = view[start : start + BLOCK_BYTES]
        size = struct.pack("<i", len(chunk))
        mac = hmac.new(_block_key(index, hmac_key), struct.pack("<Q", index) + size, "sha256")
        mac.update(chunk)
        out.append(mac.digest() + size)
        out.append(chunk)
        index += 1
    size = struct.pack("<i", 0)
    mac = hmac.new(_block_key(index, hmac_key), struct.pack("<Q", index) + size, "sha256")
    out.append(mac.digest() + size)
    return b"".join(out)


def _encrypt(cipher: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    if cipher == CIPHER_AES256:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return encryptor.update(padded) + encryptor.finalize()
    return _chacha20(key, iv, data)


def _chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """IETF ChaCha20 (12-byte nonce, block counter from 0), as KeePass uses it."""
    encryptor = Cipher(algorithms.ChaCha20(key, b"\x00\x00\x00\x00" + nonce), None).encryptor()
    return encryptor.update(data) + encryptor.finalize()


# --------------------------------------------------------------------------------------
# XML


def _escape(text: str) -> str:
    if _XML_SPECIAL.search(text) is None:
        return text
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _clean(text: str) -> str:
    """A value as XML 1.0 can carry it: the characters it cannot hold (C0 controls other
    than tab, LF, CR; U+FFFE, U+FFFF; lone surrogates) become U+FFFD, visibly, in every
    reader (KeePassXC would cut a value at NUL and readers drop the others silently)."""
    return _XML_INVALID.sub("\ufffd", text)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(moment: datetime) -> str:
    """base64 of the little-endian int64 seconds since 0001-01-01 UTC (KDBX 4)."""
    seconds = (moment - _EPOCH) // _SECOND + _EPOCH_OFFSET
    return base64.b64encode(seconds.to_bytes(8, "little", signed=True)).decode("ascii")


_SECOND = timedelta(seconds=1)


def _times(stamp: str) -> str:
    return (
        f"<Times><LastModificationTime>{stamp}</LastModificationTime>"
        f"<CreationTime>{stamp}</CreationTime><LastAccessTime>{stamp}</LastAccessTime>"
        f"<ExpiryTime>{stamp}</ExpiryTime><Expires>False</Expires>"
        f"<UsageCount>0</UsageCount><LocationChanged>{stamp}</LocationChanged></Times>"
    )


def otp_uri(seed: str, *, name: str, username: str) -> str:
    """The ``otp`` attribute (KeePassXC's convention, read by KeePassDX and Strongbox): a
    stored ``otpauth://`` URI as it is, a base32 secret as a 6-digit, 30-second SHA-1 URI."""
    if seed.strip().lower().startswith("otpauth://"):
        return seed.strip()
    secret = re.sub(r"[\s=-]", "", seed).upper()
    label = quote(name or "Strongroom", safe="")
    if username:
        label += ":" + quote(username, safe="")
    issuer = quote(name or "Strongroom", safe="")
    return f"otpauth://totp/{label}?secret={secret}&period=30&digits=6&issuer={issuer}"


def _uuid_bytes(uuid_key: bytes, kind: bytes, name: str) -> bytes:
    """A UUID that stays the same for the same name in every build of the copy and says
    nothing about the name without the copy's key: keyed BLAKE2b (a PRF) of the name."""
    return hashlib.blake2b(kind + name.encode("utf-8"), key=uuid_key, digest_size=16).digest()


def _uuid(uuid_key: bytes, kind: bytes, name: str) -> str:
    return base64.b64encode(_uuid_bytes(uuid_key, kind, name)).decode("ascii")


def group_names(folder: str) -> list[str]:
    """The resource group names of an entry's folder (the export joins them with ", ")."""
    return [name for name in folder.split(", ") if name] if folder else []


#: Entries escaped, encrypted and compressed together: bounds memory, amortises calls.
CHUNK = 2000


class _Document:
    """Writes the XML in chunks straight into the gzip stream. Protected values are
    collected per chunk in document order and XORed with the inner stream (one stateful
    ChaCha20, so the keystream continues across chunks) in one call per chunk."""

    def __init__(self, stream_key: bytes, compressor: Any) -> None:
        digest = hashlib.sha512(stream_key).digest()
        self.stream = Cipher(
            algorithms.ChaCha20(digest[:32], b"\x00\x00\x00\x00" + digest[32:44]), None
        ).encryptor()
        self.compressor = compressor
        self.out: list[bytes] = []
        self.parts: list[str] = []
        self.protected: list[bytes] = []
        self.slots: list[int] = []

    def flush(self) -> None:
        secret = self.stream.update(b"".join(self.protected))
        parts = self.parts
        offset = 0
        b64 = base64.b64encode
        for slot, data in zip(self.slots, self.protected, strict=True):
            end = offset + len(data)
            parts[slot] = b64(secret[offset:end]).decode("ascii")
            offset = end
        self.out.append(self.compressor.compress("".join(parts).encode("utf-8")))
        self.parts, self.protected, self.slots = [], [], []

    def finish(self) -> bytes:
        self.flush()
        self.out.append(self.compressor.flush())
        return b"".join(self.out)


_DETAILS = len(DETAIL_FIELDS)


def _entries_chunk(
    doc: _Document,
    items: Sequence[tuple[int, OfflineEntry, str]],
    uuid_key: bytes,
    now: str,
    binaries: dict[int, list[tuple[str, int]]] | None = None,
) -> None:
    """Entries escaped together: one search for characters XML cannot hold and one escape
    pass over the whole chunk (most chunks need no per-value work at all)."""
    texts: list[str] = []
    secrets: list[str] = []
    for _, entry, _ in items:
        tags = (
            ";".join(_TAG_SEPARATORS.sub(" ", name) for name in group_names(entry.folder))
            if entry.folder
            else ""
        )
        texts += (
            entry.name,
            entry.username,
            entry.url,
            entry.notes,
            tags,
            entry.host,
            entry.resource_type,
            entry.department,
            entry.location,
            entry.description,
        )
        for label, value in entry.custom_fields:
            texts += (label.strip() or "Field", value)
        secrets.append(entry.password)
        secrets.append(
            otp_uri(entry.totp_seed, name=entry.name, username=entry.username)
            if entry.totp_seed
            else ""
        )
    if _XML_INVALID.search("".join(texts)) or _XML_INVALID.search("".join(secrets)):
        texts = [_clean(text) for text in texts]
        secrets = [_clean(text) for text in secrets]
    # No value holds NUL now (it is one of the characters cleaned above).
    joined = "\x00".join(texts)
    if _XML_SPECIAL.search(joined) is not None:
        texts = _escape(joined).split("\x00")
    parts = doc.parts
    append = parts.append
    slots = doc.slots
    protected = doc.protected
    blake2b = hashlib.blake2b
    b64 = base64.b64encode
    position = 0
    for number, (index, entry, before) in enumerate(items):
        if before:
            append(before)  # the end of the previous group, the start of this one
        name, username, url, notes, tags = texts[position : position + 5]
        details = texts[position + 5 : position + 5 + _DETAILS]
        position += 5 + _DETAILS
        entry_uuid = b64(
            blake2b(
                b"entry\x00" + (entry.entry_id or f"#{index}").encode("utf-8"),
                key=uuid_key,
                digest_size=16,
            ).digest()
        ).decode("ascii")
        stamp = _time(entry.updated_at) if entry.updated_at is not None else now
        append(
            f"<Entry><UUID>{entry_uuid}</UUID><IconID>0</IconID>"
            f"{'<Tags>' + tags + '</Tags>' if tags else '<Tags/>'}"
            f"<Times><LastModificationTime>{stamp}</LastModificationTime>"
            f"<CreationTime>{stamp}</CreationTime><Expires>False</Expires></Times>"
            f"<String><Key>Title</Key><Value>{name}</Value></String>"
            f"<String><Key>UserName</Key><Value>{username}</Value></String>"
            f"<String><Key>URL</Key><Value>{url}</Value></String>"
            f"<String><Key>Notes</Key><Value>{notes}</Value></String>"
            '<String><Key>Password</Key><Value Protected="True">'
        )
        # Protected values: a slot the inner stream fills in at the chunk's end.
        slots.append(len(parts))
        append("")
        protected.append(secrets[2 * number].encode("utf-8"))
        otp = secrets[2 * number + 1]
        if otp:
            append('</Value></String><String><Key>otp</Key><Value Protected="True">')
            slots.append(len(parts))
            append("")
            protected.append(otp.encode("utf-8"))
        append("</Value></String>")
        for (label, _), value in zip(DETAIL_FIELDS, details, strict=True):
            if value:
                append(f"<String><Key>{label}</Key><Value>{value}</Value></String>")
        if entry.custom_fields:
            used = set(STANDARD_FIELDS)
            used.update(
                label for (label, _), value in zip(DETAIL_FIELDS, details, strict=True) if value
            )
            for _ in entry.custom_fields:
                key, value = texts[position], texts[position + 1]
                position += 2
                if key in used:
                    suffix = 2
                    while f"{key} ({suffix})" in used:
                        suffix += 1
                    key = f"{key} ({suffix})"
                used.add(key)
                append(f"<String><Key>{key}</Key><Value>{value}</Value></String>")
        if binaries and index in binaries:
            for binary_name, ref in binaries[index]:
                append(
                    f"<Binary><Key>{_escape(_clean(binary_name))}</Key>"
                    f'<Value Ref="{ref}"/></Binary>'
                )
        append("</Entry>")
    doc.flush()


def _group_open(uuid_text: str, name: str, now: str) -> str:
    return (
        f"<Group><UUID>{uuid_text}</UUID><Name>{_escape(name)}</Name><Notes/>"
        f"<IconID>48</IconID>{_times(now)}<IsExpanded>True</IsExpanded>"
        "<DefaultAutoTypeSequence/><EnableAutoType>null</EnableAutoType>"
        "<EnableSearching>null</EnableSearching>"
        "<LastTopVisibleEntry>AAAAAAAAAAAAAAAAAAAAAA==</LastTopVisibleEntry>"
    )


def _xml(
    *,
    doc: _Document,
    entries: Iterable[OfflineEntry],
    uuid_key: bytes,
    title: str,
    description: str,
    generated_at: datetime,
    binaries: dict[int, list[tuple[str, int]]] | None = None,
) -> None:
    now = _time(generated_at)
    doc.parts.append(
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
        "<KeePassFile><Meta><Generator>Strongroom</Generator>"
        f"<DatabaseName>{_escape(title)}</DatabaseName>"
        f"<DatabaseNameChanged>{now}</DatabaseNameChanged>"
        f"<DatabaseDescription>{_escape(description)}</DatabaseDescription>"
        f"<DatabaseDescriptionChanged>{now}</DatabaseDescriptionChanged>"
        "<DefaultUserName/><MaintenanceHistoryDays>365</MaintenanceHistoryDays><Color/>"
        f"<MasterKeyChanged>{now}</MasterKeyChanged><MasterKeyChangeRec>-1</MasterKeyChangeRec>"
        "<MasterKeyChangeForce>-1</MasterKeyChangeForce><MemoryProtection>"
        "<ProtectTitle>False</ProtectTitle><ProtectUserName>False</ProtectUserName>"
        "<ProtectPassword>True</ProtectPassword><ProtectURL>False</ProtectURL>"
        "<ProtectNotes>False</ProtectNotes></MemoryProtection>"
        "<RecycleBinEnabled>False</RecycleBinEnabled>"
        "<RecycleBinUUID>AAAAAAAAAAAAAAAAAAAAAA==</RecycleBinUUID>"
        f"<RecycleBinChanged>{now}</RecycleBinChanged>"
        "<EntryTemplatesGroup>AAAAAAAAAAAAAAAAAAAAAA==</EntryTemplatesGroup>"
        f"<EntryTemplatesGroupChanged>{now}</EntryTemplatesGroupChanged>"
        "<HistoryMaxItems>0</HistoryMaxItems><HistoryMaxSize>0</HistoryMaxSize>"
        "<LastSelectedGroup>AAAAAAAAAAAAAAAAAAAAAA==</LastSelectedGroup>"
        "<LastTopVisibleGroup>AAAAAAAAAAAAAAAAAAAAAA==</LastTopVisibleGroup>"
        "</Meta><Root>"
    )
    doc.parts.append(_group_open(_uuid(uuid_key, b"root\x00", ""), title, now))
    # One group per distinct folder text, sorted; entries without a folder sit in the
    # root, entries keep the export's order (resource name, then username) in each group.
    # Each entry carries the markup that goes before it (a group's end and the next one's
    # start), so chunks span groups: a vault of many small groups is as fast as one.
    ordered: list[tuple[int, OfflineEntry, str]] = []
    folders: dict[str, list[tuple[int, OfflineEntry]]] = {}
    for index, entry in enumerate(entries):
        if entry.folder:
            folders.setdefault(entry.folder, []).append((index, entry))
        else:
            ordered.append((index, entry, ""))
    close = ""
    for folder in sorted(folders, key=lambda text: (text.casefold(), text)):
        opening = _group_open(_uuid(uuid_key, b"group\x00", folder), _clean(folder), now)
        members = folders[folder]
        ordered.append((members[0][0], members[0][1], close + opening))
        ordered += [(index, entry, "") for index, entry in members[1:]]
        close = "</Group>"
    for start in range(0, len(ordered), CHUNK):
        _entries_chunk(doc, ordered[start : start + CHUNK], uuid_key, now, binaries)
    doc.parts.append(close)
    doc.parts.append("</Group><DeletedObjects/></Root></KeePassFile>")


# --------------------------------------------------------------------------------------
# The file


def kdbx_build(
    *,
    keys: KdbxKeys,
    entries: Sequence[OfflineEntry],
    generated_at: datetime,
    title: str,
    description: str = "",
) -> bytes:
    """One version of the copy's ``.kdbx`` file, with a fresh master seed, IV and
    inner-stream key. ``keys`` must carry the transformed key."""
    if keys.transformed_key is None:
        raise KdbxError("the copy's transformed key is needed to build its file")
    if generated_at.tzinfo is None:
        raise KdbxError("generated_at must be timezone-aware")
    transformed = keys.transformed_key
    master_seed = os.urandom(32)
    iv = os.urandom(16 if keys.cipher == CIPHER_AES256 else 12)
    stream_key = os.urandom(64)
    uuid_key = hmac.new(transformed, _UUID_LABEL, "sha256").digest()

    header = b"".join(
        [
            struct.pack("<III", SIGNATURE_1, SIGNATURE_2, FILE_VERSION),
            _header_field(_CIPHER_ID, CIPHERS[keys.cipher]),
            _header_field(_COMPRESSION, struct.pack("<I", 1)),
            _header_field(_MASTER_SEED, master_seed),
            _header_field(_IV, iv),
            _header_field(_KDF, _kdf_parameters(keys)),
            _header_field(_HEADER_END, b"\r\n\r\n"),
        ]
    )
    hmac_key = hashlib.sha512(master_seed + transformed + b"\x01").digest()
    header_hmac = hmac.new(_block_key(0xFFFFFFFFFFFFFFFF, hmac_key), header, "sha256").digest()

    # Attachments are the inner header's binaries, in entry order; an entry names each of
    # its own by position (``<Binary><Key>name</Key><Value Ref="n"/></Binary>``).
    binaries: dict[int, list[tuple[str, int]]] = {}
    binary_fields: list[bytes] = []
    for index, entry in enumerate(entries):
        for attachment in entry.attachments:
            if attachment.data is None:
                raise ValueError("a KeePass copy carries every attachment's bytes")
            binaries.setdefault(index, []).append((attachment.name, len(binary_fields)))
            binary_fields.append(_header_field(_INNER_BINARY, b"\x01" + attachment.data))
    inner_header = b"".join(
        [
            _header_field(_INNER_STREAM_ID, struct.pack("<I", _INNER_CHACHA20)),
            _header_field(_INNER_STREAM_KEY, stream_key),
            *binary_fields,
            _header_field(_INNER_END, b""),
        ]
    )
    del binary_fields
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip wrapper
    doc = _Document(stream_key, compressor)
    doc.out.append(compressor.compress(inner_header))
    _xml(
        doc=doc,
        entries=entries,
        uuid_key=uuid_key,
        title=_clean(title),
        description=_clean(description),
        generated_at=generated_at,
        binaries=binaries,
    )
    compressed = doc.finish()
    del doc
    encrypted = _encrypt(
        keys.cipher, hashlib.sha256(master_seed + transformed).digest(), iv, compressed
    )
    del compressed
    return b"".join(
        [header, hashlib.sha256(header).digest(), header_hmac, _hmac_blocks(encrypted, hmac_key)]
    )


def kdbx_header_kdf(data: bytes) -> dict[str, Any]:
    """The clear KDF parameters and cipher of a file (no passphrase needed): what a reader
    sees before opening it. Raises KdbxError on anything that is not a KDBX 4 file."""
    if len(data) < 12 or struct.unpack_from("<III", data) != (
        SIGNATURE_1,
        SIGNATURE_2,
        FILE_VERSION,
    ):
        raise KdbxError("not a KDBX 4.0 file")
    offset = 12
    found: dict[str, Any] = {}
    while True:
        if offset + 5 > len(data):
            raise KdbxError("truncated header")
        field_id, size = struct.unpack_from("<BI", data, offset)
        value = data[offset + 5 : offset + 5 + size]
        offset += 5 + size
        if field_id == _HEADER_END:
            return found
        if field_id == _CIPHER_ID:
            found["cipher"] = {v: k for k, v in CIPHERS.items()}.get(value, value.hex())
        elif field_id == _MASTER_SEED:
            found["master_seed"] = value
        elif field_id == _IV:
            found["iv"] = value
        elif field_id == _KDF:
            found.update(_variant_dict_read(value))


def _variant_dict_read(raw: bytes) -> dict[str, Any]:
    items: dict[str, Any] = {}
    offset = 2
    while raw[offset] != 0:
        kind, name_size = struct.unpack_from("<Bi", raw, offset)
        offset += 5
        name = raw[offset : offset + name_size].decode("ascii")
        offset += name_size
        (size,) = struct.unpack_from("<i", raw, offset)
        offset += 4
        value = raw[offset : offset + size]
        offset += size
        items[name] = int.from_bytes(value, "little") if kind in (0x04, 0x05) else value
    return items
