"""The encrypted offline file: one self-contained ``.html`` that opens from disk.

Pure functions: no models, no I/O besides reading the packaged viewer assets. The format
is specified in ``docs/offline-file-format.md`` (version 1); this module and the viewer in
``templates/offline_viewer/`` are its reference implementation.

In short:

* :func:`copy_keys_create` makes the long-lived keys of one offline copy: a P-256 key pair
  whose private half is wrapped (AES-256-GCM) under a key-encryption key derived from the
  passphrase (PBKDF2-HMAC-SHA256). The server keeps only :class:`CopyKeys` (public key,
  wrapped private key, salt, iterations) and can rebuild the file later without the
  passphrase; it can never read what it built.
* :func:`offline_file_build` encrypts the gzip-compressed JSON payload under a content key
  from ECDH (fresh ephemeral key, the copy's public key) + HKDF-SHA256, with the exact
  header bytes as associated data, and emits the viewer page with header and ciphertext.
* :func:`offline_file_open` is the browser-free decrypter (``strongroom open``);
  :func:`offline_file_header` reads the clear header without the passphrase.
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

FORMAT = "strongroom-offline"
PAYLOAD_FORMAT = "strongroom-offline-payload"
VERSION = 1
#: The least PBKDF2 work any real file gets (OWASP 2023 for PBKDF2-HMAC-SHA256).
MIN_ITERATIONS = 600_000
#: Readers refuse more than this, so an edited header cannot hang a browser for hours.
MAX_ITERATIONS = 20_000_000
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
PUBLIC_KEY_BYTES = 65  # SEC1 uncompressed point: 0x04 || X (32) || Y (32)
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
WRAP_AAD_LABEL = b"strongroom-offline/1 private key\x00"
HKDF_INFO_LABEL = b"strongroom-offline/1 content key\x00"
HKDF_SALT = bytes(32)
GZIP_LEVEL = 6
MAX_TEXT = 1_000_000  # characters in one entry field (title/owner: 1,000)

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

HEADER_ELEMENT_ID = "strongroom-header"
PAYLOAD_ELEMENT_ID = "strongroom-payload"
_HEADER_RE = re.compile(
    rb'<script type="application/json" id="' + HEADER_ELEMENT_ID.encode() + rb'">([^<]*)</script>'
)
_PAYLOAD_RE = re.compile(
    rb'<script type="application/octet-stream" id="'
    + PAYLOAD_ELEMENT_ID.encode()
    + rb'">([A-Za-z0-9+/=]*)</script>'
)
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


# --------------------------------------------------------------------------------------
# Data types


@dataclass(frozen=True)
class CopyKeys:
    """What the server keeps for one offline copy; nothing here reveals the data.

    ``public_key`` is the SEC1 uncompressed P-256 point (65 bytes); ``wrapped_private_key``
    is ``nonce (12) || AES-256-GCM(private scalar, 32 bytes) || tag (16)``.
    """

    public_key: bytes
    wrapped_private_key: bytes
    salt: bytes
    iterations: int
    version: int = VERSION

    def __post_init__(self) -> None:
        if self.version != VERSION:
            raise OfflineFormatUnsupported(f"unknown offline key version {self.version}")
        if len(self.public_key) != PUBLIC_KEY_BYTES or self.public_key[0] != 4:
            raise ValueError("public_key must be a 65-byte uncompressed P-256 point")
        if len(self.wrapped_private_key) != WRAPPED_KEY_BYTES:
            raise ValueError(f"wrapped_private_key must be {WRAPPED_KEY_BYTES} bytes")
        if len(self.salt) != SALT_BYTES:
            raise ValueError(f"salt must be {SALT_BYTES} bytes")
        if not isinstance(self.iterations, int) or not 1 <= self.iterations <= MAX_ITERATIONS:
            raise ValueError(f"iterations must be 1..{MAX_ITERATIONS}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for storage (bytes as standard base64)."""
        return {
            "version": self.version,
            "public_key": _b64(self.public_key),
            "wrapped_private_key": _b64(self.wrapped_private_key),
            "salt": _b64(self.salt),
            "iterations": self.iterations,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CopyKeys:
        return cls(
            version=int(data["version"]),
            public_key=_unb64(data["public_key"]),
            wrapped_private_key=_unb64(data["wrapped_private_key"]),
            salt=_unb64(data["salt"]),
            iterations=int(data["iterations"]),
        )

    @property
    def fingerprint(self) -> str:
        """A short non-secret name for this key pair (first 16 hex of SHA-256(public))."""
        return hashlib.sha256(self.public_key).hexdigest()[:16]


@dataclass(frozen=True)
class OfflineEntry:
    """One account as it appears in an offline copy. Every text field is a plain string
    ("" when empty) and round-trips exactly, whatever it contains.

    ``name``, ``resource_type``, ``host``, ``url``, ``department``, ``location``: the
    resource's. ``username``, ``password``, ``notes``: the account's. ``totp_seed``: the
    stored seed (base32 secret or ``otpauth://totp/`` URI) or ``None``. ``folder``: the
    resource group path, "/"-separated ("" for none). ``updated_at``: when the account or
    its resource last changed (timezone-aware) or ``None``.
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


@dataclass(frozen=True)
class OfflinePayload:
    """An opened offline file: its authenticated header and every entry."""

    version: int
    generated_at: datetime
    expires_at: datetime | None
    title: str
    owner: str
    iterations: int
    entries: list[OfflineEntry] = field(repr=False)

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at


# --------------------------------------------------------------------------------------
# Keys


def copy_keys_create(
    *, passphrase: str, iterations: int, minimum_iterations: int = MIN_ITERATIONS
) -> CopyKeys:
    """A fresh key pair for one offline copy, its private key wrapped under the passphrase.

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
    kek = _kek(passphrase, salt, iterations)
    nonce = os.urandom(NONCE_BYTES)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, scalar, _wrap_aad(iterations, salt, public))
    return CopyKeys(
        public_key=public, wrapped_private_key=wrapped, salt=salt, iterations=iterations
    )


def copy_keys_verify(*, copy_keys: CopyKeys, passphrase: str) -> None:
    """Raise :class:`OfflineWrongPassphrase` unless ``passphrase`` unwraps these keys."""
    _unwrap_private_key(
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


def _wrap_aad(iterations: int, salt: bytes, public: bytes) -> bytes:
    return WRAP_AAD_LABEL + struct.pack(">I", iterations) + salt + public


def _unwrap_private_key(
    *, passphrase: str, iterations: int, salt: bytes, public: bytes, wrapped: bytes
) -> ec.EllipticCurvePrivateKey:
    kek = _kek(passphrase, salt, iterations)
    try:
        scalar = AESGCM(kek).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(iterations, salt, public)
        )
    except InvalidTag:
        raise OfflineWrongPassphrase(
            "wrong passphrase, or the file's key fields were edited"
        ) from None
    try:
        private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except ValueError:
        raise OfflineFileDamaged("the file is damaged or was edited (bad private key)") from None
    if _public_bytes(private.public_key()) != public:
        raise OfflineFileDamaged("the file is damaged or was edited (key pair mismatch)")
    return private


def _content_key(shared: bytes, ephemeral_public: bytes, copy_public: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=HKDF_SALT,
        info=HKDF_INFO_LABEL + ephemeral_public + copy_public,
    ).derive(shared)


# --------------------------------------------------------------------------------------
# Building


def offline_file_build(
    *,
    copy_keys: CopyKeys,
    entries: list[OfflineEntry],
    generated_at: datetime,
    expires_at: datetime | None,
    title: str,
    owner: str,
    minimum_iterations: int = MIN_ITERATIONS,
) -> bytes:
    """The offline ``.html`` file (UTF-8 bytes) holding ``entries``, readable only with the
    passphrase the ``copy_keys`` were created with. Needs no secret: the public key is
    enough. Entries keep the order given."""
    _check_iterations(copy_keys.iterations, minimum_iterations)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kdf_iterations": copy_keys.iterations,
        "kdf_salt": _b64(copy_keys.salt),
        "public_key": _b64(copy_keys.public_key),
        "wrapped_private_key": _b64(copy_keys.wrapped_private_key),
        "generated_at": _iso(generated_at, "generated_at"),
        "expires_at": None if expires_at is None else _iso(expires_at, "expires_at"),
        "title": _text(title, "title", 1_000),
        "owner": _text(owner, "owner", 1_000),
    }
    copy_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), copy_keys.public_key)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    ephemeral_public = _public_bytes(ephemeral.public_key())
    nonce = os.urandom(NONCE_BYTES)
    header["ephemeral_public_key"] = _b64(ephemeral_public)
    header["payload_nonce"] = _b64(nonce)
    header_bytes = header_serialise(header)

    shared = ephemeral.exchange(ec.ECDH(), copy_public)
    key = _content_key(shared, ephemeral_public, copy_keys.public_key)
    plaintext = gzip.compress(_payload_json(entries), compresslevel=GZIP_LEVEL, mtime=0)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, header_bytes)
    return _render(header_bytes, base64.b64encode(ciphertext))


def header_serialise(header: dict[str, Any]) -> bytes:
    """The canonical header bytes: JSON, keys sorted, no spaces, ASCII only, and ``<``,
    ``>``, ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (so the text can sit
    verbatim inside a ``<script>`` element). Readers never re-serialise: the associated
    data is the exact bytes found in the file."""
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
)
_TOTP_COLUMN, _UPDATED_COLUMN = 7, 11
_TEXT_COLUMNS = (0, 1, 2, 3, 4, 5, 6, 8, 9, 10)
_SURROGATE_ESCAPE = re.compile(r"\\ud[89a-f][0-9a-f]{2}")


def _payload_json(entries: list[OfflineEntry]) -> bytes:
    """The payload JSON. Checked with C-speed passes over all values (100,000 entries
    build in a couple of seconds); only when a check fails is the offending entry found
    one by one, to name it in the error."""
    if not all(type(entry) is OfflineEntry for entry in entries):
        _entries_check(entries)
    rows = [list(_ROW(entry)) for entry in entries]
    texts = [row[i] for row in rows for i in _TEXT_COLUMNS]
    seeds = [row[_TOTP_COLUMN] for row in rows if row[_TOTP_COLUMN] is not None]
    if (
        set(map(type, texts)) - {str}
        or set(map(type, seeds)) - {str}
        or max(map(len, texts), default=0) > MAX_TEXT
        or max(map(len, seeds), default=0) > MAX_TEXT
    ):
        _entries_check(entries)
    for row in rows:
        moment = row[_UPDATED_COLUMN]
        if moment is None:
            continue
        if type(moment) is datetime and moment.tzinfo is UTC:
            # The common case (exports read UTC times) without _iso's checks and conversion.
            row[_UPDATED_COLUMN] = moment.isoformat()[:19] + "Z"
        else:
            row[_UPDATED_COLUMN] = _iso(moment, "updated_at")
    document = {
        "format": PAYLOAD_FORMAT,
        "version": VERSION,
        "fields": list(ENTRY_FIELDS),
        "entries": rows,
    }
    # ASCII with \u escapes: the same JSON to every reader, and Python keeps one byte per
    # character instead of four as soon as one emoji appears (a third less peak memory).
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
        high = found.group()[3] in "89ab"
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


def _parse_iso(text: Any, what: str) -> datetime:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text):
        raise OfflineFileDamaged(f"the file is damaged or was edited (bad {what})")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise OfflineFileDamaged(f"the file is damaged or was edited (bad {what})") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


# --------------------------------------------------------------------------------------
# The viewer page


@dataclass(frozen=True)
class _ViewerAssets:
    template: str
    script: str
    style: str
    csp: str


@cache
def _viewer_assets() -> _ViewerAssets:
    # Under templates/ so that package-data ships them (pyproject: **/templates/**/*).
    folder = resources.files("strongroom.crypto") / "templates" / "offline_viewer"
    template = (folder / "viewer.html").read_text(encoding="utf-8")
    script = (folder / "viewer.js").read_text(encoding="utf-8")
    style = (folder / "viewer.css").read_text(encoding="utf-8")
    for name, text in (("viewer.js", script), ("viewer.css", style)):
        lowered = text.lower()
        if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
            raise RuntimeError(f"{name} must not contain '</script', '</style' or '<!--'")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src '{_csp_hash(script)}'",
            f"style-src '{_csp_hash(style)}'",
            "img-src data:",
            "connect-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ]
    )
    return _ViewerAssets(template=template, script=script, style=style, csp=csp)


def viewer_content_security_policy() -> str:
    """The CSP every file built by this version carries (for tests and `strongroom open`)."""
    return _viewer_assets().csp


def _csp_hash(text: str) -> str:
    return "sha256-" + _b64(hashlib.sha256(text.encode("utf-8")).digest())


def _render(header_bytes: bytes, payload_b64: bytes) -> bytes:
    assets = _viewer_assets()
    values = {
        "CSP": assets.csp,
        "STYLE": assets.style,
        "SCRIPT": assets.script,
        "HEADER_ID": HEADER_ELEMENT_ID,
        "PAYLOAD_ID": PAYLOAD_ELEMENT_ID,
    }
    parts = re.split(r"\{\{(\w+)\}\}", assets.template)
    out: list[bytes] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part.encode("utf-8"))
        elif part == "HEADER":
            out.append(header_bytes)
        elif part == "PAYLOAD":
            out.append(payload_b64)
        else:
            out.append(values[part].encode("utf-8"))
    return b"".join(out)


# --------------------------------------------------------------------------------------
# Opening


def offline_file_header(html: bytes) -> dict[str, Any]:
    """The clear header, readable without the passphrase (not yet authenticated: only
    :func:`offline_file_open` proves it was not edited). ``generated_at`` and ``expires_at``
    are ISO 8601 UTC strings (``expires_at`` may be ``None``); the entry count is not in
    the clear."""
    header, _ = _header_from_html(html)
    return header


def _header_from_html(html: bytes) -> tuple[dict[str, Any], bytes]:
    if not isinstance(html, bytes | bytearray):
        raise TypeError("html must be bytes")
    found = _HEADER_RE.search(html)
    if found is None:
        if b"strongroom-offline" in html or HEADER_ELEMENT_ID.encode() in html:
            raise OfflineFileDamaged("the file is damaged or was edited (no readable header)")
        raise OfflineFormatUnsupported("this is not a Strongroom offline file")
    header_bytes = bytes(found.group(1))
    try:
        header = json.loads(header_bytes.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise OfflineFileDamaged("the file is damaged or was edited (bad header)") from None
    if not isinstance(header, dict):
        raise OfflineFileDamaged("the file is damaged or was edited (bad header)")
    if header.get("format") != FORMAT:
        raise OfflineFormatUnsupported("this is not a Strongroom offline file")
    version = header.get("version")
    if version != VERSION or type(version) is not int:
        raise OfflineFormatUnsupported(
            f"this offline file has format version {version!r}; this Strongroom reads "
            f"version {VERSION} only (a newer Strongroom made it, or it was edited)"
        )
    return header, header_bytes


@dataclass(frozen=True)
class _Fields:
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
    if set(header) != _HEADER_KEYS:
        raise OfflineFileDamaged("the file is damaged or was edited (header fields)")
    iterations = header["kdf_iterations"]
    if type(iterations) is not int or not 1 <= iterations <= MAX_ITERATIONS:
        raise OfflineFileDamaged("the file is damaged or was edited (bad iteration count)")
    try:
        salt = _unb64(header["kdf_salt"])
        public = _unb64(header["public_key"])
        wrapped = _unb64(header["wrapped_private_key"])
        ephemeral = _unb64(header["ephemeral_public_key"])
        nonce = _unb64(header["payload_nonce"])
    except (ValueError, binascii.Error):
        raise OfflineFileDamaged("the file is damaged or was edited (bad header field)") from None
    sizes = (
        (salt, SALT_BYTES),
        (public, PUBLIC_KEY_BYTES),
        (wrapped, WRAPPED_KEY_BYTES),
        (ephemeral, PUBLIC_KEY_BYTES),
        (nonce, NONCE_BYTES),
    )
    if any(len(value) != size for value, size in sizes):
        raise OfflineFileDamaged("the file is damaged or was edited (bad field length)")
    title, owner = header["title"], header["owner"]
    if not isinstance(title, str) or not isinstance(owner, str):
        raise OfflineFileDamaged("the file is damaged or was edited (bad title or owner)")
    expires = header["expires_at"]
    return _Fields(
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


def offline_file_open(*, html: bytes, passphrase: str) -> OfflinePayload:
    """Decrypt and verify an offline file. Raises :class:`OfflineWrongPassphrase`,
    :class:`OfflineFileDamaged` or :class:`OfflineFormatUnsupported`; returns nothing
    unless every byte of header and payload authenticated."""
    header, header_bytes = _header_from_html(html)
    fields = _fields(header)
    found = _PAYLOAD_RE.search(html)
    if found is None:
        raise OfflineFileDamaged("the file is damaged or was edited (no readable payload)")
    try:
        ciphertext = base64.b64decode(found.group(1), validate=True)
    except (ValueError, binascii.Error):
        raise OfflineFileDamaged("the file is damaged or was edited (bad payload)") from None
    if len(ciphertext) < TAG_BYTES:
        raise OfflineFileDamaged("the file is damaged or was edited (payload too short)")

    private = _unwrap_private_key(
        passphrase=passphrase,
        iterations=fields.iterations,
        salt=fields.salt,
        public=fields.public,
        wrapped=fields.wrapped,
    )
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), fields.ephemeral)
    except ValueError:
        raise OfflineFileDamaged("the file is damaged or was edited (bad ephemeral key)") from None
    shared = private.exchange(ec.ECDH(), ephemeral)
    key = _content_key(shared, fields.ephemeral, fields.public)
    try:
        plaintext = AESGCM(key).decrypt(fields.nonce, ciphertext, header_bytes)
    except InvalidTag:
        raise OfflineFileDamaged(
            "the file is damaged or was edited: its contents failed the integrity check"
        ) from None
    entries = _entries_from_payload(plaintext)
    return OfflinePayload(
        version=VERSION,
        generated_at=fields.generated_at,
        expires_at=fields.expires_at,
        title=fields.title,
        owner=fields.owner,
        iterations=fields.iterations,
        entries=entries,
    )


def _entries_from_payload(plaintext: bytes) -> list[OfflineEntry]:
    # Authenticated already, so a failure here is a builder bug or an unknown payload
    # layout; still never hand out part of it.
    try:
        document = json.loads(gzip.decompress(plaintext).decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        raise OfflineFileDamaged("the file is damaged (its payload does not decode)") from None
    if not isinstance(document, dict) or document.get("format") != PAYLOAD_FORMAT:
        raise OfflineFormatUnsupported("unknown payload format")
    if document.get("version") != VERSION:
        raise OfflineFormatUnsupported(f"unknown payload version {document.get('version')!r}")
    names = document.get("fields")
    rows = document.get("entries")
    if not isinstance(names, list) or not isinstance(rows, list):
        raise OfflineFileDamaged("the file is damaged (payload layout)")
    try:
        index = {name: names.index(name) for name in ENTRY_FIELDS}
    except ValueError:
        raise OfflineFormatUnsupported("the payload lacks a required entry field") from None
    entries = []
    for row in rows:
        if not isinstance(row, list) or len(row) != len(names):
            raise OfflineFileDamaged("the file is damaged (payload row)")
        values = {name: row[i] for name, i in index.items()}
        for name, value in values.items():
            nullable = name in {"totp", "updated"}
            if not (isinstance(value, str) or (nullable and value is None)):
                raise OfflineFileDamaged("the file is damaged (payload value)")
        updated = values["updated"]
        entries.append(
            OfflineEntry(
                name=values["name"],
                resource_type=values["type"],
                host=values["host"],
                url=values["url"],
                username=values["username"],
                password=values["password"],
                notes=values["notes"],
                totp_seed=values["totp"],
                folder=values["folder"],
                department=values["department"],
                location=values["location"],
                updated_at=None if updated is None else _parse_iso(updated, "updated"),
            )
        )
    return entries
