"""The encrypted offline file's keys and sealed data (the page around them, the viewer,
is ``strongroom.exports.offline_file``'s).

Pure functions: no models, no I/O. The format is specified in
``docs/offline-file-format.md`` (version 4); this module, ``exports/offline_file.py`` and
the viewer in ``exports/templates/offline_viewer/`` are its reference implementation.

In short:

* :func:`copy_keys_create` makes the long-lived keys of one offline copy: a P-256 key pair
  whose private half is wrapped (AES-256-GCM) under a key-encryption key derived from the
  passphrase (PBKDF2-HMAC-SHA256). The server keeps only :class:`CopyKeys` (public key,
  wrapped private key, salt, iterations) and can rebuild the file later without the
  passphrase; it can never read what it built.
* :func:`payload_seal` encrypts the payload segments (gzip-compressed JSON) under a
  content key from ECDH (fresh ephemeral key, the copy's public key) and the build key +
  HKDF-SHA256, with the exact header bytes as associated data and STREAM nonces.
* :func:`payload_open` is the browser-free decrypter of that data; :func:`header_parse`
  reads the clear header without the passphrase.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import operator
import os
import re
import struct
import unicodedata
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

FORMAT = "strongroom-offline"
PAYLOAD_FORMAT = "strongroom-offline-payload"
#: The file format version this code writes; it reads every version in ``READABLE_VERSIONS``.
VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
#: The copy-key version this code makes. Format 3 files use version 2 copy keys as they
#: are (a kept copy moves to format 3 without its passphrase); format 1 files, version 1.
KEY_VERSION = 2
KEY_VERSIONS = (1, 2)
#: Which copy-key version each file format carries in ``wrapped_private_key``.
KEY_VERSION_OF_FILE = {1: 1, 2: 2, 3: 2, 4: 2}
#: The least PBKDF2 work any real file gets (OWASP 2023 for PBKDF2-HMAC-SHA256).
MIN_ITERATIONS = 600_000
#: Readers refuse more than this, so an edited header cannot hang a browser for hours.
MAX_ITERATIONS = 20_000_000
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
PUBLIC_KEY_BYTES = 65  # SEC1 uncompressed point: 0x04 || X (32) || Y (32)
BUILD_KEY_BYTES = 32
#: v1 wraps the private scalar alone; v2 wraps the scalar followed by the build key.
WRAPPED_KEY_SIZES = {
    1: NONCE_BYTES + KEY_BYTES + TAG_BYTES,
    2: NONCE_BYTES + KEY_BYTES + BUILD_KEY_BYTES + TAG_BYTES,
}
WRAPPED_KEY_BYTES = WRAPPED_KEY_SIZES[KEY_VERSION]
WRAP_AAD_LABELS = {
    1: b"strongroom-offline/1 private key\x00",
    2: b"strongroom-offline/2 private key\x00",
}
HKDF_INFO_LABELS = {
    1: b"strongroom-offline/1 content key\x00",
    2: b"strongroom-offline/2 content key\x00",
    3: b"strongroom-offline/3 content key\x00",
    4: b"strongroom-offline/4 content key\x00",
}
WRAP_AAD_LABEL = WRAP_AAD_LABELS[KEY_VERSION]
HKDF_INFO_LABEL = HKDF_INFO_LABELS[VERSION]
HKDF_SALT = bytes(32)
GZIP_LEVEL = 6
#: Threads compressing and encrypting segments while the next one's JSON is written.
SEAL_THREADS = 2
MAX_TEXT = 1_000_000  # code points in one entry field (title/owner: 1,000)
MAX_TITLE = 1_000
MAX_HEADER_BYTES = 65_536
#: The most bytes one payload (version 3: one segment) may decompress to: the longest
#: string Chromium's V8 holds (2**29 - 24), so the viewer, which gunzips into one string,
#: and this reader refuse the same files; and a small gzip bomb (a version 1 file anyone
#: holding one can forge) cannot make a reader inflate gigabytes.
MAX_PAYLOAD_BYTES = (1 << 29) - 24
#: A "made" date this far ahead of the reader's clock is flagged (clock skew allowance).
FUTURE_SKEW_SECONDS = 300

#: Entry fields in payload order (``fields`` in the payload names them; see the spec).
ENTRY_FIELDS = (
    "name",
    "type",
    "host",
    "url",
    "username",
    "password",
    "notes",
    "totp",
    "folder",
    "department",
    "location",
    "updated",
)
#: Version 2 adds the resource's description and custom fields ([label, value] pairs).
ENTRY_FIELDS_V2 = (*ENTRY_FIELDS, "description", "custom")
#: Version 4 adds the account's attachments: ``[[name, size, sha256 or null], ...]``.
ENTRY_FIELDS_V4 = (*ENTRY_FIELDS_V2, "attachments")
PAYLOAD_FIELDS = {1: ENTRY_FIELDS, 2: ENTRY_FIELDS_V2, 3: ENTRY_FIELDS_V2, 4: ENTRY_FIELDS_V4}
#: Version 4 attachments (docs/offline-file-format.md §8.4): at most this many per entry, of
#: 1 byte to 100 MiB each (the vault's ceiling), names that are file names (the vault's rule).
MAX_ATTACHMENTS_PER_ENTRY = 100
MAX_ATTACHMENT_BYTES = 104_857_600
MAX_ATTACHMENT_NAME = 255
#: Bidirectional controls and zero-width marks: never in an attachment name (the vault's set).
ATTACHMENT_NAME_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
)
_SIZE_RE = re.compile(r"[1-9][0-9]{0,8}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
#: Version 3 segments the payload: segment 0 holds every entry's name (list order) and the
#: first FIRST_ROWS entries' other fields; then CHUNK_ROWS entries per chunk (the last may
#: hold fewer). Readers take any split the spec allows; these are what the builder writes.
FIRST_ROWS = 40
CHUNK_ROWS = 2_000
#: Separates the base64 of one segment from the next in the payload element (version 3).
SEGMENT_SEPARATOR = b"."
MAX_SEGMENTS = 1 << 24

_B64_RE = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEADER_KEYS = frozenset(
    {
        "format",
        "version",
        "kdf_iterations",
        "kdf_salt",
        "public_key",
        "wrapped_private_key",
        "ephemeral_public_key",
        "payload_nonce",
        "generated_at",
        "expires_at",
        "title",
        "owner",
    }
)


# --------------------------------------------------------------------------------------
# Errors


class OfflineError(Exception):
    """The file could not be opened. ``message`` is safe to show to the user."""

    code = "offline_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OfflineWrongPassphrase(OfflineError):
    """The private key did not unwrap: a wrong passphrase, or an edited key field
    (iterations, salt, public key, wrapped private key); the two cannot be told apart."""

    code = "wrong_passphrase"


class OfflineFileDamaged(OfflineError):
    """The key unwrapped but the payload failed authentication, or the file is malformed:
    the file was damaged or edited after it was built."""

    code = "damaged"


class OfflineFormatUnsupported(OfflineError):
    """Not a Strongroom offline file, or a format version this code does not know."""

    code = "unsupported"


class OfflineViewerForeign(OfflineError):
    """The page around the header and payload is not a released Strongroom viewer: its
    script may do anything with a passphrase typed into it."""

    code = "foreign_viewer"


# --------------------------------------------------------------------------------------
# Data types


@dataclass(frozen=True)
class CopyKeys:
    """The keys of one offline copy.

    ``public_key`` is the SEC1 uncompressed P-256 point (65 bytes); ``wrapped_private_key``
    is ``nonce (12) || AES-256-GCM(private scalar (32) [|| build key (32) in v2]) || tag``.
    ``build_key`` (version 2 only) is the secret that producing a payload which
    authenticates requires: the server keeps it sealed at rest, never in ``to_dict()``
    (the public part, safe to store as plain JSON). A version 1 key set has none and can
    no longer build files: its owner must set the passphrase again.
    """

    public_key: bytes
    wrapped_private_key: bytes
    salt: bytes
    iterations: int
    version: int = KEY_VERSION
    build_key: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version not in KEY_VERSIONS or type(self.version) is not int:
            raise OfflineFormatUnsupported(f"unknown offline key version {self.version}")
        if len(self.public_key) != PUBLIC_KEY_BYTES or self.public_key[0] != 4:
            raise ValueError("public_key must be a 65-byte uncompressed P-256 point")
        size = WRAPPED_KEY_SIZES[self.version]
        if len(self.wrapped_private_key) != size:
            raise ValueError(f"wrapped_private_key must be {size} bytes")
        if len(self.salt) != SALT_BYTES:
            raise ValueError(f"salt must be {SALT_BYTES} bytes")
        if not isinstance(self.iterations, int) or not 1 <= self.iterations <= MAX_ITERATIONS:
            raise ValueError(f"iterations must be 1..{MAX_ITERATIONS}")
        if self.build_key is not None and (
            self.version < 2 or len(self.build_key) != BUILD_KEY_BYTES
        ):
            raise ValueError(f"build_key must be {BUILD_KEY_BYTES} bytes (version 2 keys only)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready public form for storage (bytes as standard base64); never the build
        key, which the caller seals separately."""
        return {
            "version": self.version,
            "public_key": _b64(self.public_key),
            "wrapped_private_key": _b64(self.wrapped_private_key),
            "salt": _b64(self.salt),
            "iterations": self.iterations,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, build_key: bytes | None = None) -> CopyKeys:
        return cls(
            version=int(data["version"]),
            public_key=_unb64(data["public_key"]),
            wrapped_private_key=_unb64(data["wrapped_private_key"]),
            salt=_unb64(data["salt"]),
            iterations=int(data["iterations"]),
            build_key=build_key,
        )

    @property
    def can_build(self) -> bool:
        """Whether files can be built from these keys (version 2 with its build key)."""
        return self.version == KEY_VERSION and self.build_key is not None

    @property
    def fingerprint(self) -> str:
        """A short non-secret name for this key pair (first 16 hex of SHA-256(public))."""
        return hashlib.sha256(self.public_key).hexdigest()[:16]


@dataclass(frozen=True)
class OfflineAttachment:
    """A file attached to an account: its name (a file name, never a path), its bytes and
    size. ``data`` is None for a file an HTML copy lists but does not carry (larger than the
    export policy's cap, format version 4); ``size`` is then required, and otherwise
    defaults to ``len(data)``."""

    name: str
    data: bytes | None = field(repr=False)
    size: int = -1

    def __post_init__(self) -> None:
        if self.size == -1:
            if self.data is None:
                raise ValueError("an attachment without its data needs its size")
            object.__setattr__(self, "size", len(self.data))
        elif self.data is not None and len(self.data) != self.size:
            raise ValueError("an attachment's size must be its data's length")

    @property
    def included(self) -> bool:
        """Whether the file's bytes are here (an HTML copy may list a file it left out)."""
        return self.data is not None

    @property
    def sha256(self) -> str | None:
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()


def attachment_name_valid(name: Any) -> bool:
    """The vault's rule for attachment names (docs/attachments.md), which readers of format
    4 apply too (the viewer in the same words): 1-255 code points and at most 255 bytes of
    UTF-8, valid Unicode, not ``.`` or ``..``, no ``/`` or ``\\``, no control character
    (category Cc) or bidirectional / zero-width mark anywhere, and no white space (category
    Zs, Zl or Zp) first or last. Markup, formulas and emoji are ordinary text."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_ATTACHMENT_NAME:
        return False
    try:
        if len(name.encode("utf-8")) > MAX_ATTACHMENT_NAME:
            return False
    except UnicodeEncodeError:
        return False
    if name in (".", "..") or "/" in name or "\\" in name:
        return False
    if unicodedata.category(name[0]) in _SPACES or unicodedata.category(name[-1]) in _SPACES:
        return False
    return not any(unicodedata.category(c) == "Cc" or c in ATTACHMENT_NAME_INVISIBLE for c in name)


_SPACES = frozenset({"Zs", "Zl", "Zp"})


@dataclass(frozen=True)
class OfflineEntry:
    """One account as it appears in an offline copy. Every text field is a plain string
    ("" when empty) and round-trips exactly, whatever it contains.

    ``name``, ``resource_type``, ``host``, ``url``, ``department``, ``location``,
    ``description``, ``custom_fields`` (label, value pairs): the resource's. ``username``,
    ``password``, ``notes``: the account's. ``totp_seed``: the stored seed (base32 secret
    or ``otpauth://totp/`` URI) or ``None``. ``folder``: the resource group path,
    "/"-separated ("" for none). ``updated_at``: when the account or its resource last
    changed (timezone-aware) or ``None``. Version 1 files carry no description or custom
    fields (they open with both empty).
    """

    name: str
    username: str
    password: str
    resource_type: str = ""
    host: str = ""
    url: str = ""
    notes: str = ""
    totp_seed: str | None = None
    folder: str = ""
    department: str = ""
    location: str = ""
    updated_at: datetime | None = None
    description: str = ""
    custom_fields: tuple[tuple[str, str], ...] = ()
    #: The account's ID: only the KeePass writer (``crypto.kdbx``) uses it, to derive a
    #: stable entry UUID; the HTML file ignores it (and equality does too).
    entry_id: str = field(default="", compare=False)
    #: The account's attachments: KeePass copies carry them as KDBX binaries, HTML copies
    #: (format 4) in their own payload segments, or listed only (``data`` None) when the
    #: export policy's cap left them out. Equality ignores them.
    attachments: tuple[OfflineAttachment, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class OfflinePayload:
    """An opened offline file: its authenticated header and every entry.

    ``authenticated`` is False for version 1 files: they decrypt, but anyone holding one
    file of the copy could have built them (see the format's threat model)."""

    version: int
    generated_at: datetime
    expires_at: datetime | None
    title: str
    owner: str
    iterations: int
    entries: list[OfflineEntry] = field(repr=False)

    @property
    def authenticated(self) -> bool:
        return self.version >= 2

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at

    def is_from_the_future(self, now: datetime | None = None) -> bool:
        """A "made" date ahead of this clock by more than the skew allowance."""
        moment = now or datetime.now(UTC)
        return (self.generated_at - moment).total_seconds() > FUTURE_SKEW_SECONDS


# --------------------------------------------------------------------------------------
# Keys


def copy_keys_create(
    *, passphrase: str, iterations: int, minimum_iterations: int = MIN_ITERATIONS
) -> CopyKeys:
    """Fresh version 2 keys for one offline copy: a P-256 key pair and a build key, both
    wrapped under the passphrase; the returned object also holds the build key in clear
    for the caller to seal (or use once and forget).

    ``minimum_iterations`` is what the export policy demands (never below 600,000 in
    production); only tests pass a smaller value, to keep the KDF cheap.
    """
    _check_iterations(iterations, minimum_iterations)
    if not passphrase:
        raise ValueError("the passphrase must not be empty")
    salt = os.urandom(SALT_BYTES)
    private = ec.generate_private_key(ec.SECP256R1())
    public = _public_bytes(private.public_key())
    scalar = private.private_numbers().private_value.to_bytes(KEY_BYTES, "big")
    build_key = os.urandom(BUILD_KEY_BYTES)
    kek = _kek(passphrase, salt, iterations)
    nonce = os.urandom(NONCE_BYTES)
    aad = _wrap_aad(KEY_VERSION, iterations, salt, public)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, scalar + build_key, aad)
    return CopyKeys(
        public_key=public,
        wrapped_private_key=wrapped,
        salt=salt,
        iterations=iterations,
        build_key=build_key,
    )


def copy_keys_verify(*, copy_keys: CopyKeys, passphrase: str) -> None:
    """Raise :class:`OfflineWrongPassphrase` unless ``passphrase`` unwraps these keys."""
    _unwrap_private_key(
        version=copy_keys.version,
        passphrase=passphrase,
        iterations=copy_keys.iterations,
        salt=copy_keys.salt,
        public=copy_keys.public_key,
        wrapped=copy_keys.wrapped_private_key,
    )


def _check_iterations(iterations: int, minimum_iterations: int) -> None:
    if not isinstance(iterations, int) or isinstance(iterations, bool):
        raise TypeError("iterations must be an int")
    if minimum_iterations < 1:
        raise ValueError("minimum_iterations must be at least 1")
    if iterations < minimum_iterations:
        raise ValueError(
            f"PBKDF2 iterations {iterations:,} are below the minimum of {minimum_iterations:,}"
        )
    if iterations > MAX_ITERATIONS:
        raise ValueError(f"PBKDF2 iterations above {MAX_ITERATIONS:,} are not supported")


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _kek(passphrase: str, salt: bytes, iterations: int) -> bytes:
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=iterations
    ).derive(secret)


def _wrap_aad(version: int, iterations: int, salt: bytes, public: bytes) -> bytes:
    return WRAP_AAD_LABELS[version] + struct.pack(">I", iterations) + salt + public


def _unwrap_private_key(
    *, version: int, passphrase: str, iterations: int, salt: bytes, public: bytes, wrapped: bytes
) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """The copy's private key and (version 2) build key; ``b""`` as build key in v1."""
    kek = _kek(passphrase, salt, iterations)
    try:
        opened = AESGCM(kek).decrypt(
            wrapped[:NONCE_BYTES],
            wrapped[NONCE_BYTES:],
            _wrap_aad(version, iterations, salt, public),
        )
    except InvalidTag:
        raise OfflineWrongPassphrase(
            "wrong passphrase, or the file's key fields were edited"
        ) from None
    scalar, build_key = opened[:KEY_BYTES], opened[KEY_BYTES:]
    try:
        private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except ValueError:
        raise OfflineFileDamaged("the file is damaged or was edited (bad private key)") from None
    if _public_bytes(private.public_key()) != public:
        raise OfflineFileDamaged("the file is damaged or was edited (key pair mismatch)")
    return private, build_key


def _content_key(
    version: int, shared: bytes, build_key: bytes, ephemeral_public: bytes, copy_public: bytes
) -> bytes:
    # v2: the build key joins the ECDH secret, so a payload that authenticates needs it,
    # not just the public key every file shows.
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=HKDF_SALT,
        info=HKDF_INFO_LABELS[version] + ephemeral_public + copy_public,
    ).derive(shared + build_key)


# --------------------------------------------------------------------------------------
# Building


def payload_seal(
    *,
    copy_keys: CopyKeys,
    entries: list[OfflineEntry],
    generated_at: datetime,
    expires_at: datetime | None,
    title: str,
    owner: str,
    minimum_iterations: int = MIN_ITERATIONS,
) -> tuple[bytes, bytes]:
    """The sealed data of one offline file: the canonical header bytes and the payload
    element's text (format 4: base64 segments joined by "."), readable only with the
    passphrase the ``copy_keys`` were created with. Needs the copy's public key and build
    key, never the passphrase or private key. Entries keep the order given. The page
    around them is ``exports.offline_file``'s."""
    _check_iterations(copy_keys.iterations, minimum_iterations)
    if not copy_keys.can_build or copy_keys.build_key is None:
        raise OfflineFormatUnsupported(
            "these copy keys are version 1 (or lack their build key) and can no longer "
            "build files: set the copy's passphrase again"
        )
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kdf_iterations": copy_keys.iterations,
        "kdf_salt": _b64(copy_keys.salt),
        "public_key": _b64(copy_keys.public_key),
        "wrapped_private_key": _b64(copy_keys.wrapped_private_key),
        "generated_at": _iso(generated_at, "generated_at"),
        "expires_at": None if expires_at is None else _iso(expires_at, "expires_at"),
        "title": _text(title, "title", MAX_TITLE),
        "owner": _text(owner, "owner", MAX_TITLE),
    }
    copy_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), copy_keys.public_key)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    ephemeral_public = _public_bytes(ephemeral.public_key())
    nonce = os.urandom(NONCE_BYTES)
    header["ephemeral_public_key"] = _b64(ephemeral_public)
    header["payload_nonce"] = _b64(nonce)
    header_bytes = header_serialise(header)

    shared = ephemeral.exchange(ec.ECDH(), copy_public)
    key = _content_key(VERSION, shared, copy_keys.build_key, ephemeral_public, copy_keys.public_key)
    aead = AESGCM(key)
    documents = _payload_documents(entries)
    last = len(documents) - 1

    def seal_segment(index: int, text: bytes) -> bytes:
        return base64.b64encode(
            aead.encrypt(
                segment_nonce(nonce, index, last=index == last),
                gzip.compress(text, compresslevel=GZIP_LEVEL, mtime=0),
                header_bytes,
            )
        )

    # Compression (zlib lets go of the GIL) runs on another core while this thread writes
    # the next segment's JSON: the same bytes as one after the other, in less time.
    with ThreadPoolExecutor(max_workers=SEAL_THREADS) as pool:
        pending = [
            pool.submit(seal_segment, index, _segment_json(document, entries))
            for index, document in enumerate(documents)
        ]
        sealed = [segment.result() for segment in pending]
    return header_bytes, SEGMENT_SEPARATOR.join(sealed)


def segment_nonce(nonce: bytes, index: int, *, last: bool) -> bytes:
    """Segment ``index``'s AES-GCM nonce (format 3, STREAM construction): the header's
    12-byte ``payload_nonce`` XOR (7 zero bytes || uint32-be index || 0x01 if it is the
    last segment else 0x00). The content key is fresh per file (fresh ephemeral key), so
    every (key, nonce) pair is used once; a segment decrypts only at its own position with
    its own last flag, in its own file."""
    if not 0 <= index < MAX_SEGMENTS:
        raise ValueError("segment index out of range")
    mask = bytes(7) + struct.pack(">I", index) + (b"\x01" if last else b"\x00")
    return bytes(a ^ b for a, b in zip(nonce, mask, strict=True))


def header_serialise(header: dict[str, Any]) -> bytes:
    """The canonical header bytes: JSON, keys sorted, no spaces, ASCII only, and ``<``,
    ``>``, ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (so the text can sit
    verbatim inside a ``<script>`` element). Readers require the header to be exactly
    this serialisation of what it parses to, and authenticate the exact bytes found."""
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("ascii")


_TEXT_ATTRS = (
    "name",
    "resource_type",
    "host",
    "url",
    "username",
    "password",
    "notes",
    "folder",
    "department",
    "location",
    "description",
)
_ROW = operator.attrgetter(
    "name",
    "resource_type",
    "host",
    "url",
    "username",
    "password",
    "notes",
    "totp_seed",
    "folder",
    "department",
    "location",
    "updated_at",
    "description",
    "custom_fields",
)
_TOTP_COLUMN, _UPDATED_COLUMN, _CUSTOM_COLUMN = 7, 11, 13
_TEXT_COLUMNS = (0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 12)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _payload_rows(entries: list[OfflineEntry]) -> list[list[Any]]:
    """Every entry as its payload row (the 14 values of ``ENTRY_FIELDS_V2``), checked with
    C-speed passes over all values (100,000 entries build in a couple of seconds); only
    when a check fails is the offending entry found one by one, to name it in the error."""
    if not all(type(entry) is OfflineEntry for entry in entries):
        _entries_check(entries)
    rows = [list(_ROW(entry)) for entry in entries]
    texts = [row[i] for row in rows for i in _TEXT_COLUMNS]
    seeds = [row[_TOTP_COLUMN] for row in rows if row[_TOTP_COLUMN] is not None]
    customs = [pair for row in rows for pair in row[_CUSTOM_COLUMN]]
    custom_texts = [text for pair in customs for text in pair]
    if (
        set(map(type, texts)) - {str}
        or set(map(type, seeds)) - {str}
        or set(map(type, custom_texts)) - {str}
        or any(len(pair) != 2 for pair in customs)
        or max(map(len, texts), default=0) > MAX_TEXT
        or max(map(len, seeds), default=0) > MAX_TEXT
        or max(map(len, custom_texts), default=0) > MAX_TEXT
    ):
        _entries_check(entries)
    # Custom fields stay tuples of pairs: JSON writes them as arrays of arrays as they are.
    for row in rows:
        moment = row[_UPDATED_COLUMN]
        if moment is None:
            continue
        if type(moment) is datetime and moment.tzinfo is UTC:
            # The common case (exports read UTC times) without _iso's checks and conversion.
            row[_UPDATED_COLUMN] = moment.isoformat()[:19] + "Z"
        else:
            row[_UPDATED_COLUMN] = _iso(moment, "updated_at")
    return rows


def _payload_documents(entries: list[OfflineEntry]) -> list[Any]:
    """The version 4 segments before JSON (no objects, so no key can appear twice): segment
    0 ``[format, 4, fields, names, rows]`` with every entry's name in list order and the
    first ``FIRST_ROWS`` entries' other 14 values; then ``[rows]`` of ``CHUNK_ROWS``
    entries each (the rows never repeat the name); then one segment per attachment the
    copy carries, ``[position, name, base64]``, in the order the rows list them."""
    rows = _payload_rows(entries)
    names = [row[0] for row in rows]
    carried: list[list[str]] = []
    for position, (row, entry) in enumerate(zip(rows, entries, strict=True)):
        del row[0]
        row.append(_attachment_list(entry, position, carried))
    groups = [rows[:FIRST_ROWS]] + [
        rows[start : start + CHUNK_ROWS] for start in range(FIRST_ROWS, len(rows), CHUNK_ROWS)
    ]
    documents: list[Any] = [[PAYLOAD_FORMAT, VERSION, list(ENTRY_FIELDS_V4), names, groups[0]]]
    documents += groups[1:]
    documents += carried
    return documents


def _attachment_list(
    entry: OfflineEntry, position: int, carried: list[list[str]]
) -> list[list[str | None]]:
    """One entry's ``attachments`` value, ``[[name, size, sha256 or null], ...]``; each file
    whose bytes the copy carries is added to ``carried`` as its segment's document."""
    files = entry.attachments
    if not isinstance(files, tuple | list) or len(files) > MAX_ATTACHMENTS_PER_ENTRY:
        raise ValueError(
            f"entry {position} attachments: at most {MAX_ATTACHMENTS_PER_ENTRY} per entry"
        )
    listed: list[list[str | None]] = []
    seen: set[str] = set()
    for item in files:
        if not isinstance(item, OfflineAttachment):
            raise TypeError(f"entry {position} attachments must be OfflineAttachment")
        if not attachment_name_valid(item.name):
            raise ValueError(f"entry {position} attachment name is not a file name")
        if item.name in seen:
            raise ValueError(f"entry {position} has two attachments named alike")
        seen.add(item.name)
        if type(item.size) is not int or not 1 <= item.size <= MAX_ATTACHMENT_BYTES:
            raise ValueError(f"entry {position} attachment size must be 1..{MAX_ATTACHMENT_BYTES}")
        listed.append([item.name, str(item.size), item.sha256])
        if item.data is not None:
            carried.append([str(position), item.name, _b64(item.data)])
    return listed


def _segment_json(document: Any, entries: list[OfflineEntry]) -> bytes:
    """One segment's JSON, ASCII with \\u escapes: the same JSON to every reader, and
    Python keeps one byte per character instead of four as soon as one emoji appears (a
    third less peak memory)."""
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    if _has_lone_surrogate(text):
        # Not Unicode text. (A value holding the six characters "\\ud800" looks the same
        # here; the exact check then finds nothing wrong.)
        _entries_check(entries)
    return text.encode("ascii")


def _has_lone_surrogate(text: str) -> bool:
    """Whether ASCII JSON holds a surrogate escape that is not half of a pair."""
    pending_high = -1  # end of a high-surrogate escape still waiting for its low half
    for found in _SURROGATE_ESCAPE.finditer(text):
        high = found.group()[3] in "89abAB"
        if pending_high >= 0 and (high or found.start() != pending_high):
            return True
        if high:
            pending_high = found.end()
        elif pending_high < 0:
            return True
        else:
            pending_high = -1
    return pending_high >= 0


def _entries_check(entries: list[OfflineEntry]) -> None:
    """Name the first bad value (slow; only runs once a fast check found a problem)."""
    for index, entry in enumerate(entries):
        if not isinstance(entry, OfflineEntry):
            raise TypeError(f"entry {index} is not an OfflineEntry")
        for attr in _TEXT_ATTRS:
            _text(getattr(entry, attr), f"entry {index} {attr}")
        if entry.totp_seed is not None:
            _text(entry.totp_seed, f"entry {index} totp_seed")
        if entry.updated_at is not None:
            _iso(entry.updated_at, f"entry {index} updated_at")
        if not isinstance(entry.custom_fields, tuple | list):
            raise TypeError(f"entry {index} custom_fields must be (label, value) pairs")
        for pair in entry.custom_fields:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise TypeError(f"entry {index} custom_fields must be (label, value) pairs")
            _text(pair[0], f"entry {index} custom field label")
            _text(pair[1], f"entry {index} custom field value")


def _text(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str")
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit:,} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} contains a lone surrogate (not valid Unicode text)") from None
    return value


def _iso(moment: datetime, what: str) -> str:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime")
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{what} must be timezone-aware")
    if offset:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def _damaged(what: str) -> OfflineFileDamaged:
    return OfflineFileDamaged(f"the file is damaged or was edited ({what})")


_ISO_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def _parse_iso(text: Any, what: str) -> datetime:
    if not isinstance(text, str) or not _ISO_RE.fullmatch(text):
        raise _damaged(f"bad {what}")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _damaged(f"bad {what}") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    """Strict standard base64: padded, no whitespace, canonical (the unused low bits of
    the last symbol zero, i.e. re-encoding gives the same text)."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("expected base64 text") from None
    if not isinstance(text, bytes | bytearray) or _B64_RE.fullmatch(text) is None:
        raise ValueError("expected base64 text")
    data = base64.b64decode(text, validate=True)
    if base64.b64encode(data) != text:
        raise ValueError("non-canonical base64")
    return data


# --------------------------------------------------------------------------------------
# Opening: one strict parser (the viewer applies the same rules; docs/offline-file-format.md)


def _not_json(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (Python accepts them)."""
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class _Fields:
    version: int
    iterations: int
    salt: bytes
    public: bytes
    wrapped: bytes
    ephemeral: bytes
    nonce: bytes
    generated_at: datetime
    expires_at: datetime | None
    title: str
    owner: str


def _fields(header: dict[str, Any]) -> _Fields:
    version = header["version"]
    if set(header) != _HEADER_KEYS:
        raise _damaged("header fields")
    iterations = header["kdf_iterations"]
    if type(iterations) is not int or not 1 <= iterations <= MAX_ITERATIONS:
        raise _damaged("bad iteration count")
    try:
        salt = _unb64(header["kdf_salt"])
        public = _unb64(header["public_key"])
        wrapped = _unb64(header["wrapped_private_key"])
        ephemeral = _unb64(header["ephemeral_public_key"])
        nonce = _unb64(header["payload_nonce"])
    except (ValueError, binascii.Error):
        raise _damaged("bad header field") from None
    sizes = (
        (salt, SALT_BYTES),
        (public, PUBLIC_KEY_BYTES),
        (wrapped, WRAPPED_KEY_SIZES[KEY_VERSION_OF_FILE[version]]),
        (ephemeral, PUBLIC_KEY_BYTES),
        (nonce, NONCE_BYTES),
    )
    if any(len(value) != size for value, size in sizes):
        raise _damaged("bad field length")
    title, owner = header["title"], header["owner"]
    if (
        not isinstance(title, str)
        or not isinstance(owner, str)
        or len(title) > MAX_TITLE
        or len(owner) > MAX_TITLE
        or not _well_formed(title)
        or not _well_formed(owner)
    ):
        raise _damaged("bad title or owner")
    expires = header["expires_at"]
    return _Fields(
        version=version,
        iterations=iterations,
        salt=salt,
        public=public,
        wrapped=wrapped,
        ephemeral=ephemeral,
        nonce=nonce,
        generated_at=_parse_iso(header["generated_at"], "generated_at"),
        expires_at=None if expires is None else _parse_iso(expires, "expires_at"),
        title=title,
        owner=owner,
    )


def header_parse(header_bytes: bytes) -> dict[str, Any]:
    """The header from its exact bytes (not yet authenticated): printable ASCII, a JSON
    object in its one canonical form, this format, a version this code reads."""
    if (
        not 1 <= len(header_bytes) <= MAX_HEADER_BYTES
        or re.fullmatch(rb"[\x20-\x7e]*", header_bytes) is None
    ):
        raise _damaged("bad header")
    try:
        header = json.loads(header_bytes.decode("ascii"), parse_constant=_not_json)
    except ValueError:
        raise _damaged("bad header") from None
    if not isinstance(header, dict):
        raise _damaged("bad header")
    try:
        canonical = header_serialise(header)
    except (TypeError, ValueError):
        raise _damaged("bad header") from None
    if canonical != header_bytes:
        raise _damaged("the header is not in its one canonical form")
    if header.get("format") != FORMAT:
        raise OfflineFormatUnsupported("this is not a Strongroom offline file")
    version = header.get("version")
    if type(version) is not int:
        raise _damaged("bad format version")
    if version not in READABLE_VERSIONS:
        raise OfflineFormatUnsupported(
            f"this offline file has format version {version}; this Strongroom reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))} (a newer Strongroom made it)"
        )
    return header


def payload_open(*, header_bytes: bytes, payload_text: bytes, passphrase: str) -> OfflinePayload:
    """Decrypt and verify an offline file's data: the header element's exact bytes and the
    payload element's text. Raises :class:`OfflineWrongPassphrase`,
    :class:`OfflineFileDamaged` or :class:`OfflineFormatUnsupported`; returns nothing
    unless every byte of header and payload authenticated."""
    header = header_parse(header_bytes)
    fields = _fields(header)
    # Version 3: base64 segments separated by "."; before: one base64 text.
    texts = payload_text.split(SEGMENT_SEPARATOR) if fields.version >= 3 else [payload_text]
    if len(texts) > MAX_SEGMENTS:
        raise _damaged("too many payload segments")
    # Segment 0 is judged before the passphrase, the others after it, one by one in order
    # (as the viewer does: a wrong passphrase is reported as such whatever follows).
    first_ciphertext = _segment_bytes(texts[0])

    private, build_key = _unwrap_private_key(
        version=KEY_VERSION_OF_FILE[fields.version],
        passphrase=passphrase,
        iterations=fields.iterations,
        salt=fields.salt,
        public=fields.public,
        wrapped=fields.wrapped,
    )
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), fields.ephemeral)
    except ValueError:
        raise _damaged("bad ephemeral key") from None
    shared = private.exchange(ec.ECDH(), ephemeral)
    key = _content_key(fields.version, shared, build_key, fields.ephemeral, fields.public)
    aead = AESGCM(key)
    last = len(texts) - 1
    plaintexts = []
    for index, text in enumerate(texts):
        ciphertext = first_ciphertext if index == 0 else _segment_bytes(text)
        nonce = (
            segment_nonce(fields.nonce, index, last=index == last)
            if fields.version >= 3
            else fields.nonce
        )
        try:
            plaintexts.append(aead.decrypt(nonce, ciphertext, header_bytes))
        except InvalidTag:
            # Also a segment moved, repeated, dropped, cut off or taken from another file.
            raise OfflineFileDamaged(
                "the file is damaged or was edited: its contents failed the integrity check"
            ) from None
    if fields.version >= 3:
        entries = _entries_from_segments(plaintexts, fields.version)
    else:
        entries = _entries_from_payload(plaintexts[0], fields.version)
    return OfflinePayload(
        version=fields.version,
        generated_at=fields.generated_at,
        expires_at=fields.expires_at,
        title=fields.title,
        owner=fields.owner,
        iterations=fields.iterations,
        entries=entries,
    )


def _segment_bytes(text: bytes) -> bytes:
    try:
        ciphertext = _unb64(text)
    except (ValueError, binascii.Error):
        raise _damaged("bad payload") from None
    if len(ciphertext) < TAG_BYTES:
        raise _damaged("payload too short")
    return ciphertext


def _gunzip_one_member(data: bytes) -> bytes:
    """Exactly one gzip member and nothing after it, at most MAX_PAYLOAD_BYTES long."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_PAYLOAD_BYTES + 1)
    except zlib.error:
        raise _damaged("its payload does not decode") from None
    if len(out) > MAX_PAYLOAD_BYTES:
        raise _damaged(f"its payload decompresses to more than {MAX_PAYLOAD_BYTES:,} bytes")
    if not inflater.eof or inflater.unused_data:
        raise _damaged("its payload has data after the compressed stream")
    return out


_V1_KEYS = (b'"format":', b'"version":', b'"fields":', b'"entries":')
_V2_PREFIX = b'["' + PAYLOAD_FORMAT.encode() + b'",2,'


def _entries_from_payload(plaintext: bytes, version: int) -> list[OfflineEntry]:
    # Authenticated already (v2), so a failure here is a builder bug or an edited v1
    # file; still never hand out part of it.
    raw = _gunzip_one_member(plaintext)
    if not raw.isascii():
        raise _damaged("its payload is not ASCII JSON")
    try:
        # Decoded first: json.loads(bytes) would guess UTF-16 from NUL bytes.
        document = json.loads(raw.decode("ascii"), parse_constant=_not_json)
    except ValueError:
        raise _damaged("its payload does not decode") from None
    # The format and version are judged by their exact text too, so every reader (whose
    # JSON parser may turn 2.0 into 2) answers alike.
    if version == 2 and not raw.startswith(_V2_PREFIX):
        raise _damaged("payload layout")
    if version == 1:
        # Rows hold no objects, so each key's text appears once unless a key is repeated.
        if any(raw.count(key) != 1 for key in _V1_KEYS):
            raise _damaged("payload layout")
        after = raw.index(b'"version":') + len(b'"version":')
        if raw[after : after + 2] not in (b"1,", b"1}"):
            raise _damaged("payload layout")
        if (
            not isinstance(document, dict)
            or set(document) != {"format", "version", "fields", "entries"}
            or document["format"] != PAYLOAD_FORMAT
            or type(document["version"]) is not int
            or document["version"] != 1
        ):
            raise _damaged("payload layout")
        names, rows = document["fields"], document["entries"]
    else:
        if (
            not isinstance(document, list)
            or len(document) != 4
            or document[0] != PAYLOAD_FORMAT
            or type(document[1]) is not int
            or document[1] != version
        ):
            raise _damaged("payload layout")
        names, rows = document[2], document[3]
    if names != list(PAYLOAD_FIELDS[version]) or not isinstance(rows, list):
        raise _damaged("payload fields")
    entries = _rows_entries(rows, version)
    if _has_lone_surrogate(raw.decode("ascii")):
        _lone_surrogate_check(entries)
    return entries


_SEGMENT_PREFIXES = {v: b'["' + PAYLOAD_FORMAT.encode() + b'",%d,' % v for v in (3, 4)}


def _segment_document(plaintext: bytes, prefix: bytes = b"") -> tuple[Any, bool]:
    """One segment's JSON and whether its text may hold a lone surrogate."""
    raw = _gunzip_one_member(plaintext)
    # The format and version are judged by their exact text (see version 2).
    if not raw.startswith(prefix):
        raise _damaged("payload layout")
    if not raw.isascii():
        raise _damaged("its payload is not ASCII JSON")
    text = raw.decode("ascii")
    try:
        document = json.loads(text, parse_constant=_not_json)
    except ValueError:
        raise _damaged("its payload does not decode") from None
    return document, _has_lone_surrogate(text)


def _entries_from_segments(plaintexts: list[bytes], version: int) -> list[OfflineEntry]:
    """Versions 3 and 4: segment 0 ``[format, version, fields, names, rows]``, then
    ``[rows]`` per segment; every row holds the values after the name (13, version 4: 14).
    Every row segment after the first holds at least one row, and the rows add up to
    exactly one per name. Version 4: then one segment per carried attachment (§8.4)."""
    fields = PAYLOAD_FIELDS[version]
    document, surrogate = _segment_document(plaintexts[0], _SEGMENT_PREFIXES[version])
    if (
        not isinstance(document, list)
        or len(document) != 5
        or document[0] != PAYLOAD_FORMAT
        or type(document[1]) is not int
        or document[1] != version
        or document[2] != list(fields)
        or not isinstance(document[3], list)
        or not isinstance(document[4], list)
    ):
        raise _damaged("payload layout")
    names: list[Any] = document[3]
    groups: list[Any] = [document[4]]
    count = len(document[4])
    later = 1
    # Row segments until there is one row per name; in version 4 what follows is the
    # attachments' (a row segment that would overshoot is damage, as in version 3).
    while later < len(plaintexts) and (version == 3 or count < len(names)):
        rows, lone = _segment_document(plaintexts[later])
        if not isinstance(rows, list) or not rows:
            raise _damaged("payload segment")
        groups.append(rows)
        count += len(rows)
        surrogate = surrogate or lone
        later += 1
    if count != len(names):
        raise _damaged("payload segments do not hold one row per name")
    full: list[Any] = []
    position = 0
    for rows in groups:
        for row in rows:
            if not isinstance(row, list) or len(row) != len(fields) - 1:
                raise _damaged("payload row")
            full.append([names[position], *row])
            position += 1
    entries = _rows_entries(full, version)
    if surrogate:
        _lone_surrogate_check(entries)
    if version >= 4:
        entries = _attachments_fill(entries, plaintexts[later:])
    return entries


def _attachment_descriptors(value: Any) -> tuple[OfflineAttachment, ...]:
    """A version 4 row's ``attachments``: ``[[name, size, sha256 or null], ...]``, each name
    a file name (the vault's rule), unique in the row, each size the decimal text of 1 …
    MAX_ATTACHMENT_BYTES, each digest 64 lower-case hex digits or null (not carried). The
    carried ones come back with ``data`` still None: their segments fill it in."""
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS_PER_ENTRY:
        raise _damaged("payload attachments")
    found: list[OfflineAttachment] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, list) or len(item) != 3:
            raise _damaged("payload attachment")
        name, size, digest = item
        if not attachment_name_valid(name) or name in seen:
            raise _damaged("an attachment name that is not a file name")
        seen.add(name)
        if (
            not isinstance(size, str)
            or _SIZE_RE.fullmatch(size) is None
            or int(size) > MAX_ATTACHMENT_BYTES
        ):
            raise _damaged("an attachment size")
        if digest is not None and (
            not isinstance(digest, str) or _SHA256_RE.fullmatch(digest) is None
        ):
            raise _damaged("an attachment digest")
        found.append(_Listed(name=name, data=None, size=int(size), digest=digest))
    return tuple(found)


@dataclass(frozen=True)
class _Listed(OfflineAttachment):
    """An attachment as its row lists it, before its segment (if carried) is read."""

    digest: str | None = None


def _attachments_fill(entries: list[OfflineEntry], plaintexts: list[bytes]) -> list[OfflineEntry]:
    """Version 4: each carried attachment's segment ``[position, name, base64]``, in the
    order the rows list them: the position (decimal text) and name must be the listing
    row's, the base64 strict and of exactly the listed size, its SHA-256 the listed one.
    One segment per carried attachment, no more, no fewer."""
    wanted = [
        (position, index, item)
        for position, entry in enumerate(entries)
        for index, item in enumerate(entry.attachments)
        if isinstance(item, _Listed) and item.digest is not None
    ]
    if len(plaintexts) != len(wanted):
        raise _damaged("attachment segments do not match the attachments listed")
    filled: dict[int, list[OfflineAttachment]] = {}
    for (position, index, item), plaintext in zip(wanted, plaintexts, strict=True):
        document, _ = _segment_document(plaintext)
        if (
            not isinstance(document, list)
            or len(document) != 3
            or document[0] != str(position)
            or document[1] != item.name
            or not isinstance(document[2], str)
        ):
            raise _damaged("an attachment segment that is not its row's")
        try:
            data = _unb64(document[2])
        except (ValueError, binascii.Error):
            raise _damaged("an attachment's base64") from None
        if len(data) != item.size:
            raise _damaged("an attachment whose size is not the listed size")
        if hashlib.sha256(data).hexdigest() != item.digest:
            raise _damaged("an attachment whose SHA-256 is not the listed one")
        files = filled.setdefault(position, list(entries[position].attachments))
        files[index] = OfflineAttachment(name=item.name, data=data)
    out = []
    for position, entry in enumerate(entries):
        files = filled.get(position, list(entry.attachments))
        plain = tuple(
            OfflineAttachment(name=f.name, data=f.data, size=f.size)
            if type(f) is not OfflineAttachment
            else f
            for f in files
        )
        out.append(replace(entry, attachments=plain) if plain else entry)
    return out


def _rows_entries(rows: list[Any], version: int) -> list[OfflineEntry]:
    width = len(PAYLOAD_FIELDS[version])
    entries = []
    for row in rows:
        if not isinstance(row, list) or len(row) != width:
            raise _damaged("payload row")
        for index, value in enumerate(row[:12]):
            nullable = index in (_TOTP_COLUMN, _UPDATED_COLUMN)
            if not (isinstance(value, str) or (nullable and value is None)):
                raise _damaged("payload value")
        description: str = ""
        custom: tuple[tuple[str, str], ...] = ()
        if version >= 2:
            description, raw_custom = row[12], row[13]
            if not isinstance(description, str) or not isinstance(raw_custom, list):
                raise _damaged("payload value")
            for pair in raw_custom:
                if (
                    not isinstance(pair, list)
                    or len(pair) != 2
                    or not isinstance(pair[0], str)
                    or not isinstance(pair[1], str)
                ):
                    raise _damaged("payload custom field")
            custom = tuple((label, value) for label, value in raw_custom)
        texts = [v for v in row[:13] if isinstance(v, str)]
        texts.extend(text for pair in custom for text in pair)
        for text in texts:
            if len(text) > MAX_TEXT:
                raise _damaged("a value longer than 1,000,000 characters")
        attachments = _attachment_descriptors(row[14]) if version >= 4 else ()
        updated = row[_UPDATED_COLUMN]
        entries.append(
            OfflineEntry(
                name=row[0],
                resource_type=row[1],
                host=row[2],
                url=row[3],
                username=row[4],
                password=row[5],
                notes=row[6],
                totp_seed=row[7],
                folder=row[8],
                department=row[9],
                location=row[10],
                updated_at=None if updated is None else _parse_iso(updated, "updated"),
                description=description,
                custom_fields=custom,
                attachments=attachments,
            )
        )
    return entries


def _lone_surrogate_check(entries: list[OfflineEntry]) -> None:
    """The fast scan saw a surrogate escape out of pair; the exact check decides (a value
    holding the text "\\ud800" looks the same to the scan)."""
    for entry in entries:
        for attr in (*_TEXT_ATTRS, "totp_seed"):
            value = getattr(entry, attr)
            if value is not None and not _well_formed(value):
                raise _damaged("a value that is not Unicode text (lone surrogate)")
        for pair in entry.custom_fields:
            if not all(map(_well_formed, pair)):
                raise _damaged("a value that is not Unicode text (lone surrogate)")


def _well_formed(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
