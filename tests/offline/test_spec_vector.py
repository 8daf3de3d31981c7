"""docs/offline-file-format.md is precise enough to write a decrypter from: its worked
examples (version 2, and version 1 which readers still open), made from the spec alone
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

from . import spec_vector

DOC = Path(__file__).resolve().parents[2] / "docs" / "offline-file-format.md"
# The document lists the gzip bytes of each example (zlib versions may compress the same
# JSON differently), after these markers.
GZIP_MARKERS = {2: "version 2 gzip member (hex):", 1: "version 1 gzip member (hex):"}


def _vector(version: int) -> spec_vector.Vector:
    doc = DOC.read_text(encoding="utf-8")
    gz_hex = doc.split(GZIP_MARKERS[version], 1)[1].split("```", 2)[1].strip()
    return spec_vector.make(gzipped=bytes.fromhex(gz_hex), version=version)


@pytest.fixture(scope="module", params=[2, 1], ids=["v2", "v1"])
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
    ]
    for value in values:
        assert value in doc, value[:60]
    assert gzip.decompress(vector.gzipped) == vector.plaintext_json


def test_the_reference_reader_opens_the_worked_examples(vector):
    opened = offline.offline_file_open(
        html=spec_vector.html(vector), passphrase="correct horse battery staple"
    )
    version = json.loads(vector.header)["version"]
    assert opened.version == version and opened.authenticated == (version == 2)
    assert opened.title == "Example <copy>" and opened.owner == "alice"
    [entry] = opened.entries
    assert entry.password == "p<a>ss&\"'"
    assert entry.totp_seed == "JBSWY3DPEHPK3PXP"
    assert entry.folder == "Work/Servers"
    if version == 2:
        assert entry.description == "Rack 4, \u00e9tage 2"
        assert entry.custom_fields == (("Serial", "SN-0042"), ("Contract", "C-7"))
    else:
        assert entry.description == "" and entry.custom_fields == ()
    assert offline.offline_file_header(spec_vector.html(vector)) == json.loads(vector.header)
    # The reader's canonical serialisation reproduces the example's header bytes.
    assert offline.header_serialise(json.loads(vector.header)) == vector.header


def test_the_version_2_example_cannot_be_made_without_the_build_key():
    """The attack version 2 closes: everything public in the example, and a payload of the
    attacker's choosing, encrypted as version 1 did (content key from ECDH alone)."""
    genuine = _vector(2)
    forged_key = spec_vector.HKDF(
        spec_vector.hashes.SHA256(), 32, bytes(32), genuine.hkdf_info
    ).derive(genuine.shared)
    ciphertext = AESGCM(forged_key).encrypt(
        spec_vector.PAYLOAD_NONCE, genuine.gzipped, genuine.header
    )
    forged = spec_vector.html(spec_vector.Vector(**{**genuine.__dict__, "ciphertext": ciphertext}))
    with pytest.raises(offline.OfflineFileDamaged, match="integrity check"):
        offline.offline_file_open(html=forged, passphrase="correct horse battery staple")


def test_the_builder_follows_the_same_steps():
    """Keys made by the builder unwrap with the spec's KEK and AAD layout into the scalar
    followed by the build key, and a file built with them derives its content key from
    ECDH and the build key as the spec says."""
    keys = offline.copy_keys_create(passphrase="pw", iterations=1_000, minimum_iterations=1)
    kek = offline._kek("pw", keys.salt, keys.iterations)
    aad = b"strongroom-offline/2 private key\x00" + keys.iterations.to_bytes(4, "big") + keys.salt
    opened = AESGCM(kek).decrypt(
        keys.wrapped_private_key[:12], keys.wrapped_private_key[12:], aad + keys.public_key
    )
    assert len(opened) == 64 and opened[32:] == keys.build_key
    scalar = opened[:32]
    html = offline.offline_file_build(
        copy_keys=keys,
        entries=[offline.OfflineEntry(name="n", username="u", password="p")],
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
        expires_at=None,
        title="t",
        owner="o",
        minimum_iterations=1,
    )
    header = offline.offline_file_header(html)
    raw_header = offline.header_serialise(header)
    ephemeral = base64.b64decode(header["ephemeral_public_key"])
    private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    shared = private.exchange(
        ec.ECDH(),
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ephemeral),
    )
    info = b"strongroom-offline/2 content key\x00" + ephemeral + keys.public_key
    key = HKDF(hashes.SHA256(), 32, bytes(32), info).derive(shared + keys.build_key)
    payload = html.split(offline.PAYLOAD_OPEN, 1)[1].split(b"</script>", 1)[0]
    plaintext = AESGCM(key).decrypt(
        base64.b64decode(header["payload_nonce"]), base64.b64decode(payload), raw_header
    )
    document = json.loads(gzip.decompress(plaintext))
    assert document[:3] == ["strongroom-offline-payload", 2, spec_vector.FIELDS_V2]


@pytest.mark.browser
@pytest.mark.parametrize("version", [2, 1])
def test_the_viewer_opens_the_worked_examples(open_file, tmp_path, version):
    vector = _vector(version)
    page_bytes = offline._render(vector.header, base64.b64encode(vector.ciphertext))
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
