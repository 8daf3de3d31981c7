"""Tampering is detected and never yields plaintext: every ciphertext byte, every header
field, the key fields (as a wrong passphrase, which they cannot be told apart from), and
whole-element swaps between files."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest

from strongroom.crypto import offline
from strongroom.crypto.offline import (
    OfflineError,
    OfflineFileDamaged,
    OfflineFormatUnsupported,
    OfflineWrongPassphrase,
)
from strongroom.exports.offline_file import offline_file_header, offline_file_open

from .helpers import GENERATED_AT, PASSPHRASE, build, cheap_keys, sample_entries

SECRETS = [e.password for e in sample_entries()] + [e.username for e in sample_entries()]


@pytest.fixture(scope="module")
def keys():
    return cheap_keys()


@pytest.fixture(scope="module")
def other_keys():
    return cheap_keys("another passphrase")


@pytest.fixture(scope="module")
def html(keys) -> bytes:
    return build(keys, sample_entries(), expires_at=GENERATED_AT.replace(year=2026))


def refused(
    html: bytes, expected: type[OfflineError], passphrase: str = PASSPHRASE
) -> OfflineError:
    """Opening fails with ``expected``, and the error carries no plaintext at all."""
    with pytest.raises(OfflineError) as caught:
        offline_file_open(html=html, passphrase=passphrase)
    error = caught.value
    assert type(error) is expected, (type(error), error.message)
    text = f"{error!r} {error} {error.message} {error.args!r}"
    assert not any(secret in text for secret in SECRETS)
    assert error.__cause__ is None  # nothing chained (e.g. a decode error quoting data)
    return error


def payload_of(html: bytes) -> bytes:
    start = html.index(b'id="strongroom-payload">') + len(b'id="strongroom-payload">')
    return html[start : html.index(b"</script>", start)]


def with_payload(html: bytes, payload_b64: bytes) -> bytes:
    old = payload_of(html)
    return html.replace(old, payload_b64, 1)


def header_bytes_of(html: bytes) -> bytes:
    start = html.index(b'id="strongroom-header">') + len(b'id="strongroom-header">')
    return html[start : html.index(b"</script>", start)]


def with_header(html: bytes, header: dict[str, Any] | bytes) -> bytes:
    new = header if isinstance(header, bytes) else offline.header_serialise(header)
    return html.replace(header_bytes_of(html), new, 1)


def edited(html: bytes, **changes: Any) -> bytes:
    header = offline_file_header(html)
    header.update(changes)
    return with_header(html, header)


def flip_b64(text: str, index: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# ---------------------------------------------------------------------------- ciphertext


def test_flipping_any_ciphertext_byte_is_detected(html):
    ciphertext = base64.b64decode(payload_of(html))
    n = len(ciphertext)
    positions = {0, 1, 2, 15, 16, n // 2, n - 17, n - 16, n - 2, n - 1}
    positions |= set(random.Random(4).sample(range(n), min(n, 60)))
    for position in sorted(positions):
        for mask in (0x01, 0x80):
            damaged = bytearray(ciphertext)
            damaged[position] ^= mask
            tampered = with_payload(html, base64.b64encode(bytes(damaged)))
            refused(tampered, OfflineFileDamaged)


def test_truncated_extended_or_missing_payload_is_detected(html):
    ciphertext = base64.b64decode(payload_of(html))
    for variant in (ciphertext[:-1], ciphertext[1:], ciphertext + b"\x00", ciphertext[:16], b""):
        refused(with_payload(html, base64.b64encode(variant)), OfflineFileDamaged)
    refused(with_payload(html, payload_of(html)[:-3] + b"!!="), OfflineFileDamaged)
    refused(html.replace(b'id="strongroom-payload"', b'id="something-else"'), OfflineFileDamaged)
    refused(html[: html.index(b"strongroom-payload") + 200], OfflineFileDamaged)


def test_payload_of_another_build_with_the_same_keys_is_detected(keys, html):
    other = build(keys, [e for e in sample_entries() if e.name != "Payroll DB"])
    refused(with_payload(html, payload_of(other)), OfflineFileDamaged)
    refused(with_payload(other, payload_of(html)), OfflineFileDamaged)


# ---------------------------------------------------------------------------- header


@pytest.mark.parametrize(
    "change",
    [
        {"generated_at": "2031-01-01T00:00:00Z"},
        {"generated_at": "2025-03-14T09:26:54Z"},
        {"expires_at": None},
        {"expires_at": "2099-12-31T23:59:59Z"},
        {"title": "Acme IT "},
        {"title": "<img src=x onerror=alert(1)>"},
        {"owner": "mallory"},
        {"payload_nonce": "AAAAAAAAAAAAAAAA"},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items())[:40],
)
def test_editing_a_header_field_is_damaged_or_edited(html, change):
    refused(edited(html, **change), OfflineFileDamaged)


def test_editing_the_payload_nonce_bit_by_bit_is_detected(html):
    nonce = offline_file_header(html)["payload_nonce"]
    for index in range(12):
        refused(edited(html, payload_nonce=flip_b64(nonce, index)), OfflineFileDamaged)


def test_replacing_the_ephemeral_key_is_detected(html, other_keys):
    header = offline_file_header(html)
    another_point = base64.b64encode(other_keys.public_key).decode()
    refused(edited(html, ephemeral_public_key=another_point), OfflineFileDamaged)
    # Not a point on the curve at all.
    refused(
        edited(html, ephemeral_public_key=flip_b64(header["ephemeral_public_key"], 40)),
        OfflineFileDamaged,
    )


@pytest.mark.parametrize(
    "field", ["kdf_iterations", "kdf_salt", "public_key", "wrapped_private_key"]
)
def test_editing_a_key_field_reads_as_wrong_passphrase_or_edited(html, other_keys, field):
    header = offline_file_header(html)
    if field == "kdf_iterations":
        values = [header[field] + 1, header[field] - 1, 600_000]
    elif field == "public_key":
        values = [base64.b64encode(other_keys.public_key).decode()]
    else:
        values = [flip_b64(header[field], i) for i in (0, len(base64.b64decode(header[field])) - 1)]
    for value in values:
        error = refused(edited(html, **{field: value}), OfflineWrongPassphrase)
        assert "wrong passphrase, or" in error.message and "edited" in error.message


def test_swapping_in_another_copys_keys_is_detected(html, other_keys):
    """Re-keying a file: the attacker's own key fields unwrap with the attacker's
    passphrase, but the payload was sealed to the original key pair and header."""
    header = offline_file_header(html)
    header.update(
        kdf_iterations=other_keys.iterations,
        kdf_salt=base64.b64encode(other_keys.salt).decode(),
        public_key=base64.b64encode(other_keys.public_key).decode(),
        wrapped_private_key=base64.b64encode(other_keys.wrapped_private_key).decode(),
    )
    refused(with_header(html, header), OfflineFileDamaged, passphrase="another passphrase")


def test_implausible_iteration_counts_are_refused_before_any_work(html):
    for value in (0, -1, offline.MAX_ITERATIONS + 1, 2**63, 1.5, "600000", True, None):
        refused(edited(html, kdf_iterations=value), OfflineFileDamaged)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, OfflineFormatUnsupported),  # a version this reader does not know
        (0, OfflineFormatUnsupported),
        # Version 1's rules on a version 3 file: its wrapped key is the wrong size.
        (1, OfflineFileDamaged),
        # Version 2's rules: one base64 text (segments are not), another content key.
        (2, OfflineFileDamaged),
        ("3", OfflineFileDamaged),  # not an integer: damaged, in the viewer too
        (3.0, OfflineFileDamaged),
        (None, OfflineFileDamaged),
    ],
)
def test_editing_the_version_is_refused(html, value, expected):
    refused(edited(html, version=value), expected)


def test_editing_the_format_name_is_refused(html):
    refused(edited(html, format="strongroom-offline-2"), OfflineFormatUnsupported)


def test_adding_removing_or_reformatting_header_fields_is_detected(html):
    header = offline_file_header(html)
    refused(edited(html, comment="harmless?"), OfflineFileDamaged)
    for name in ("title", "expires_at", "payload_nonce"):
        smaller = dict(header)
        del smaller[name]
        refused(with_header(html, smaller), OfflineFileDamaged)
    # Same JSON value, different bytes: the associated data is the exact bytes.
    spaced = json.dumps(header, sort_keys=True, separators=(", ", ": ")).encode()
    refused(with_header(html, spaced), OfflineFileDamaged)
    reordered = json.dumps(dict(reversed(list(header.items()))), separators=(",", ":")).encode()
    refused(with_header(html, reordered), OfflineFileDamaged)
    refused(with_header(html, b"{not json"), OfflineFileDamaged)
    refused(with_header(html, b"[]"), OfflineFileDamaged)
    refused(with_header(html, b""), OfflineFileDamaged)


def test_bad_dates_are_damaged(html):
    for value in ("2025-03-14 09:26:53", "2025-02-30T00:00:00Z", 1710408413, ""):
        refused(edited(html, generated_at=value), OfflineFileDamaged)


def test_flipping_any_header_character_is_detected(html):
    """Every byte of the header text, changed to another plausible character."""
    raw = header_bytes_of(html)
    for index in range(len(raw)):
        original = raw[index : index + 1]
        replacement = b"1" if original != b"1" else b"2"
        tampered = with_header(html, raw[:index] + replacement + raw[index + 1 :])
        with pytest.raises(OfflineError) as caught:
            offline_file_open(html=tampered, passphrase=PASSPHRASE)
        assert not any(secret in str(caught.value) for secret in SECRETS)


# ---------------------------------------------------------------------------- passphrase


@pytest.mark.parametrize(
    "wrong", ["", " ", PASSPHRASE + " ", PASSPHRASE.upper(), PASSPHRASE[:-1], "x" * 10_000]
)
def test_wrong_passphrase(html, wrong):
    error = refused(html, OfflineWrongPassphrase, passphrase=wrong)
    assert error.code == "wrong_passphrase"


def test_not_an_offline_file():
    for data in (b"", b"<html><body>hello</body></html>", b"\x00\xff" * 100):
        refused(data, OfflineFormatUnsupported)
    with pytest.raises(OfflineFormatUnsupported):
        offline_file_header(b"<html></html>")
