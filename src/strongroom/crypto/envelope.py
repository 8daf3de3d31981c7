"""Envelope encryption primitives: pure functions, no models, no I/O.

A *sealed value* is bytes laid out as::

    version (1 byte, 0x01) | data key id (4 bytes, big endian) | nonce (12) | ciphertext+tag

encrypted with AES-256-GCM under a data key. The associated data is built by
:func:`field_aad` from the table, row and field, so a ciphertext copied into another row
or field fails authentication instead of decrypting.

Data keys are wrapped (AES-256-GCM) by the master key with associated data naming the
data key id; see :func:`wrap_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
HEADER = struct.Struct(">BI")


class DecryptionError(Exception):
    """Authentication failed: wrong key, or the ciphertext or its context was altered."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def key_id(master_key: bytes) -> str:
    """A short, non-secret fingerprint that names a master key (it does not reveal it)."""
    return hmac.new(master_key, b"strongroom master key id v1", hashlib.sha256).hexdigest()[:16]


def derive_subkey(master_key: bytes, purpose: str) -> bytes:
    """An independent key for one purpose (e.g. the audit chain MAC), from the master key."""
    return hmac.new(
        master_key, b"strongroom subkey v1:" + purpose.encode(), hashlib.sha256
    ).digest()


def field_aad(table: str, row_id: str, field: str) -> bytes:
    for part in (table, row_id, field):
        if "\x00" in part:
            raise ValueError("associated data parts must not contain NUL")
    return f"strongroom/v1\x00{table}\x00{row_id}\x00{field}".encode()


def encrypt(
    key: bytes, plaintext: bytes, aad: bytes, *, data_key_id: int, nonce: bytes | None = None
) -> bytes:
    """AES-256-GCM encrypt. ``nonce`` is only ever passed by known-answer tests."""
    if len(key) != KEY_BYTES:
        raise ValueError("AES-256 needs a 32-byte key")
    nonce = nonce if nonce is not None else os.urandom(NONCE_BYTES)
    header = HEADER.pack(VERSION, data_key_id)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


def sealed_key_id(sealed: bytes) -> int:
    if len(sealed) < HEADER.size + NONCE_BYTES + 16:
        raise DecryptionError("sealed value is too short")
    version, data_key_id = HEADER.unpack_from(sealed)
    if version != VERSION:
        raise DecryptionError(f"unknown sealed value version {version}")
    return int(data_key_id)


def decrypt(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    sealed_key_id(sealed)
    return _open(AESGCM(key), sealed, aad)


def _open(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    """Authenticate and decrypt a sealed value whose header was checked; the header is part
    of the associated data."""
    start = HEADER.size + NONCE_BYTES
    try:
        return cipher.decrypt(
            sealed[HEADER.size : start], sealed[start:], sealed[: HEADER.size] + aad
        )
    except InvalidTag as exc:
        raise DecryptionError("ciphertext failed authentication") from exc


class BulkDecrypter:
    """Decrypts many sealed values of one table, as :func:`decrypt` with
    :func:`field_aad` would, for exports of 100,000 rows: one AES-GCM object per data key
    instead of one per value. ``key_for`` maps a data key id to its key (it may raise; the
    error is passed through)."""

    __slots__ = ("_aad_prefix", "_ciphers", "_key_for", "_table")

    def __init__(self, table: str, key_for: Callable[[int], bytes]) -> None:
        self._table = table
        self._key_for = key_for
        self._ciphers: dict[int, AESGCM] = {}
        # field_aad() is "strongroom/v1\0<table>\0<row id>\0<field>"; the table part is
        # checked and encoded once here, the rest per value.
        self._aad_prefix = field_aad(table, "", "").removesuffix(b"\x00\x00")

    def decrypt(self, sealed: bytes, row_id: str, field: str) -> bytes:
        # sealed_key_id(), field_aad() and _open() inlined: this runs once per secret of an
        # export (hundreds of thousands of times), and the calls were a third of its cost.
        if len(sealed) < _MIN_SEALED:
            raise DecryptionError("sealed value is too short")
        version, data_key_id = HEADER.unpack_from(sealed)
        if version != VERSION:
            raise DecryptionError(f"unknown sealed value version {version}")
        if "\x00" in row_id or "\x00" in field:
            raise ValueError("associated data parts must not contain NUL")
        cipher = self._ciphers.get(data_key_id)
        if cipher is None:
            cipher = self._ciphers[data_key_id] = AESGCM(self._key_for(data_key_id))
        aad = b"%s\x00%s\x00%s" % (self._aad_prefix, row_id.encode(), field.encode())
        try:
            return cipher.decrypt(
                sealed[HEADER.size : _BODY_START], sealed[_BODY_START:], sealed[: HEADER.size] + aad
            )
        except InvalidTag as exc:
            raise DecryptionError("ciphertext failed authentication") from exc


_MIN_SEALED = HEADER.size + NONCE_BYTES + 16
_BODY_START = HEADER.size + NONCE_BYTES


def _wrap_aad(data_key_id: int) -> bytes:
    return f"strongroom/v1\x00data-key\x00{data_key_id}".encode()


def wrap_key(master_key: bytes, data_key: bytes, *, data_key_id: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, _wrap_aad(data_key_id))


def unwrap_key(master_key: bytes, wrapped: bytes, *, data_key_id: int) -> bytes:
    try:
        return AESGCM(master_key).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(data_key_id)
        )
    except InvalidTag as exc:
        raise DecryptionError("data key could not be unwrapped with this master key") from exc


def parse_master_key(raw: bytes | str) -> bytes:
    """Accept a master key as 64 hex characters or standard/url-safe base64 of 32 bytes."""
    import base64
    import binascii

    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(
            text + "=" * (-len(text) % 4),
            altchars=b"-_" if ("-" in text or "_" in text) else None,
            validate=True,
        )
    except (binascii.Error, ValueError) as exc:
        raise ValueError("master key must be 32 bytes as 64 hex characters or base64") from exc
    if len(decoded) != KEY_BYTES:
        raise ValueError(f"master key must be 32 bytes, got {len(decoded)}")
    return decoded


def format_master_key(key: bytes) -> str:
    import base64

    return base64.b64encode(key).decode()
