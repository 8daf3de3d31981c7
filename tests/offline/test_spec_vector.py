"""docs/offline-file-format.md is precise enough to write a decrypter from: its worked
example, made from the spec alone (spec_vector.py), opens in the reference reader and in
the browser viewer, and every value the document lists is the one computed here."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from strongroom.crypto import offline

from . import spec_vector

DOC = Path(__file__).resolve().parents[2] / "docs" / "offline-file-format.md"


@pytest.fixture(scope="module")
def vector() -> spec_vector.Vector:
    doc = DOC.read_text(encoding="utf-8")
    # zlib versions may compress differently: take the gzip bytes the document lists.
    marker = "gzip member (hex):"
    gz_hex = doc.split(marker, 1)[1].split("```", 2)[1].strip()
    return spec_vector.make(gzipped=bytes.fromhex(gz_hex))


def test_every_listed_value_is_in_the_document(vector):
    doc = DOC.read_text(encoding="utf-8")
    values = [
        spec_vector.COPY_SCALAR.hex(),
        spec_vector.EPHEMERAL_SCALAR.hex(),
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


def test_the_reference_reader_opens_the_worked_example(vector):
    opened = offline.offline_file_open(
        html=spec_vector.html(vector), passphrase="correct horse battery staple"
    )
    assert opened.title == "Example <copy>" and opened.owner == "alice"
    [entry] = opened.entries
    assert entry.password == "p<a>ss&\"'"
    assert entry.totp_seed == "JBSWY3DPEHPK3PXP"
    assert entry.folder == "Work/Servers"
    assert offline.offline_file_header(spec_vector.html(vector)) == json.loads(vector.header)
    # The reader's canonical serialisation reproduces the example's header bytes.
    assert offline.header_serialise(json.loads(vector.header)) == vector.header


def test_the_builder_follows_the_same_steps(vector):
    """Keys made by the builder unwrap with the spec's KEK and AAD layout."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    keys = offline.copy_keys_create(passphrase="pw", iterations=1_000, minimum_iterations=1)
    kek = offline._kek("pw", keys.salt, keys.iterations)
    aad = b"strongroom-offline/1 private key\x00" + keys.iterations.to_bytes(4, "big") + keys.salt
    scalar = AESGCM(kek).decrypt(
        keys.wrapped_private_key[:12], keys.wrapped_private_key[12:], aad + keys.public_key
    )
    assert len(scalar) == 32


@pytest.mark.browser
def test_the_viewer_opens_the_worked_example(open_file, tmp_path, vector):
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
