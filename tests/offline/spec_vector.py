"""The worked example of docs/offline-file-format.md, made step by step from the spec with
the `cryptography` primitives alone (no code from strongroom.crypto.offline), from fixed
inputs instead of random ones. Run it to print the values the document lists:

    .venv/bin/python -m tests.offline.spec_vector      (from the project root)
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import struct
import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PASSPHRASE = "correct horse battery staple"
ITERATIONS = 600_000
SALT = bytes(range(16))
WRAP_NONCE = bytes(range(0x10, 0x1C))
PAYLOAD_NONCE = bytes(range(0x20, 0x2C))
COPY_SCALAR = hashlib.sha256(b"strongroom offline test vector: copy key").digest()
EPHEMERAL_SCALAR = hashlib.sha256(b"strongroom offline test vector: ephemeral key").digest()
BUILD_KEY = hashlib.sha256(b"strongroom offline test vector: build key").digest()
ENTRY = [
    "Example server",
    "server",
    "srv1.example",
    "ssh://srv1.example",
    "root",
    "p<a>ss&\"'",
    "",
    "JBSWY3DPEHPK3PXP",
    "Work/Servers",
    "",
    "",
    "2024-12-31T12:00:00Z",
]
FIELDS = [
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
]


# Version 2 rows add the resource's description and custom fields ([label, value] pairs).
ENTRY_V2 = [*ENTRY, "Rack 4, \u00e9tage 2", [["Serial", "SN-0042"], ["Contract", "C-7"]]]
FIELDS_V2 = [*FIELDS, "description", "custom"]
# Version 3 (segmented): two entries, split as segment 0 (every name, the first entry's
# other values) and segment 1 (the second entry's values after its name; the last segment).
ENTRY_V3_SECOND = [
    "Example router",
    "router",
    "rt1.example",
    "https://rt1.example/",
    "admin",
    "\u00e9t\u00e9 2025",
    "",
    None,
    "Work/Network",
    "IT",
    "",
    None,
    "",
    [],
]


# Version 4: rows gain the account's attachments, [[name, size text, SHA-256 hex or null]].
# The first entry lists two files: a certificate the copy carries (its bytes in segment 2,
# after the rows, the last segment) and an image over the policy's cap (listed only).
FIELDS_V4 = [*FIELDS_V2, "attachments"]
ATTACHMENT_BYTES = b"-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n"
ATTACHMENTS_V4 = [
    ["ca.pem", str(len(ATTACHMENT_BYTES)), hashlib.sha256(ATTACHMENT_BYTES).hexdigest()],
    ["disk image.iso", "5000000", None],
]


def segment_nonce(index: int, last: bool) -> bytes:
    """Version 3: payload_nonce XOR (7 zero bytes || uint32-be index || last flag)."""
    mask = bytes(7) + struct.pack(">I", index) + (b"\x01" if last else b"\x00")
    return bytes(a ^ b for a, b in zip(PAYLOAD_NONCE, mask, strict=True))


@dataclass(frozen=True)
class Vector:
    kek: bytes
    copy_public: bytes
    wrap_aad: bytes
    wrapped: bytes
    ephemeral_public: bytes
    shared: bytes
    hkdf_info: bytes
    content_key: bytes
    header: bytes
    plaintext_json: bytes
    gzipped: bytes
    ciphertext: bytes
    # Version 3: segment 1's JSON, gzip member and ciphertext (segment 0's are above).
    more_json: bytes = b""
    more_gzipped: bytes = b""
    more_ciphertext: bytes = b""
    # Version 4: segment 2's (the carried attachment's) JSON, gzip member and ciphertext.
    file_json: bytes = b""
    file_gzipped: bytes = b""
    file_ciphertext: bytes = b""

    @property
    def payload_text(self) -> bytes:
        """The payload element's text: base64 segments joined by "." (one before v3)."""
        text = base64.b64encode(self.ciphertext)
        if self.more_ciphertext:
            text += b"." + base64.b64encode(self.more_ciphertext)
        if self.file_ciphertext:
            text += b"." + base64.b64encode(self.file_ciphertext)
        return text


def _public(private: ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def make(
    gzipped: bytes | None = None,
    version: int = 1,
    more_gzipped: bytes | None = None,
    file_gzipped: bytes | None = None,
) -> Vector:
    """The worked example of ``version`` (1 to 4), step by step."""
    kek = PBKDF2HMAC(hashes.SHA256(), 32, SALT, ITERATIONS).derive(
        unicodedata.normalize("NFC", PASSPHRASE).encode()
    )
    copy_key = ec.derive_private_key(int.from_bytes(COPY_SCALAR, "big"), ec.SECP256R1())
    copy_public = _public(copy_key)
    label = f"strongroom-offline/{version} ".encode()
    # Version 3 files carry version 2 copy keys: the wrapped key keeps its version 2 label.
    key_label = f"strongroom-offline/{min(version, 2)} ".encode()
    wrap_aad = key_label + b"private key\x00" + struct.pack(">I", ITERATIONS) + SALT
    wrap_aad += copy_public
    # Version 2 wraps the build key after the scalar; it joins the ECDH secret below.
    wrapped_secret = COPY_SCALAR + (BUILD_KEY if version >= 2 else b"")
    wrapped = WRAP_NONCE + AESGCM(kek).encrypt(WRAP_NONCE, wrapped_secret, wrap_aad)

    ephemeral = ec.derive_private_key(int.from_bytes(EPHEMERAL_SCALAR, "big"), ec.SECP256R1())
    ephemeral_public = _public(ephemeral)
    shared = ephemeral.exchange(ec.ECDH(), copy_key.public_key())
    info = label + b"content key\x00" + ephemeral_public + copy_public
    ikm = shared + (BUILD_KEY if version >= 2 else b"")
    content_key = HKDF(hashes.SHA256(), 32, bytes(32), info).derive(ikm)

    header = {
        "ephemeral_public_key": base64.b64encode(ephemeral_public).decode(),
        "expires_at": "2025-02-01T00:00:00Z",
        "format": "strongroom-offline",
        "generated_at": "2025-01-01T00:00:00Z",
        "kdf_iterations": ITERATIONS,
        "kdf_salt": base64.b64encode(SALT).decode(),
        "owner": "alice",
        "payload_nonce": base64.b64encode(PAYLOAD_NONCE).decode(),
        "public_key": base64.b64encode(copy_public).decode(),
        "title": "Example <copy>",
        "version": version,
        "wrapped_private_key": base64.b64encode(wrapped).decode(),
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    header_bytes = text.encode("ascii")
    document: object = {
        "format": "strongroom-offline-payload",
        "version": 1,
        "fields": FIELDS,
        "entries": [ENTRY],
    }
    if version == 2:
        # An array, not an object: no key can appear twice.
        document = ["strongroom-offline-payload", 2, FIELDS_V2, [ENTRY_V2]]
    more: object = None
    if version == 3:
        # Segment 0: every name in list order, then the first rows without their names.
        document = [
            "strongroom-offline-payload",
            3,
            FIELDS_V2,
            [ENTRY_V2[0], ENTRY_V3_SECOND[0]],
            [ENTRY_V2[1:]],
        ]
        more = [ENTRY_V3_SECOND[1:]]
    file_document: object = None
    if version == 4:
        # As version 3, each row one value longer (its attachments); then one segment per
        # carried file: [position of its row as text, its name, base64 of its bytes].
        document = [
            "strongroom-offline-payload",
            4,
            FIELDS_V4,
            [ENTRY_V2[0], ENTRY_V3_SECOND[0]],
            [[*ENTRY_V2[1:], ATTACHMENTS_V4]],
        ]
        more = [[*ENTRY_V3_SECOND[1:], []]]
        file_document = ["0", "ca.pem", base64.b64encode(ATTACHMENT_BYTES).decode()]
    plaintext = json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode()
    if gzipped is None:
        gzipped = gzip.compress(plaintext, compresslevel=6, mtime=0)
    nonce = segment_nonce(0, last=False) if version >= 3 else PAYLOAD_NONCE
    ciphertext = AESGCM(content_key).encrypt(nonce, gzipped, header_bytes)
    extra: dict[str, bytes] = {}
    if more is not None:
        more_json = json.dumps(more, ensure_ascii=True, separators=(",", ":")).encode()
        if more_gzipped is None:
            more_gzipped = gzip.compress(more_json, compresslevel=6, mtime=0)
        extra = {
            "more_json": more_json,
            "more_gzipped": more_gzipped,
            "more_ciphertext": AESGCM(content_key).encrypt(
                segment_nonce(1, last=file_document is None), more_gzipped, header_bytes
            ),
        }
    if file_document is not None:
        file_json = json.dumps(file_document, ensure_ascii=True, separators=(",", ":")).encode()
        if file_gzipped is None:
            file_gzipped = gzip.compress(file_json, compresslevel=6, mtime=0)
        extra |= {
            "file_json": file_json,
            "file_gzipped": file_gzipped,
            "file_ciphertext": AESGCM(content_key).encrypt(
                segment_nonce(2, last=True), file_gzipped, header_bytes
            ),
        }
    return Vector(
        **extra,
        kek=kek,
        copy_public=copy_public,
        wrap_aad=wrap_aad,
        wrapped=wrapped,
        ephemeral_public=ephemeral_public,
        shared=shared,
        hkdf_info=info,
        content_key=content_key,
        header=header_bytes,
        plaintext_json=plaintext,
        gzipped=gzipped,
        ciphertext=ciphertext,
    )


def html(vector: Vector) -> bytes:
    """The smallest page a reader accepts: the two data elements (no viewer)."""
    return (
        b'<!DOCTYPE html><script type="application/json" id="strongroom-header">'
        + vector.header
        + b'</script>\n<script type="application/octet-stream" id="strongroom-payload">'
        + vector.payload_text
        + b"</script>"
    )


if __name__ == "__main__":
    import sys

    v = make(version=int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print("copy private scalar d   ", COPY_SCALAR.hex())
    print("ephemeral scalar        ", EPHEMERAL_SCALAR.hex())
    print("build key (v2, v3)      ", BUILD_KEY.hex())
    for name in (
        "kek",
        "copy_public",
        "wrap_aad",
        "wrapped",
        "ephemeral_public",
        "shared",
        "hkdf_info",
        "content_key",
        "gzipped",
    ):
        print(f"{name:<24}", getattr(v, name).hex())
    print("header bytes            ", v.header.decode())
    print("plaintext JSON          ", v.plaintext_json.decode())
    print("ciphertext (base64)     ", base64.b64encode(v.ciphertext).decode())
    if v.more_json:
        print("segment 0 nonce         ", segment_nonce(0, last=False).hex())
        print("segment 1 nonce         ", segment_nonce(1, last=not v.file_json).hex())
        print("segment 1 JSON          ", v.more_json.decode())
        print("segment 1 gzipped       ", v.more_gzipped.hex())
        print("segment 1 (base64)      ", base64.b64encode(v.more_ciphertext).decode())
        if v.file_json:
            print("segment 2 nonce         ", segment_nonce(2, last=True).hex())
            print("segment 2 JSON          ", v.file_json.decode())
            print("segment 2 gzipped       ", v.file_gzipped.hex())
            print("segment 2 (base64)      ", base64.b64encode(v.file_ciphertext).decode())
        print("payload element text    ", v.payload_text.decode())
