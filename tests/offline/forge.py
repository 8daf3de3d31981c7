"""An independent maker of offline files, versions 1 to 4, for the hostile-file tests.

It uses the ``cryptography`` primitives only (never strongroom.crypto.offline's builder or
reader), so that a file it makes tests the readers against the format's text
(docs/offline-file-format.md) rather than against the
reference implementation's own reading of it. It can make files no honest writer makes:
any header dict or raw header bytes, any payload plaintext or raw gzip bytes, chosen key
material. The page around the two data elements is taken from a real file, so the viewer
in a forged file is the real one.

It also makes the forgery an attacker would make from a copy they can read but not open
(:func:`forge_from_copy`): with only the public header fields, new entries and a "made"
date in 2099. Against a version-1 copy that forgery opens (the reason for version 2);
against a version-2 copy the attacker lacks the build key B.

Version 3 files are segmented: :attr:`Spec.segments` holds each segment's JSON (default:
the rows split one per segment after the first), :attr:`Spec.seal_as` the (index, last
flag) each segment's nonce is made with (default: its own), and ``payload_b64_edit`` can
reorder, repeat or drop the "."-separated segments of the finished file. Version 4 rows
carry a fifteenth value (the attachment list, :func:`attachment`), and
:func:`segments_json` with ``version=4`` appends one segment per carried file
(:func:`file_segment`).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

HEADER_OPEN = b'<script type="application/json" id="strongroom-header">'
PAYLOAD_OPEN = b'<script type="application/octet-stream" id="strongroom-payload">'
CLOSE = b"</script>"
FORMAT = "strongroom-offline"
PAYLOAD_FORMAT = "strongroom-offline-payload"
V1_FIELDS = [
    "name", "type", "host", "url", "username", "password", "notes", "totp",
    "folder", "department", "location", "updated",
]  # fmt: skip
V2_FIELDS = [*V1_FIELDS, "description", "custom"]
V4_FIELDS = [*V2_FIELDS, "attachments"]
LABELS = {
    1: (b"strongroom-offline/1 private key\0", b"strongroom-offline/1 content key\0"),
    2: (b"strongroom-offline/2 private key\0", b"strongroom-offline/2 content key\0"),
    # Version 3 files carry version 2 copy keys: the wrap label stays version 2's.
    3: (b"strongroom-offline/2 private key\0", b"strongroom-offline/3 content key\0"),
    4: (b"strongroom-offline/2 private key\0", b"strongroom-offline/4 content key\0"),
}
FORGED_MADE = "2099-01-01T00:00:00Z"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def canonical(header: dict[str, Any]) -> bytes:
    """The canonical header bytes (§6.1): sorted keys, no spaces, ASCII escapes, then
    ``<``, ``>``, ``&`` as ``\\u003c``, ``\\u003e``, ``\\u0026``."""
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def public_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


# --------------------------------------------------------------------------------------
# Key material


@dataclass(frozen=True)
class Keys:
    """A copy's secrets, all explicit: the P-256 scalar, the version-2 build key B, the
    PBKDF2 salt and count, the passphrase and the wrap nonce."""

    scalar: int
    build_key: bytes
    salt: bytes
    iterations: int
    passphrase: str
    wrap_nonce: bytes = b"\x11" * 12

    @classmethod
    def fresh(cls, passphrase: str, iterations: int = 1_000) -> Keys:
        private = ec.generate_private_key(ec.SECP256R1())
        return cls(
            scalar=private.private_numbers().private_value,
            build_key=os.urandom(32),
            salt=os.urandom(16),
            iterations=iterations,
            passphrase=passphrase,
            wrap_nonce=os.urandom(12),
        )

    @property
    def private(self) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(self.scalar, ec.SECP256R1())

    @property
    def public(self) -> bytes:
        return public_bytes(self.private)

    def kek(self) -> bytes:
        password = unicodedata.normalize("NFC", self.passphrase).encode("utf-8")
        kdf = PBKDF2HMAC(hashes.SHA256(), 32, self.salt, self.iterations)
        return kdf.derive(password)

    def wrapped(self, version: int, *, kek: bytes | None = None) -> bytes:
        """nonce || AES-256-GCM_KEK(scalar [|| B]) || tag, AAD = label || iterations ||
        salt || public (60 bytes for version 1, 92 for version 2)."""
        secret = self.scalar.to_bytes(32, "big") + (self.build_key if version >= 2 else b"")
        aad = LABELS[version][0] + self.iterations.to_bytes(4, "big") + self.salt + self.public
        sealed = AESGCM(kek or self.kek()).encrypt(self.wrap_nonce, secret, aad)
        return self.wrap_nonce + sealed


def content_key(
    *, version: int, shared: bytes, build_key: bytes, ephemeral: bytes, public: bytes
) -> bytes:
    ikm = shared + (build_key if version >= 2 else b"")
    info = LABELS[version][1] + ephemeral + public
    return HKDF(hashes.SHA256(), 32, b"\0" * 32, info).derive(ikm)


# --------------------------------------------------------------------------------------
# Payloads


def row_v1(**values: Any) -> list[Any]:
    defaults: dict[str, Any] = {name: "" for name in V1_FIELDS}
    defaults.update(totp=None, updated=None)
    defaults.update(values)
    return [defaults[name] for name in V1_FIELDS]


def row_v2(**values: Any) -> list[Any]:
    defaults: dict[str, Any] = {name: "" for name in V2_FIELDS}
    defaults.update(totp=None, updated=None, custom=[])
    defaults.update(values)
    return [defaults[name] for name in V2_FIELDS]


def row_v4(attachments: list[list[Any]] | None = None, **values: Any) -> list[Any]:
    return [*row_v2(**values), attachments or []]


def attachment(name: str, data: bytes | None, size: int | None = None) -> list[Any]:
    """A version 4 attachment list item: [name, size text, sha256 hex or null]."""
    if data is None:
        assert size is not None, "a listed-only file needs its size"
        return [name, str(size), None]
    return [name, str(len(data) if size is None else size), hashlib.sha256(data).hexdigest()]


def file_segment(position: int, name: str, data: bytes) -> list[str]:
    """A version 4 attachment segment: [row position text, name, base64 of the bytes]."""
    return [str(position), name, b64(data)]


def dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def segments_json(
    rows: list[list[Any]],
    first: int = 1,
    chunk: int = 1,
    version: int = 3,
    files: list[list[str]] | None = None,
) -> list[bytes]:
    """Version 3 segments for full (14-value) rows: segment 0 ``[format, 3, fields, names,
    first rows without names]``, then ``chunk`` rows (without names) per segment. Version 4
    (15-value rows): the same with its fields, then one segment per document in ``files``
    (default: the carried files the rows list, with the bytes ``FILE_BYTES`` names)."""
    names = [row[0] for row in rows]
    rest = [row[1:] for row in rows]
    fields = V4_FIELDS if version == 4 else V2_FIELDS
    out = [dumps([PAYLOAD_FORMAT, version, fields, names, rest[:first]])]
    out += [dumps(rest[i : i + chunk]) for i in range(first, len(rest), chunk)]
    if version == 4:
        if files is None:
            files = [
                file_segment(p, item[0], FILE_BYTES[item[0]])
                for p, row in enumerate(rows)
                for item in row[-1]
                if item[2] is not None
            ]
        out += [dumps(doc) for doc in files]
    return out


#: The bytes of the attachments the hostile table's version 4 rows carry, by name.
FILE_BYTES: dict[str, bytes] = {}


def segment_nonce(nonce: bytes, index: int, last: bool) -> bytes:
    mask = bytes(7) + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
    return bytes(a ^ b for a, b in zip(nonce, mask, strict=True))


def payload_json(version: int, rows: list[list[Any]]) -> bytes:
    """The payload plaintext (before gzip) an honest writer makes, ASCII JSON."""
    if version == 2:
        document: Any = [PAYLOAD_FORMAT, 2, V2_FIELDS, rows]
    else:
        document = {"format": PAYLOAD_FORMAT, "version": 1, "fields": V1_FIELDS, "entries": rows}
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def gzip_one(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


# --------------------------------------------------------------------------------------
# The page


@dataclass(frozen=True)
class Page:
    """A real file cut around its two data elements' contents."""

    before_header: bytes  # ... up to and including the header's open tag
    between: bytes  # the header's close tag ... the payload's open tag
    after_payload: bytes  # the payload's close tag ...

    @classmethod
    def from_file(cls, html: bytes) -> Page:
        h = html.index(HEADER_OPEN) + len(HEADER_OPEN)
        h_end = html.index(CLOSE, h)
        p = html.index(PAYLOAD_OPEN, h_end) + len(PAYLOAD_OPEN)
        p_end = html.index(CLOSE, p)
        return cls(html[:h], html[h_end:p], html[p_end:])

    def render(self, header: bytes, payload: bytes) -> bytes:
        return self.before_header + header + self.between + payload + self.after_payload


def split_file(html: bytes) -> tuple[bytes, bytes]:
    """(header bytes, payload base64 bytes) of a well-formed file."""
    h = html.index(HEADER_OPEN) + len(HEADER_OPEN)
    p = html.index(PAYLOAD_OPEN) + len(PAYLOAD_OPEN)
    return html[h : html.index(CLOSE, h)], html[p : html.index(CLOSE, p)]


# --------------------------------------------------------------------------------------
# Building


@dataclass
class Spec:
    """What goes into one forged file. Everything has an honest default; override any."""

    version: int = 2
    rows: list[list[Any]] = field(default_factory=list)
    plaintext: bytes | None = None  # payload JSON bytes (gzip is applied)
    gzipped: bytes | None = None  # raw gzip bytes (used as they are)
    generated_at: str = "2025-03-14T09:26:53Z"
    expires_at: str | None = None
    title: str = "Acme IT"
    owner: str = "alice"
    header_version: Any = None  # the header's "version" value (default: version)
    header_edit: dict[str, Any] = field(default_factory=dict)  # merged into the header
    header_drop: tuple[str, ...] = ()  # keys removed from the header
    header_bytes: bytes | None = None  # the exact header text (skips all of the above)
    header_text_edit: Any = None  # callable(bytes) -> bytes on the canonical header text
    wrapped: bytes | None = None  # the wrapped key (default: wrapped per version)
    ephemeral_scalar: int | None = None
    payload_nonce: bytes = b"\x22" * 12
    payload_b64: bytes | None = None  # the payload element's exact content
    payload_b64_edit: Any = None  # callable(bytes) -> bytes on the payload element's content
    segments: list[bytes] | None = None  # version 3: each segment's JSON (gzip is applied)
    seal_as: list[tuple[int, bool]] | None = None  # version 3: (index, last) per segment


def header_for(spec: Spec, keys: Keys, ephemeral: bytes, wrapped: bytes) -> dict[str, Any]:
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": spec.version if spec.header_version is None else spec.header_version,
        "kdf_iterations": keys.iterations,
        "kdf_salt": b64(keys.salt),
        "public_key": b64(keys.public),
        "wrapped_private_key": b64(wrapped),
        "ephemeral_public_key": b64(ephemeral),
        "payload_nonce": b64(spec.payload_nonce),
        "generated_at": spec.generated_at,
        "expires_at": spec.expires_at,
        "title": spec.title,
        "owner": spec.owner,
    }
    header.update(spec.header_edit)
    for key in spec.header_drop:
        header.pop(key, None)
    return header


def build(page: Page, keys: Keys, spec: Spec, *, kek: bytes | None = None) -> bytes:
    """One file: the header (canonical unless told otherwise) is the payload's AAD."""
    version = spec.version
    ephemeral_private = (
        ec.derive_private_key(spec.ephemeral_scalar, ec.SECP256R1())
        if spec.ephemeral_scalar is not None
        else ec.generate_private_key(ec.SECP256R1())
    )
    ephemeral = public_bytes(ephemeral_private)
    wrapped = spec.wrapped if spec.wrapped is not None else keys.wrapped(version, kek=kek)
    if spec.header_bytes is not None:
        header_bytes = spec.header_bytes
    else:
        header_bytes = canonical(header_for(spec, keys, ephemeral, wrapped))
        if spec.header_text_edit is not None:
            header_bytes = spec.header_text_edit(header_bytes)
    if spec.gzipped is not None:
        gz = spec.gzipped
    elif version >= 3:
        gz = b""  # per segment below
    else:
        gz = gzip_one(
            spec.plaintext if spec.plaintext is not None else payload_json(version, spec.rows)
        )
    shared = ephemeral_private.exchange(ec.ECDH(), keys.private.public_key())
    key = content_key(
        version=version,
        shared=shared,
        build_key=keys.build_key,
        ephemeral=ephemeral,
        public=keys.public,
    )
    if version >= 3:
        texts = (
            spec.segments
            if spec.segments is not None
            else segments_json(spec.rows, version=version)
        )
        if spec.plaintext is not None or spec.gzipped is not None:
            texts = [spec.plaintext or b"", *texts[1:]]
        seal_as = spec.seal_as or [(i, i == len(texts) - 1) for i in range(len(texts))]
        sealed = []
        for i, (text, (index, last)) in enumerate(zip(texts, seal_as, strict=True)):
            member = gz if i == 0 and spec.gzipped is not None else gzip_one(text)
            nonce = segment_nonce(spec.payload_nonce, index, last)
            sealed.append(b64(AESGCM(key).encrypt(nonce, member, header_bytes)).encode())
        encoded = b".".join(sealed)
    else:
        encoded = b64(AESGCM(key).encrypt(spec.payload_nonce, gz, header_bytes)).encode()
    payload = spec.payload_b64 if spec.payload_b64 is not None else encoded
    if spec.payload_b64_edit is not None:
        payload = spec.payload_b64_edit(payload)
    return page.render(header_bytes, payload)


# --------------------------------------------------------------------------------------
# The attacker's forgery


def forge_from_copy(
    html: bytes,
    *,
    rows: list[list[Any]] | None = None,
    construction: int | None = None,
    guessed_build_key: bytes = b"\0" * 32,
) -> bytes:
    """What someone who can write the cloud folder, but does not know the passphrase, can
    make from a copy: keep its key fields (salt, iterations, public key, wrapped key), pick
    a fresh ephemeral key, derive the content key from ECDH with the copy's PUBLIC key and
    encrypt their own entries, "made" in 2099.

    ``construction`` (default: the copy's version) is the key derivation tried: 1 is the
    version-1 construction (works against a version-1 copy: the bug version 2 fixes); 2
    needs the build key B, which is sealed inside the wrapped key, so the attacker can only
    guess it (``guessed_build_key``, zeros by default).
    """
    header_bytes, _ = split_file(html)
    header = json.loads(header_bytes)
    public = base64.b64decode(header["public_key"])
    version = construction or header["version"]
    ephemeral_private = ec.generate_private_key(ec.SECP256R1())
    ephemeral = public_bytes(ephemeral_private)
    copy_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
    shared = ephemeral_private.exchange(ec.ECDH(), copy_public)
    nonce = os.urandom(12)
    forged = dict(
        header,
        version=version,
        ephemeral_public_key=b64(ephemeral),
        payload_nonce=b64(nonce),
        generated_at=FORGED_MADE,
        expires_at=None,
    )
    forged_bytes = canonical(forged)
    if rows is None:
        make = row_v4 if version >= 4 else row_v2 if version >= 2 else row_v1
        rows = [
            make(name="Bank (forged)", username="victim", password="attacker-chosen",
                 url="https://attacker.example/login"),
        ]  # fmt: skip
    key = content_key(
        version=version,
        shared=shared,
        build_key=guessed_build_key,
        ephemeral=ephemeral,
        public=public,
    )
    if version >= 3:
        texts = segments_json(rows, version=version)
        payload = b".".join(
            b64(
                AESGCM(key).encrypt(
                    segment_nonce(nonce, i, i == len(texts) - 1), gzip_one(text), forged_bytes
                )
            ).encode()
            for i, text in enumerate(texts)
        )
    else:
        ciphertext = AESGCM(key).encrypt(nonce, gzip_one(payload_json(version, rows)), forged_bytes)
        payload = b64(ciphertext).encode()
    page = Page.from_file(html)
    return page.render(forged_bytes, payload)


def edit_header_text(pattern: bytes, repl: bytes) -> Any:
    """A ``header_text_edit`` that substitutes once (a regex on the canonical text)."""

    def edit(text: bytes) -> bytes:
        out, n = re.subn(pattern, repl, text, count=1)
        assert n == 1, (pattern, text)
        return out

    return edit


__all__ = [
    "FORGED_MADE",
    "Keys",
    "Page",
    "Spec",
    "attachment",
    "build",
    "canonical",
    "edit_header_text",
    "file_segment",
    "forge_from_copy",
    "gzip_one",
    "payload_json",
    "row_v1",
    "row_v2",
    "row_v4",
    "segment_nonce",
    "segments_json",
    "split_file",
]
