"""The table of hostile offline files: each row a file (made by tests/offline/forge.py) and
the verdict both readers must give it (the spec's strict reading rules): ``ok`` (versions 2-4),
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


def rows_v3() -> list[list[object]]:
    """Three entries: segment 0 (all three names, the first entry's values), segment 1 and
    segment 2 (one entry each; 2 is the last)."""
    return [*rows_v2(), forge.row_v2(name="Door code", password="4711", custom=[["Floor", "3"]])]


# Version 4: the attachments the rows carry (bytes by name) and list.
CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\xff\x00 binary tail\n"
KEY = b"\x00\x01\x02 ssh key bytes \xfe\xff"
forge.FILE_BYTES.update({"ca.pem": CERT, "id_ed25519": KEY})


def rows_v4() -> list[list[object]]:
    """Three entries as in version 3; the first carries ca.pem and lists an image over the
    cap, the third carries id_ed25519. Segments: 0 (names, first row), 1, 2 (rows), then 3
    (ca.pem's bytes) and 4 (id_ed25519's, the last)."""
    rows = [[*row, []] for row in rows_v3()]
    rows[0][-1] = [forge.attachment("ca.pem", CERT), forge.attachment("disk.iso", None, 5_000_000)]
    rows[2][-1] = [forge.attachment("id_ed25519", KEY)]
    return rows


def v4_json(rows: list[list[object]], files: list[list[str]] | None = None) -> bytes:
    """A version 4 file sealed by the keyholder: these rows, and these attachment segments
    (default: the honest ones for the carried files the rows list)."""
    return make(4, rows=rows, segments=forge.segments_json(rows, version=4, files=files))


def v4_named(name: str) -> bytes:
    """ca.pem carried under another name, in its row and its segment alike."""
    rows = rows_v4()
    rows[0][-1][0][0] = name
    files = [forge.file_segment(0, name, CERT), forge.file_segment(2, "id_ed25519", KEY)]
    return v4_json(rows, files)


def v4_listed(item: list[object]) -> bytes:
    """The first row's first attachment list item replaced (its segment unchanged)."""
    rows = rows_v4()
    rows[0][-1][0] = item
    return v4_json(rows, [forge.file_segment(0, "ca.pem", CERT),
                          forge.file_segment(2, "id_ed25519", KEY)])  # fmt: skip


def v4_files(*files: list[str]) -> bytes:
    return v4_json(rows_v4(), list(files))


def v4_disk_size(size: str) -> bytes:
    """The listed-only disk.iso of the first row at this size."""
    rows = rows_v4()
    rows[0][-1][1] = ["disk.iso", size, None]
    return v4_json(rows)


def v4_many(count: int) -> bytes:
    """The second row lists ``count`` files, none carried (the cap is 100 per row)."""
    rows = rows_v4()
    rows[1][-1] = [forge.attachment(f"f{i}.bin", None, 1) for i in range(count)]
    return v4_json(rows)


def make(version: int = 2, **changes: object) -> bytes:
    rows = {1: rows_v1, 2: rows_v2, 3: rows_v3, 4: rows_v4}[version]()
    spec = Spec(version=version, rows=rows)
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


def v3_segments(edit: Callable[[list[bytes]], list[bytes]]) -> bytes:
    """A genuine version 3 file whose "."-separated segments are then moved, repeated or
    dropped by someone without any key."""

    def segments(payload: bytes) -> bytes:
        parts = payload.split(b".")
        assert len(parts) == 3
        return b".".join(edit(parts))

    return make(3, payload_b64_edit=segments)


def v3_spliced() -> bytes:
    """Segment 1 of another file of the same copy (same keys, same entries) in its place."""
    other = forge.split_file(make(3))[1].split(b".")

    def splice(payload: bytes) -> bytes:
        parts = payload.split(b".")
        parts[1] = other[1]
        return b".".join(parts)

    return make(3, payload_b64_edit=splice)


def v4_spliced() -> bytes:
    """Segment 3 (ca.pem's bytes) of another file of the same copy in its place."""
    other = forge.split_file(make(4))[1].split(b".")

    def splice(payload: bytes) -> bytes:
        parts = payload.split(b".")
        parts[3] = other[3]
        return b".".join(parts)

    return make(4, payload_b64_edit=splice)


def v3_json(*segments: object) -> bytes:
    """A version 3 file sealed by the builder (it has the keys) with these segment JSONs."""
    return make(3, segments=[json.dumps(s, ensure_ascii=True, separators=(",", ":")).encode()
                             for s in segments])  # fmt: skip


def v3_names() -> list[str]:
    return [str(row[0]) for row in rows_v3()]


def v3_rest() -> list[list[object]]:
    return [row[1:] for row in rows_v3()]


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
    Row("valid-v3", "ok", lambda: make(3)),
    Row(
        "v3-one-segment",
        "ok",
        lambda: v3_json(["strongroom-offline-payload", 3, FIELDS2, v3_names(), v3_rest()]),
    ),
    # --- version 3: segments (STREAM: each sealed for its index, last flag, header, file)
    Row("v3-last-segment-cut-off", "damaged", lambda: v3_segments(lambda p: p[:2])),
    Row("v3-only-segment-0", "damaged", lambda: v3_segments(lambda p: p[:1])),
    Row("v3-segments-reordered", "damaged", lambda: v3_segments(lambda p: [p[0], p[2], p[1]])),
    Row("v3-segment-repeated", "damaged", lambda: v3_segments(lambda p: [p[0], p[1], p[1], p[2]])),
    Row("v3-middle-segment-dropped", "damaged", lambda: v3_segments(lambda p: [p[0], p[2]])),
    Row("v3-segment-0-moved-last", "damaged", lambda: v3_segments(lambda p: [p[1], p[2], p[0]])),
    Row("v3-empty-segment-text", "damaged", lambda: v3_segments(lambda p: [*p, b""])),
    Row("v3-segment-from-another-file", "damaged", v3_spliced),
    Row(
        "v3-no-last-flag",  # sealed by the keyholder with last = 0 everywhere
        "damaged",
        lambda: make(3, seal_as=[(0, False), (1, False), (2, False)]),
    ),
    Row(
        "v3-last-flag-on-a-middle-segment",
        "damaged",
        lambda: make(3, seal_as=[(0, False), (1, True), (2, True)]),
    ),
    Row(
        "v3-sealed-at-other-indexes",
        "damaged",
        lambda: make(3, seal_as=[(0, False), (2, False), (1, True)]),
    ),
    # --- version 3: segment contents (sealed by the keyholder, still refused)
    Row(
        "v3-fewer-rows-than-names",
        "damaged",
        lambda: v3_json(
            ["strongroom-offline-payload", 3, FIELDS2, v3_names(), v3_rest()[:1]], v3_rest()[1:2]
        ),
    ),
    Row(
        "v3-more-rows-than-names",
        "damaged",
        lambda: v3_json(
            ["strongroom-offline-payload", 3, FIELDS2, v3_names()[:2], v3_rest()[:1]],
            v3_rest()[1:],
        ),
    ),
    Row(
        "v3-empty-later-segment",
        "damaged",
        lambda: v3_json(["strongroom-offline-payload", 3, FIELDS2, v3_names(), v3_rest()], []),
    ),
    Row(
        "v3-rows-with-their-names",
        "damaged",
        lambda: v3_json(["strongroom-offline-payload", 3, FIELDS2, v3_names(), rows_v3()]),
    ),
    Row(
        "v3-name-not-a-string",
        "damaged",
        lambda: v3_json(
            ["strongroom-offline-payload", 3, FIELDS2, [*v3_names()[:2], None], v3_rest()]
        ),
    ),
    Row(
        "v3-version-2-payload-in-segment-0",
        "damaged",
        lambda: make(3, segments=[payload_json(2, rows_v3())]),
    ),
    Row(
        "v3-payload-version-3.0",
        "damaged",
        lambda: make(
            3,
            segments=[
                forge.segments_json(rows_v3())[0].replace(
                    b'"strongroom-offline-payload",3,', b'"strongroom-offline-payload",3.0,'
                ),
                *forge.segments_json(rows_v3())[1:],
            ],
        ),
    ),
    Row(
        "v3-lone-surrogate-in-later-segment",
        "damaged",
        lambda: make(
            3,
            segments=[
                *forge.segments_json(rows_v3())[:2],
                forge.segments_json(rows_v3())[2].replace(b'"4711"', b'"47\\ud80011"'),
            ],
        ),
    ),
    Row(
        "v3-two-gzip-members-in-a-segment",
        "damaged",
        lambda: make(
            3,
            gzipped=gzip_one(forge.segments_json(rows_v3())[0][:40])
            + gzip_one(forge.segments_json(rows_v3())[0][40:]),
        ),
    ),
    Row("v3-forgery-against-v3-copy", "damaged", lambda: forged(3)),
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
    Row("header-version-5", "unsupported", lambda: make(header_version=5)),
    # A version 2 file relabelled 3: another content key (and one segment sealed as v2).
    Row("header-version-2-relabelled-3", "damaged", lambda: make(header_version=3)),
    Row("header-version-3-relabelled-2", "damaged", lambda: make(3, header_version=2)),
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

SHA_CERT = forge.attachment("ca.pem", CERT)[2]
CA0 = forge.file_segment(0, "ca.pem", CERT)
KEY2 = forge.file_segment(2, "id_ed25519", KEY)

ROWS += [
    # --- version 4: attachments (sealed by the keyholder, so only the layout can refuse)
    Row("valid-v4", "ok", lambda: make(4)),
    Row(
        "v4-markup-and-emoji-name-is-text",
        "ok",
        lambda: v4_named("<img src=x onerror=alert(1)> =1+1 🔐.pem"),
    ),
    Row("v4-no-attachments", "ok", lambda: v4_json([[*row, []] for row in rows_v3()], [])),
    Row("v4-forgery-against-v4-copy", "damaged", lambda: forged(4)),
    Row(
        "v4-version-3-rows-in-a-version-4-file",
        "damaged",
        lambda: make(4, segments=forge.segments_json(rows_v3())),
    ),
    Row("v4-header-relabelled-3", "damaged", lambda: make(4, header_version=3)),
    # sizes: declared vs decoded, and the size's exact text
    Row(
        "v4-attachment-size-larger-than-data",
        "damaged",
        lambda: v4_listed(["ca.pem", str(len(CERT) + 1), SHA_CERT]),
    ),
    Row(
        "v4-attachment-size-smaller-than-data",
        "damaged",
        lambda: v4_listed(["ca.pem", str(len(CERT) - 1), SHA_CERT]),
    ),
    Row(
        "v4-attachment-size-a-json-number",
        "damaged",
        lambda: v4_listed(["ca.pem", len(CERT), SHA_CERT]),
    ),
    Row(
        "v4-attachment-size-leading-zero",
        "damaged",
        lambda: v4_listed(["ca.pem", "0" + str(len(CERT)), SHA_CERT]),
    ),
    Row("v4-attachment-size-zero", "damaged", lambda: v4_listed(["disk.iso", "0", None])),
    Row(
        "v4-attachment-size-over-100-mib",
        "damaged",
        lambda: v4_listed(["disk.iso", "104857601", None]),
    ),
    Row(
        "v4-attachment-size-arabic-digits",
        "damaged",
        lambda: v4_listed(["disk.iso", "\u0665", None]),
    ),
    # digests
    Row(
        "v4-attachment-digest-of-other-bytes",
        "damaged",
        lambda: v4_listed(["ca.pem", str(len(CERT)), forge.attachment("x", KEY)[2]]),
    ),
    Row(
        "v4-attachment-digest-upper-case",
        "damaged",
        lambda: v4_listed(["ca.pem", str(len(CERT)), SHA_CERT.upper()]),
    ),
    Row("v4-attachment-item-of-two-values", "damaged", lambda: v4_listed(["ca.pem", "5"])),
    # base64 of the bytes
    Row(
        "v4-attachment-base64-with-line-break",
        "damaged",
        lambda: v4_files([CA0[0], CA0[1], CA0[2][:8] + "\n" + CA0[2][8:]], KEY2),
    ),
    Row(
        "v4-attachment-base64-unpadded",
        "damaged",
        lambda: v4_files([CA0[0], CA0[1], CA0[2].rstrip("=")], KEY2),
    ),
    Row(
        "v4-attachment-base64-url-alphabet",
        "damaged",
        lambda: v4_files([CA0[0], CA0[1], "-_" + CA0[2][2:]], KEY2),
    ),
    Row(
        "v4-attachment-base64-noncanonical",
        "damaged",
        lambda: v4_files([CA0[0], CA0[1], _flip_pad_bits(CA0[2].encode()).decode()], KEY2),
    ),
    # names: paths, controls, direction marks, white space, duplicates
    Row("v4-name-parent-path", "damaged", lambda: v4_named("../../.ssh/authorized_keys")),
    Row("v4-name-with-slash", "damaged", lambda: v4_named("keys/id_rsa")),
    Row("v4-name-with-backslash", "damaged", lambda: v4_named("..\\boot.ini")),
    Row("v4-name-dot-dot", "damaged", lambda: v4_named("..")),
    Row("v4-name-empty", "damaged", lambda: v4_named("")),
    Row("v4-name-line-break", "damaged", lambda: v4_named("ca\n.pem")),
    Row("v4-name-nul", "damaged", lambda: v4_named("ca.pem\x00.exe")),
    Row("v4-name-right-to-left-override", "damaged", lambda: v4_named("id_rsa\u202etxt.exe")),
    Row("v4-name-zero-width-space", "damaged", lambda: v4_named("ca\u200b.pem")),
    Row("v4-name-trailing-space", "damaged", lambda: v4_named("ca.pem ")),
    Row("v4-name-leading-no-break-space", "damaged", lambda: v4_named("\u00a0ca.pem")),
    Row("v4-name-256-characters", "damaged", lambda: v4_named("a" * 256)),
    Row("v4-name-256-bytes-of-utf8", "damaged", lambda: v4_named("é" * 128)),
    Row("v4-name-lone-surrogate", "damaged", lambda: v4_named("ca\ud800.pem")),
    # red team 4: where a lax or normalising reader would differ from a strict one
    Row("v4-name-line-separator-inside", "ok", lambda: v4_named("ca\u2028.pem")),
    Row("v4-name-ideographic-space-last", "damaged", lambda: v4_named("ca.pem\u3000")),
    Row("v4-name-mongolian-vowel-separator-first", "ok", lambda: v4_named("\u180eca.pem")),
    Row(
        "v4-attachment-segment-names-it-in-another-normal-form",
        "damaged",  # the row lists "café.pem" (NFC), the segment says "cafe\u0301.pem"
        lambda: v4_json(
            [[*rows_v4()[0][:-1], [forge.attachment("caf\u00e9.pem", CERT)]], *rows_v4()[1:]],
            [forge.file_segment(0, "cafe\u0301.pem", CERT), KEY2],
        ),
    ),
    Row("v4-attachment-size-exactly-100-mib", "ok", lambda: v4_disk_size("104857600")),
    Row(
        "v4-attachment-position-with-plus",
        "damaged",
        lambda: v4_files(["+0", "ca.pem", CA0[2]], KEY2),
    ),
    Row("v4-100-attachments-on-one-row", "ok", lambda: v4_many(100)),
    Row("v4-101-attachments-on-one-row", "damaged", lambda: v4_many(101)),
    Row(
        "v4-two-attachments-of-one-name",
        "damaged",
        lambda: v4_json(
            [
                [
                    *rows_v4()[0][:-1],
                    [forge.attachment("ca.pem", CERT), forge.attachment("ca.pem", None, 7)],
                ],
                *rows_v4()[1:],
            ]
        ),
    ),
    # which row and which segment
    Row(
        "v4-attachment-moved-to-another-row",
        "damaged",  # listed on row 1, segment says 0
        lambda: v4_json(
            [
                [*rows_v4()[0][:-1], rows_v4()[0][-1][1:]],
                [*rows_v4()[1][:-1], rows_v4()[0][-1][:1]],
                rows_v4()[2],
            ],
            [CA0, KEY2],
        ),
    ),
    Row(
        "v4-attachment-segment-names-another-file",
        "damaged",
        lambda: v4_files(["0", "other.pem", CA0[2]], KEY2),
    ),
    Row(
        "v4-attachment-position-as-number",
        "damaged",
        lambda: make(
            4,
            segments=[
                *forge.segments_json(rows_v4(), version=4)[:3],
                forge.dumps([0, "ca.pem", CA0[2]]),
                forge.dumps(KEY2),
            ],
        ),
    ),
    Row("v4-attachment-position-01", "damaged", lambda: v4_files(["00", "ca.pem", CA0[2]], KEY2)),
    Row("v4-attachment-segments-swapped", "damaged", lambda: v4_files(KEY2, CA0)),
    Row("v4-attachment-segment-missing", "damaged", lambda: v4_files(CA0)),
    Row("v4-attachment-segment-extra", "damaged", lambda: v4_files(CA0, KEY2, KEY2)),
    Row(
        "v4-attachment-segment-before-the-rows-end",
        "damaged",
        lambda: make(
            4,
            segments=[
                forge.segments_json(rows_v4(), version=4)[0],
                forge.dumps(CA0),
                *forge.segments_json(rows_v4(), version=4)[1:3],
                forge.dumps(KEY2),
            ],
        ),
    ),
    Row(
        "v4-listed-only-file-with-a-segment",
        "damaged",
        lambda: v4_files(CA0, ["0", "disk.iso", forge.b64(b"x" * 10)], KEY2),
    ),
    Row(
        "v4-row-without-its-attachment-list",
        "damaged",
        lambda: make(
            4,
            segments=[
                forge.dumps(
                    ["strongroom-offline-payload", 4, forge.V4_FIELDS, v3_names(), v3_rest()]
                )
            ],
        ),
    ),
    Row(
        "v4-attachments-not-a-list",
        "damaged",
        lambda: v4_json([[*rows_v4()[0][:-1], {"ca.pem": 1}], *rows_v4()[1:]], [KEY2]),
    ),
    Row(
        "v4-attachment-segments-cut-off",
        "damaged",
        lambda: make(4, payload_b64_edit=lambda p: b".".join(p.split(b".")[:4])),
    ),
    Row("v4-attachment-segment-from-another-file", "damaged", v4_spliced),
]

ROWS_BY_NAME = {row.name: row for row in ROWS}
assert len(ROWS_BY_NAME) == len(ROWS)
