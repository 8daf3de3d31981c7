"""The table of hostile offline files: each row a file (made by tests/offline/forge.py) and
the verdict both readers must give it (the spec's strict reading rules): ``ok`` (version 2),
``ok_v1``, ``wrong_passphrase``, ``damaged`` or ``unsupported``.

Cheap PBKDF2 (1,000 iterations) everywhere except the rows about the iteration count.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from . import forge
from .forge import Keys, Page, Spec, edit_header_text, gzip_one, payload_json, row_v1, row_v2
from .helpers import PASSPHRASE, build, cheap_keys, sample_entries

WRONG_PASSPHRASE = "not the passphrase"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass(frozen=True)
class Row:
    name: str
    verdict: str
    make: Callable[[], bytes]
    passphrase: str = PASSPHRASE


@cache
def page() -> Page:
    """The real page (viewer script, style, CSP) of a file made by the reference builder."""
    return Page.from_file(build(cheap_keys(), sample_entries()[:1]))


@cache
def keys() -> Keys:
    return Keys.fresh(PASSPHRASE, iterations=1_000)


@cache
def kek() -> bytes:
    return keys().kek()


def rows_v2() -> list[list[object]]:
    return [
        forge.row_v2(
            name="Core router",
            type="router",
            host="rt1.acme.internal",
            url="https://rt1.acme.internal/admin",
            username="admin",
            password="S3cr3t<&>'\"!",
            notes="Rack 4\nSecond line",
            totp="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            folder="Infrastructure/Network",
            department="IT",
            location="Berlin DC",
            updated="2025-01-02T03:04:05Z",
            description="The edge router \u202e🔐",
            custom=[["Serial", "FX-1234"], ["Rack", "4"]],
        ),
        forge.row_v2(name="Payroll DB", username="svc_payroll", password="pw-2"),
    ]


def rows_v1() -> list[list[object]]:
    return [row[:12] for row in rows_v2()]


def make(version: int = 2, **changes: object) -> bytes:
    spec = Spec(version=version, rows=rows_v2() if version == 2 else rows_v1())
    for key, value in changes.items():
        setattr(spec, key, value)
    return forge.build(page(), keys(), spec, kek=kek())


def with_padding(version: int = 2, **changes: object) -> bytes:
    """A file whose payload base64 ends with "=" (its ciphertext length is not a multiple
    of 3): the rows are varied until it does."""
    for extra in range(24):
        rows = rows_v2() if version == 2 else rows_v1()
        rows[1][0] = "Payroll DB " + "qwertyuiopasdfghjklzxcvbnm"[:extra]
        _, payload = forge.split_file(make(version, rows=rows))
        if payload.endswith(b"="):
            # The same rows again (a fresh ephemeral key changes no length), edited.
            return make(version, rows=rows, **changes)
    raise AssertionError("no padded payload found")


# ---------------------------------------------------------------------- page edits


def header_element(html: bytes) -> bytes:
    start = html.index(forge.HEADER_OPEN)
    return html[start : html.index(forge.CLOSE, start) + len(forge.CLOSE)]


def second_header() -> bytes:
    html = make()
    element = header_element(html)
    return html.replace(element, element + b"\n" + element, 1)


def decoy_in_comment() -> bytes:
    html = make()
    element = header_element(html)
    return html.replace(b"<body>", b"<body>\n<!-- " + element + b" -->", 1)


def decoy_div() -> bytes:
    return make().replace(b"<body>", b'<body>\n<div id="strongroom-header"></div>', 1)


def header_after_payload() -> bytes:
    html = make()
    element = header_element(html)
    html = html.replace(element, b"", 1)
    start = html.index(forge.PAYLOAD_OPEN)
    end = html.index(forge.CLOSE, start) + len(forge.CLOSE)
    return html[:end] + b"\n" + element + html[end:]


def no_elements() -> bytes:
    html = make()
    element = header_element(html)
    html = html.replace(element, b"", 1)
    start = html.index(forge.PAYLOAD_OPEN)
    end = html.index(forge.CLOSE, start) + len(forge.CLOSE)
    return html[:start] + html[end:]


def _flip_pad_bits(text: bytes) -> bytes:
    """Set an unused low bit of the last symbol before the "=" padding."""
    pad = len(text) - len(text.rstrip(b"="))
    assert pad, text
    at = len(text) - pad - 1
    symbol = B64.index(chr(text[at]))
    return text[:at] + B64[symbol | 1].encode() + text[at + 1 :]


def salt_noncanonical(text: bytes) -> bytes:
    salt = re.search(rb'"kdf_salt":"([^"]+)"', text)
    assert salt is not None
    return text.replace(salt.group(1), _flip_pad_bits(salt.group(1)), 1)


def salt_unpadded(text: bytes) -> bytes:
    salt = re.search(rb'"kdf_salt":"([^"]+)"', text)
    assert salt is not None
    return text.replace(salt.group(1), salt.group(1).rstrip(b"="), 1)


def line_breaks(payload: bytes) -> bytes:
    return b"\n".join(payload[i : i + 76] for i in range(0, len(payload), 76))


def unsorted_header() -> bytes:
    def edit(text: bytes) -> bytes:
        header = json.loads(text)
        return json.dumps(dict(reversed(list(header.items()))), separators=(",", ":")).encode()

    return make(header_text_edit=edit)


def two_members() -> bytes:
    text = payload_json(2, rows_v2())
    half = len(text) // 2
    return make(gzipped=gzip_one(text[:half]) + gzip_one(text[half:]))


def v1_duplicate_entries() -> bytes:
    evil = json.dumps([row_v1(name="Injected", password="x")], separators=(",", ":"))
    real = payload_json(1, rows_v1())
    assert real.endswith(b"]}")
    text = real[:-1] + b',"entries":' + evil.encode() + b"}"
    return make(1, plaintext=text)


def v2_plain(document: object) -> bytes:
    return make(plaintext=json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode())


def v2_text_edit(old: bytes, new: bytes) -> bytes:
    text = payload_json(2, rows_v2())
    assert text.count(old) == 1, old
    return make(plaintext=text.replace(old, new))


def v1_text_edit(old: bytes, new: bytes) -> bytes:
    text = payload_json(1, rows_v1())
    assert text.count(old) == 1, old
    return make(1, plaintext=text.replace(old, new))


def forged(version_of_copy: int, construction: int | None = None) -> bytes:
    return forge.forge_from_copy(make(version_of_copy), construction=construction)


FIELDS2 = forge.V2_FIELDS

ROWS: list[Row] = [
    # --- good files
    Row("valid-v2", "ok", lambda: make()),
    Row("valid-v1", "ok_v1", lambda: make(1)),
    Row("title-1000-astral", "ok", lambda: make(title="😀" * 1000)),
    Row("escaped-backslash-then-ud800", "ok", lambda: v2_text_edit(b'"pw-2"', b'"\\\\ud800"')),
    Row("surrogate-pair-escapes", "ok", lambda: v2_text_edit(b'"pw-2"', b'"\\ud83d\\udd10"')),
    Row("v1-forgery-against-v1-copy", "ok_v1", lambda: forged(1)),
    # --- rule 1: elements
    Row("not-a-strongroom-file", "unsupported", no_elements),
    Row("second-header-element", "damaged", second_header),
    Row("decoy-header-in-comment", "damaged", decoy_in_comment),
    Row("decoy-div-with-header-id", "damaged", decoy_div),
    Row("header-after-payload", "damaged", header_after_payload),
    # --- rule 2: canonical header
    Row(
        "header-whitespace",
        "damaged",
        lambda: make(header_text_edit=edit_header_text(rb",", b", ")),
    ),
    Row("header-unsorted-keys", "damaged", unsorted_header),
    Row(
        "header-duplicate-key",
        "damaged",
        lambda: make(
            header_text_edit=edit_header_text(rb'"owner":', b'"owner":"mallory","owner":')
        ),
    ),
    Row("header-not-json", "damaged", lambda: make(header_bytes=b"{not json}")),
    Row(
        "header-uppercase-escape",
        "damaged",
        lambda: make(
            title="caf\u00e9", header_text_edit=edit_header_text(rb"\\u00e9", rb"\\u00E9")
        ),
    ),
    Row(
        "header-version-2.0",
        "damaged",
        lambda: make(header_text_edit=edit_header_text(rb'"version":2', b'"version":2.0')),
    ),
    Row(
        "header-version-1.0",
        "damaged",
        lambda: make(1, header_text_edit=edit_header_text(rb'"version":1', b'"version":1.0')),
    ),
    Row(
        "header-nan-is-not-json",
        "damaged",
        lambda: make(
            header_edit={"format": "other-vault"},
            header_text_edit=edit_header_text(rb'"kdf_iterations":\d+', b'"kdf_iterations":NaN'),
        ),
    ),
    Row(
        "header-version-minus-0",
        "damaged",
        lambda: make(header_text_edit=edit_header_text(rb'"version":2', b'"version":-0')),
    ),
    Row("header-title-with-del", "ok", lambda: make(title="a\x7fb")),
    # A fraction or a huge integer is canonical when written as Python writes it; what
    # decides is then the format (the viewer reads numbers' source text to judge).
    Row(
        "header-fraction-wrong-format",
        "unsupported",
        lambda: make(header_edit={"format": "other-vault", "x": [1.5, 1e16, 1e-05, -0.0]}),
    ),
    Row(
        "header-huge-integer-wrong-format",
        "unsupported",
        lambda: make(header_edit={"format": "other-vault", "x": 2**64}),
    ),
    Row(
        "header-nested-wrong-format",
        "unsupported",
        lambda: make(header_edit={"format": "other-vault", "x": {"b": True, "a": [None, "<"]}}),
    ),
    # --- rule 3: format and version
    Row("header-version-string", "damaged", lambda: make(header_version="2")),
    Row("header-version-3", "unsupported", lambda: make(header_version=3)),
    Row("header-wrong-format", "unsupported", lambda: make(header_edit={"format": "other-vault"})),
    # --- rule 4: keys, values
    Row("header-unknown-key", "damaged", lambda: make(header_edit={"comment": "hi"})),
    Row("header-missing-key", "damaged", lambda: make(header_drop=("owner",))),
    Row(
        "header-salt-15-bytes",
        "damaged",
        lambda: make(header_edit={"kdf_salt": base64.b64encode(b"s" * 15).decode()}),
    ),
    Row(
        "v2-with-60-byte-wrapped-key", "damaged", lambda: make(wrapped=keys().wrapped(1, kek=kek()))
    ),
    Row(
        "v1-with-92-byte-wrapped-key",
        "damaged",
        lambda: make(1, wrapped=keys().wrapped(2, kek=kek())),
    ),
    Row("iterations-0", "damaged", lambda: make(header_edit={"kdf_iterations": 0})),
    Row("iterations-20000001", "damaged", lambda: make(header_edit={"kdf_iterations": 20_000_001})),
    Row("generated-at-2025-02-30", "damaged", lambda: make(generated_at="2025-02-30T00:00:00Z")),
    Row("expires-at-not-utc", "damaged", lambda: make(expires_at="2025-04-01T00:00:00+01:00")),
    Row("title-1001-astral", "damaged", lambda: make(title="😀" * 1001)),
    Row("title-lone-surrogate", "damaged", lambda: make(title="a\ud800b")),
    Row("generated-at-second-60", "damaged", lambda: make(generated_at="2025-01-01T00:00:60Z")),
    Row("generated-at-year-0", "damaged", lambda: make(generated_at="0000-01-01T00:00:00Z")),
    Row("generated-at-1900-02-29", "damaged", lambda: make(generated_at="1900-02-29T00:00:00Z")),
    Row("generated-at-2024-02-29", "ok", lambda: make(generated_at="2024-02-29T23:59:59Z")),
    Row("made-in-2099", "ok", lambda: make(generated_at="2099-01-01T00:00:00Z")),
    Row("owner-1001-ascii", "damaged", lambda: make(owner="o" * 1001)),
    # --- rule 5: base64
    Row("payload-base64-line-breaks", "damaged", lambda: make(payload_b64_edit=line_breaks)),
    Row("header-base64-missing-padding", "damaged", lambda: make(header_text_edit=salt_unpadded)),
    Row(
        "payload-base64-missing-padding",
        "damaged",
        lambda: with_padding(payload_b64_edit=lambda p: p.rstrip(b"=")),
    ),
    Row(
        "header-base64-noncanonical-bits",
        "damaged",
        lambda: make(header_text_edit=salt_noncanonical),
    ),
    Row(
        "payload-base64-noncanonical-bits",
        "damaged",
        lambda: with_padding(payload_b64_edit=_flip_pad_bits),
    ),
    Row("payload-too-short", "damaged", lambda: make(payload_b64=base64.b64encode(b"short"))),
    # --- rules 6-7: keys and authentication
    Row("wrong-passphrase", "wrong_passphrase", lambda: make(), passphrase=WRONG_PASSPHRASE),
    Row("v2-forgery-zero-build-key", "damaged", lambda: forged(2)),
    Row("v2-copy-forged-with-v1-construction", "damaged", lambda: forged(2, construction=1)),
    # --- rule 8: gzip, ASCII, JSON
    Row(
        "gzip-trailing-data",
        "damaged",
        lambda: make(gzipped=gzip_one(payload_json(2, rows_v2())) + b"\0\0\0\0"),
    ),
    Row("gzip-two-members", "damaged", two_members),
    Row("payload-not-ascii", "damaged", lambda: v2_text_edit(b'"pw-2"', '"pw-é"'.encode())),
    Row("payload-not-json", "damaged", lambda: make(plaintext=b'["strongroom-offline-payload",2,')),
    # --- rules 9-10: layout and strings
    Row(
        "v2-unknown-payload-field",
        "damaged",
        lambda: v2_plain(
            ["strongroom-offline-payload", 2, [*FIELDS2, "color"], [[*r, "red"] for r in rows_v2()]]
        ),
    ),
    Row(
        "v2-payload-version-1",
        "damaged",
        lambda: v2_plain(["strongroom-offline-payload", 1, FIELDS2, rows_v2()]),
    ),
    Row(
        "v2-payload-is-v1-object",
        "damaged",
        lambda: make(plaintext=payload_json(1, rows_v1())),
    ),
    Row(
        "v2-row-wrong-length",
        "damaged",
        lambda: v2_plain(["strongroom-offline-payload", 2, FIELDS2, [rows_v2()[0][:13]]]),
    ),
    Row(
        "v2-custom-pair-3-items",
        "damaged",
        lambda: v2_plain(
            ["strongroom-offline-payload", 2, FIELDS2, [row_v2(name="x", custom=[["a", "b", "c"]])]]
        ),
    ),
    Row(
        "v2-custom-pair-not-string",
        "damaged",
        lambda: v2_plain(
            ["strongroom-offline-payload", 2, FIELDS2, [row_v2(name="x", custom=[["a", 1]])]]
        ),
    ),
    Row(
        "v2-updated-not-a-date",
        "damaged",
        lambda: v2_plain(
            [
                "strongroom-offline-payload",
                2,
                FIELDS2,
                [row_v2(name="x", updated="2025-13-01T00:00:00Z")],
            ]
        ),
    ),
    Row(
        "value-1000001-code-points",
        "damaged",
        lambda: v2_plain(
            ["strongroom-offline-payload", 2, FIELDS2, [row_v2(notes="n" * 1_000_001)]]
        ),
    ),
    Row(
        "value-600000-astral-code-points",
        "ok",
        lambda: v2_plain(
            ["strongroom-offline-payload", 2, FIELDS2, [row_v2(notes="😀" * 600_000)]]
        ),
    ),
    Row("lone-surrogate-in-value", "damaged", lambda: v2_text_edit(b'"pw-2"', b'"pw\\ud800"')),
    Row("lone-low-surrogate-in-value", "damaged", lambda: v2_text_edit(b'"pw-2"', b'"\\udc00pw"')),
    Row("v1-duplicate-entries-key", "damaged", v1_duplicate_entries),
    # Found by the red team (one reader accepted what the other refused):
    Row("made-date-in-arabic-digits", "damaged", lambda: make(generated_at="٢٠٩٩-01-01T00:00:00Z")),
    Row(
        "updated-in-arabic-digits",
        "damaged",
        lambda: v2_text_edit(b'"2025-01-02T03:04:05Z"', b'"\\u0662025-01-02T03:04:05Z"'),
    ),
    Row(
        "payload-version-2.0",
        "damaged",
        lambda: v2_text_edit(
            b'"strongroom-offline-payload",2,', b'"strongroom-offline-payload",2.0,'
        ),
    ),
    Row(
        "payload-with-space-after-format",
        "damaged",
        lambda: v2_text_edit(
            b'"strongroom-offline-payload",2,', b'"strongroom-offline-payload", 2,'
        ),
    ),
    Row(
        "v1-payload-version-1.0",
        "damaged",
        lambda: v1_text_edit(b'"version":1,', b'"version":1.0,'),
    ),
    Row(
        "payload-utf16",
        "damaged",
        lambda: make(plaintext=payload_json(2, rows_v2()).decode().encode("utf-16-le")),
    ),
]

ROWS_BY_NAME = {row.name: row for row in ROWS}
assert len(ROWS_BY_NAME) == len(ROWS)
