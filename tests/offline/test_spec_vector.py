"""docs/offline-file-format.md is precise enough to write a decrypter from: its worked
examples (version 4, and versions 3, 2 and 1 which readers still open), made from the spec alone
(spec_vector.py, the `cryptography` primitives only), open in the reference reader and in
the browser viewer, and every value the document lists is the one computed here."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from playwright.sync_api import expect

from strongroom.crypto import offline
from strongroom.exports import offline_file

from . import spec_vector

DOC = Path(__file__).resolve().parents[2] / "docs" / "offline-file-format.md"
# The document lists the gzip bytes of each example (zlib versions may compress the same
# JSON differently), after these markers.
GZIP_MARKERS = {
    4: "version 4 segment 0 gzip member (hex):",
    3: "version 3 segment 0 gzip member (hex):",
    2: "version 2 gzip member (hex):",
    1: "version 1 gzip member (hex):",
}
MORE_MARKERS = {
    3: "version 3 segment 1 gzip member (hex):",
    4: "version 4 segment 1 gzip member (hex):",
}
FILE_MARKER = "version 4 segment 2 gzip member (hex):"
PASSPHRASE = "correct horse battery staple"


def _listed_hex(doc: str, marker: str) -> bytes:
    return bytes.fromhex(doc.split(marker, 1)[1].split("```", 2)[1].strip())


def _vector(version: int) -> spec_vector.Vector:
    doc = DOC.read_text(encoding="utf-8")
    more = _listed_hex(doc, MORE_MARKERS[version]) if version >= 3 else None
    file = _listed_hex(doc, FILE_MARKER) if version == 4 else None
    return spec_vector.make(
        gzipped=_listed_hex(doc, GZIP_MARKERS[version]),
        version=version,
        more_gzipped=more,
        file_gzipped=file,
    )


@pytest.fixture(scope="module", params=[4, 3, 2, 1], ids=["v4", "v3", "v2", "v1"])
def vector(request) -> spec_vector.Vector:
    return _vector(request.param)


def test_every_listed_value_is_in_the_document(vector):
    doc = DOC.read_text(encoding="utf-8")
    values = [
        spec_vector.COPY_SCALAR.hex(),
        spec_vector.EPHEMERAL_SCALAR.hex(),
        spec_vector.BUILD_KEY.hex(),
        vector.kek.hex(),
        vector.copy_public.hex(),
        vector.wrap_aad.hex(),
        vector.wrapped.hex(),
        vector.ephemeral_public.hex(),
        vector.shared.hex(),
        vector.hkdf_info.hex(),
        vector.content_key.hex(),
        vector.gzipped.hex(),
        vector.header.decode(),
        vector.plaintext_json.decode(),
        base64.b64encode(vector.ciphertext).decode(),
        vector.payload_text.decode(),
    ]
    if vector.more_json:
        values += [
            vector.more_json.decode(),
            vector.more_gzipped.hex(),
            spec_vector.segment_nonce(0, last=False).hex(),
            spec_vector.segment_nonce(1, last=not vector.file_json).hex(),
        ]
        assert gzip.decompress(vector.more_gzipped) == vector.more_json
    if vector.file_json:
        values += [
            vector.file_json.decode(),
            vector.file_gzipped.hex(),
            spec_vector.segment_nonce(2, last=True).hex(),
            spec_vector.ATTACHMENT_BYTES.hex(),
            spec_vector.ATTACHMENTS_V4[0][2],
        ]
        assert gzip.decompress(vector.file_gzipped) == vector.file_json
    for value in values:
        assert value in doc, value[:60]
    assert gzip.decompress(vector.gzipped) == vector.plaintext_json


def test_the_reference_reader_opens_the_worked_examples(vector):
    opened = offline_file.offline_file_open(
        html=spec_vector.html(vector), passphrase="correct horse battery staple"
    )
    version = json.loads(vector.header)["version"]
    assert opened.version == version and opened.authenticated == (version >= 2)
    assert opened.title == "Example <copy>" and opened.owner == "alice"
    if version >= 3:
        entry, second = opened.entries
        assert second.name == "Example router" and second.password == "\u00e9t\u00e9 2025"
        assert second.totp_seed is None and second.custom_fields == ()
        assert second.attachments == ()
    if version == 4:
        carried, listed = entry.attachments
        assert (carried.name, carried.size, carried.data) == (
            "ca.pem",
            len(spec_vector.ATTACHMENT_BYTES),
            spec_vector.ATTACHMENT_BYTES,
        )
        assert (listed.name, listed.size, listed.data) == ("disk image.iso", 5_000_000, None)
    if version <= 2:
        [entry] = opened.entries
    assert entry.password == "p<a>ss&\"'"
    assert entry.totp_seed == "JBSWY3DPEHPK3PXP"
    assert entry.folder == "Work/Servers"
    if version >= 2:
        assert entry.description == "Rack 4, \u00e9tage 2"
        assert entry.custom_fields == (("Serial", "SN-0042"), ("Contract", "C-7"))
    else:
        assert entry.description == "" and entry.custom_fields == ()
    assert offline_file.offline_file_header(spec_vector.html(vector)) == json.loads(vector.header)
    # The reader's canonical serialisation reproduces the example's header bytes.
    assert offline.header_serialise(json.loads(vector.header)) == vector.header


@pytest.mark.parametrize("version", [4, 3, 2])
def test_the_example_cannot_be_made_without_the_build_key(version):
    """The attack version 2 closes: everything public in the example, and a payload of the
    attacker's choosing, encrypted as version 1 did (content key from ECDH alone)."""
    genuine = _vector(version)
    forged_key = spec_vector.HKDF(
        spec_vector.hashes.SHA256(), 32, bytes(32), genuine.hkdf_info
    ).derive(genuine.shared)
    aead = AESGCM(forged_key)
    if version >= 3:
        changes = {
            "ciphertext": aead.encrypt(
                spec_vector.segment_nonce(0, last=False), genuine.gzipped, genuine.header
            ),
            "more_ciphertext": aead.encrypt(
                spec_vector.segment_nonce(1, last=version == 3),
                genuine.more_gzipped,
                genuine.header,
            ),
        }
        if version == 4:
            changes["file_ciphertext"] = aead.encrypt(
                spec_vector.segment_nonce(2, last=True), genuine.file_gzipped, genuine.header
            )
    else:
        changes = {
            "ciphertext": aead.encrypt(spec_vector.PAYLOAD_NONCE, genuine.gzipped, genuine.header)
        }
    forged = spec_vector.html(spec_vector.Vector(**{**genuine.__dict__, **changes}))
    with pytest.raises(offline.OfflineFileDamaged, match="integrity check"):
        offline_file.offline_file_open(html=forged, passphrase=PASSPHRASE)


def _with_payload(vector: spec_vector.Vector, payload: bytes) -> bytes:
    return spec_vector.html(vector).replace(vector.payload_text, payload)


def test_the_version_3_example_refuses_its_segments_moved_cut_or_misflagged():
    vector = _vector(3)
    seg0, seg1 = vector.payload_text.split(b".")
    key = AESGCM(vector.content_key)
    # Segment 1 resealed by the keyholder as not-last: the file then has no last segment.
    unflagged = base64.b64encode(
        key.encrypt(spec_vector.segment_nonce(1, last=False), vector.more_gzipped, vector.header)
    )
    for payload in (seg1 + b"." + seg0, seg0, seg0 + b"." + seg1 + b"." + seg1,
                    seg0 + b"." + unflagged):  # fmt: skip
        with pytest.raises(offline.OfflineFileDamaged):
            offline_file.offline_file_open(
                html=_with_payload(vector, payload), passphrase=PASSPHRASE
            )


def test_the_builder_follows_the_same_steps():
    """Keys made by the builder unwrap with the spec's KEK and AAD layout into the scalar
    followed by the build key, and a file built with them derives its content key from
    ECDH and the build key as the spec says."""
    keys = offline.copy_keys_create(passphrase="pw", iterations=1_000, minimum_iterations=1)
    assert keys.version == 2  # format 4 files carry version 2 copy keys
    kek = offline._kek("pw", keys.salt, keys.iterations)
    aad = b"strongroom-offline/2 private key\x00" + keys.iterations.to_bytes(4, "big") + keys.salt
    opened = AESGCM(kek).decrypt(
        keys.wrapped_private_key[:12], keys.wrapped_private_key[12:], aad + keys.public_key
    )
    assert len(opened) == 64 and opened[32:] == keys.build_key
    scalar = opened[:32]
    html = offline_file.offline_file_build(
        copy_keys=keys,
        entries=[offline.OfflineEntry(name="n", username="u", password="p")],
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
        expires_at=None,
        title="t",
        owner="o",
        minimum_iterations=1,
    )
    header = offline_file.offline_file_header(html)
    raw_header = offline.header_serialise(header)
    ephemeral = base64.b64decode(header["ephemeral_public_key"])
    private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    shared = private.exchange(
        ec.ECDH(),
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ephemeral),
    )
    info = b"strongroom-offline/4 content key\x00" + ephemeral + keys.public_key
    key = HKDF(hashes.SHA256(), 32, bytes(32), info).derive(shared + keys.build_key)
    payload = html.split(offline_file.PAYLOAD_OPEN, 1)[1].split(b"</script>", 1)[0]
    nonce = base64.b64decode(header["payload_nonce"])
    # One entry: segment 0 is also the last (last flag 1 in the nonce's final byte).
    assert b"." not in payload
    last_nonce = nonce[:11] + bytes([nonce[11] ^ 1])
    plaintext = AESGCM(key).decrypt(last_nonce, base64.b64decode(payload), raw_header)
    document = json.loads(gzip.decompress(plaintext))
    assert document == [
        "strongroom-offline-payload",
        4,
        spec_vector.FIELDS_V4,
        ["n"],
        [["", "", "", "u", "p", "", None, "", "", "", None, "", [], []]],
    ]


@pytest.mark.browser
@pytest.mark.parametrize("version", [4, 3, 2, 1])
def test_the_viewer_opens_the_worked_examples(open_file, tmp_path, version):
    vector = _vector(version)
    page_bytes = offline_file._render(vector.header, vector.payload_text)
    path = tmp_path / "example.html"
    path.write_bytes(page_bytes)
    page = open_file(path)
    expect(page.locator("#lock-title")).to_have_text("Example <copy>")
    page.get_by_label("Passphrase").fill("correct horse battery staple")
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator(".row-name").first).to_have_text("Example server")
    page.locator(".row").first.click()
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#detail-password")).to_have_text("p<a>ss&\"'")


def test_the_version_4_example_refuses_its_attachment_segment_cut_moved_or_repeated():
    vector = _vector(4)
    seg0, seg1, seg2 = vector.payload_text.split(b".")
    key = AESGCM(vector.content_key)
    # Segment 1 resealed by the keyholder as the last: rows complete, the file's bytes gone.
    rows_only = base64.b64encode(
        key.encrypt(spec_vector.segment_nonce(1, last=True), vector.more_gzipped, vector.header)
    )
    payloads = [
        [seg0, seg2, seg1],  # the attachment's segment among the rows
        [seg0, rows_only],  # the attachment's segment cut off, the rows resealed as last
        [seg0, seg1, seg2, seg2],  # repeated
        [seg0, seg1],  # cut off
    ]
    for parts in payloads:
        payload = b".".join(parts)
        with pytest.raises(offline.OfflineFileDamaged):
            offline_file.offline_file_open(
                html=_with_payload(vector, payload), passphrase=PASSPHRASE
            )
