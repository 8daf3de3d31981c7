"""Known-answer, golden-format and tamper tests for the envelope encryption primitives.

The published vectors are AES-256 test cases 13-16 of McGrew & Viega, "The Galois/Counter
Mode of Operation (GCM)" (the GCM submission to NIST), also used by NIST SP 800-38D
validation. Our sealed format prepends a header that is itself part of the associated data,
so a published vector's AAD cannot be passed through ``envelope.encrypt`` unchanged. The
tests therefore pin three things separately:

1. the primitive (AES-256-GCM from ``cryptography``) reproduces the published vectors;
2. an independent, from-the-specification GCM written here reproduces them too;
3. ``envelope.encrypt`` output equals that independent GCM over *our* framing
   (header || nonce || GCM(key, nonce, plaintext, header || field AAD)).
"""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto import envelope

_K15 = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
_IV15 = bytes.fromhex("cafebabefacedbaddecaf888")
_P15 = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
_C15 = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
)

# (name, key, iv, plaintext, aad, ciphertext || tag)
VECTORS = [
    (
        "test case 13 (empty plaintext)",
        bytes(32),
        bytes(12),
        b"",
        b"",
        bytes.fromhex("530f8afbc74536b9a963b4f1c4cb738b"),
    ),
    (
        "test case 14 (one zero block)",
        bytes(32),
        bytes(12),
        bytes(16),
        b"",
        bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"),
    ),
    (
        "test case 15 (four blocks)",
        _K15,
        _IV15,
        _P15,
        b"",
        _C15 + bytes.fromhex("b094dac5d93471bdec1a502270e3cc6c"),
    ),
    (
        "test case 16 (partial block, with AAD)",
        _K15,
        _IV15,
        _P15[:60],
        bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
        _C15[:60] + bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b"),
    ),
]


# --- an independent GCM, straight from NIST SP 800-38D (96-bit IVs only) -------------------


def _aes_block(key: bytes, block: bytes) -> bytes:
    # ECB on one block is the raw block cipher, which GCM is defined over.
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(block) + encryptor.finalize()


def _gf128_mul(x: int, y: int) -> int:
    """Multiplication in GF(2^128) with GCM's bit order (SP 800-38D, algorithm 1)."""
    r = 0xE1 << 120
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ r if v & 1 else v >> 1
    return z


def _pad16(data: bytes) -> bytes:
    return data + bytes(-len(data) % 16)


def reference_gcm(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
    assert len(iv) == 12
    h = int.from_bytes(_aes_block(key, bytes(16)), "big")
    j0 = iv + b"\x00\x00\x00\x01"
    out = bytearray()
    for index in range(0, len(plaintext), 16):
        counter = (index // 16 + 2).to_bytes(4, "big")
        stream = _aes_block(key, iv + counter)
        out += bytes(a ^ b for a, b in zip(plaintext[index : index + 16], stream, strict=False))
    ciphertext = bytes(out)
    blocks = (
        _pad16(aad)
        + _pad16(ciphertext)
        + (len(aad) * 8).to_bytes(8, "big")
        + (len(ciphertext) * 8).to_bytes(8, "big")
    )
    s = 0
    for index in range(0, len(blocks), 16):
        s = _gf128_mul(s ^ int.from_bytes(blocks[index : index + 16], "big"), h)
    tag = (int.from_bytes(_aes_block(key, j0), "big") ^ s).to_bytes(16, "big")
    return ciphertext + tag


# --- known answers ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "key", "iv", "pt", "aad", "expected"), VECTORS)
def test_aes256gcm_primitive_reproduces_published_vectors(name, key, iv, pt, aad, expected):
    assert AESGCM(key).encrypt(iv, pt, aad) == expected
    assert AESGCM(key).decrypt(iv, expected, aad) == pt


@pytest.mark.parametrize(("name", "key", "iv", "pt", "aad", "expected"), VECTORS)
def test_reference_gcm_reproduces_published_vectors(name, key, iv, pt, aad, expected):
    assert reference_gcm(key, iv, pt, aad) == expected


def test_envelope_framing_is_header_nonce_and_gcm_over_header_plus_field_aad():
    aad = envelope.field_aad(
        "strongroom_account", "7d1c9f0e-1b7a-4f0e-9a53-2f1c0c7e9b11", "password"
    )
    sealed = envelope.encrypt(_K15, _P15[:60], aad, data_key_id=0x01020304, nonce=_IV15)

    header = bytes([envelope.VERSION]) + bytes.fromhex("01020304")
    assert sealed[:5] == header
    assert sealed[5:17] == _IV15
    assert sealed[17:] == reference_gcm(_K15, _IV15, _P15[:60], header + aad)
    assert envelope.decrypt(_K15, sealed, aad) == _P15[:60]


def test_envelope_reproduces_vector_16_when_its_aad_is_our_header_plus_remainder():
    """Test case 16 with the AAD's first five bytes replaced by our header: the ciphertext
    is the published one (the AAD only affects the tag) and the tag is the reference's."""
    published_aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    header = bytes([envelope.VERSION]) + published_aad[1:5]
    data_key_id = int.from_bytes(published_aad[1:5], "big")
    sealed = envelope.encrypt(
        _K15, _P15[:60], published_aad[5:], data_key_id=data_key_id, nonce=_IV15
    )
    assert sealed[17:-16] == _C15[:60]
    assert sealed[17:] == reference_gcm(_K15, _IV15, _P15[:60], header + published_aad[5:])


# --- golden format ------------------------------------------------------------------------

GOLDEN_KEY = bytes(range(32))
GOLDEN_NONCE = bytes.fromhex("000102030405060708090a0b")
GOLDEN_AAD = envelope.field_aad(
    "strongroom_account", "00000000-0000-4000-8000-000000000001", "password"
)
# Sealed once by this code and pinned: values already in databases must stay readable, so
# any change to the format shows up here (and needs a new version byte, not an edit).
GOLDEN_SEALED = base64.b64decode(
    "AQAAACoAAQIDBAUGBwgJCgskbaRpoIa2O+Uu5fjUyRoM96LiRolbLAhZF4ngyogDrsR3LvLUsG+GcFFiCQ=="
)


def test_field_aad_names_table_row_and_field():
    assert GOLDEN_AAD == (
        b"strongroom/v1\x00strongroom_account\x0000000000-0000-4000-8000-000000000001\x00password"
    )
    with pytest.raises(ValueError, match="NUL"):
        envelope.field_aad("t", "1\x00", "f")


def test_golden_sealed_value_layout_and_content():
    sealed = envelope.encrypt(
        GOLDEN_KEY,
        b"correct horse battery staple",
        GOLDEN_AAD,
        data_key_id=42,
        nonce=GOLDEN_NONCE,
    )
    assert sealed == GOLDEN_SEALED
    assert sealed[0] == 1  # version
    assert sealed[1:5] == (42).to_bytes(4, "big")  # data key id
    assert sealed[5:17] == GOLDEN_NONCE
    assert len(sealed) == 1 + 4 + 12 + len(b"correct horse battery staple") + 16
    assert envelope.sealed_key_id(sealed) == 42
    assert sealed[17:] == reference_gcm(
        GOLDEN_KEY, GOLDEN_NONCE, b"correct horse battery staple", sealed[:5] + GOLDEN_AAD
    )
    assert (
        envelope.decrypt(GOLDEN_KEY, GOLDEN_SEALED, GOLDEN_AAD) == b"correct horse battery staple"
    )


def test_every_seal_uses_a_fresh_random_nonce():
    sealed = {envelope.encrypt(GOLDEN_KEY, b"same", GOLDEN_AAD, data_key_id=1) for _ in range(200)}
    assert len(sealed) == 200
    assert len({value[5:17] for value in sealed}) == 200


def test_encrypt_refuses_keys_that_are_not_256_bits():
    for size in (0, 16, 24, 31, 33):
        with pytest.raises(ValueError, match="32-byte"):
            envelope.encrypt(bytes(size), b"x", b"", data_key_id=1)


# --- tampering ----------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_flipping_any_byte_of_a_sealed_value_is_refused(mask):
    for index in range(len(GOLDEN_SEALED)):
        damaged = bytearray(GOLDEN_SEALED)
        damaged[index] ^= mask
        with pytest.raises(envelope.DecryptionError):
            envelope.decrypt(GOLDEN_KEY, bytes(damaged), GOLDEN_AAD)


def test_truncated_or_extended_values_are_refused():
    for cut in range(len(GOLDEN_SEALED)):
        with pytest.raises(envelope.DecryptionError):
            envelope.decrypt(GOLDEN_KEY, GOLDEN_SEALED[:cut], GOLDEN_AAD)
    with pytest.raises(envelope.DecryptionError):
        envelope.decrypt(GOLDEN_KEY, GOLDEN_SEALED + b"\x00", GOLDEN_AAD)


@pytest.mark.parametrize(
    "aad",
    [
        envelope.field_aad(
            "strongroom_account", "00000000-0000-4000-8000-000000000002", "password"
        ),
        envelope.field_aad("strongroom_account", "00000000-0000-4000-8000-000000000001", "notes"),
        envelope.field_aad(
            "strongroom_password_history", "00000000-0000-4000-8000-000000000001", "password"
        ),
        b"",
    ],
    ids=["other row", "other field", "other table", "no context"],
)
def test_a_sealed_value_in_another_context_is_refused(aad):
    with pytest.raises(envelope.DecryptionError):
        envelope.decrypt(GOLDEN_KEY, GOLDEN_SEALED, aad)


def test_a_different_key_is_refused():
    with pytest.raises(envelope.DecryptionError):
        envelope.decrypt(bytes(32), GOLDEN_SEALED, GOLDEN_AAD)


def test_unknown_version_is_refused():
    damaged = bytes([2]) + GOLDEN_SEALED[1:]
    with pytest.raises(envelope.DecryptionError, match="version 2"):
        envelope.sealed_key_id(damaged)


# --- data key wrapping --------------------------------------------------------------------


def test_wrapped_data_key_opens_only_with_its_master_key_and_id():
    master, other = envelope.new_key(), envelope.new_key()
    data_key = envelope.new_key()
    wrapped = envelope.wrap_key(master, data_key, data_key_id=7)
    assert data_key not in wrapped
    assert envelope.unwrap_key(master, wrapped, data_key_id=7) == data_key
    with pytest.raises(envelope.DecryptionError, match="master key"):
        envelope.unwrap_key(other, wrapped, data_key_id=7)
    # A wrapped key copied into another data key's row does not open there.
    with pytest.raises(envelope.DecryptionError):
        envelope.unwrap_key(master, wrapped, data_key_id=8)
    for index in range(len(wrapped)):
        damaged = bytearray(wrapped)
        damaged[index] ^= 0x01
        with pytest.raises(envelope.DecryptionError):
            envelope.unwrap_key(master, bytes(damaged), data_key_id=7)


# --- master key text and ids --------------------------------------------------------------


def test_master_key_id_is_a_stable_fingerprint_not_the_key():
    key = bytes(range(32))
    assert envelope.key_id(key) == envelope.key_id(bytes(range(32)))
    assert re.fullmatch(r"[0-9a-f]{16}", envelope.key_id(key))
    assert envelope.key_id(key) != envelope.key_id(bytes(32))
    assert envelope.key_id(key) not in key.hex()


def test_subkeys_differ_per_purpose_and_from_the_master_key():
    key = envelope.new_key()
    audit = envelope.derive_subkey(key, "audit")
    assert len(audit) == 32
    assert audit != envelope.derive_subkey(key, "export")
    assert audit != key


def test_master_key_text_forms_round_trip():
    key = envelope.new_key()
    text = envelope.format_master_key(key)
    assert envelope.parse_master_key(text) == key
    assert envelope.parse_master_key(text + "\n") == key
    assert envelope.parse_master_key(f"  {text}\r\n".encode()) == key
    assert envelope.parse_master_key(key.hex()) == key
    assert envelope.parse_master_key(key.hex().upper()) == key
    assert envelope.parse_master_key(base64.urlsafe_b64encode(key).decode().rstrip("=")) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        "ab" * 31,
        "zz" * 32,
        "é" * 44,
    ],
    ids=["empty", "words", "31 bytes", "33 bytes", "short hex", "bad hex", "non-ascii"],
)
def test_invalid_master_key_text_is_refused(text):
    with pytest.raises(ValueError, match="master key must be 32 bytes"):
        envelope.parse_master_key(text)
