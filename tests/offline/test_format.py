"""The offline file round-trips exactly, carries a strict CSP, and follows the documented
layout (header element, payload element, canonical header bytes)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from strongroom.crypto import offline
from strongroom.crypto.offline import (
    CopyKeys,
    OfflineEntry,
    OfflineWrongPassphrase,
    copy_keys_create,
    copy_keys_verify,
)
from strongroom.exports import offline_file
from strongroom.exports.offline_file import (
    offline_file_build,
    offline_file_header,
    offline_file_open,
)

from .helpers import (
    CHEAP_ITERATIONS,
    GENERATED_AT,
    HOSTILE,
    PASSPHRASE,
    build,
    cheap_keys,
    hostile_entries,
    sample_entries,
    vault_entries,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def keys() -> CopyKeys:
    return cheap_keys()


def test_round_trip_every_field(keys):
    entries = sample_entries()
    expires = GENERATED_AT + timedelta(days=30)
    html = build(keys, entries, expires_at=expires, title="Acme <IT>", owner="alice@acme")
    opened = offline_file_open(html=html, passphrase=PASSPHRASE)
    assert opened.entries == entries
    assert opened.generated_at == GENERATED_AT
    assert opened.expires_at == expires
    assert (opened.title, opened.owner) == ("Acme <IT>", "alice@acme")
    assert opened.iterations == CHEAP_ITERATIONS
    assert opened.version == offline.VERSION
    assert opened.is_expired(GENERATED_AT) is False
    assert opened.is_expired(expires) is True


def test_hostile_values_in_every_field_round_trip_exactly(keys):
    entries = hostile_entries()
    html = build(keys, entries, title=offline_hostile_title(), owner="</script>")
    opened = offline_file_open(html=html, passphrase=PASSPHRASE)
    assert opened.entries == entries
    assert opened.title == offline_hostile_title()
    assert opened.owner == "</script>"
    # Nothing hostile reaches the page as markup: the only script elements are ours.
    assert html.count(b"<script") == 3
    assert html.count(b"</script>") == 3
    assert b"<img" not in html


def offline_hostile_title() -> str:
    return "<img src=x onerror=alert(1)> & </script><!-- \u202e 🔐"


def test_the_standard_synthetic_vault_round_trips(keys):
    entries = vault_entries(2_000)
    html = build(keys, entries)
    assert offline_file_open(html=html, passphrase=PASSPHRASE).entries == entries


def test_empty_vault_round_trips(keys):
    html = build(keys, [])
    assert offline_file_open(html=html, passphrase=PASSPHRASE).entries == []


def test_entry_order_is_kept(keys):
    entries = [OfflineEntry(name=n, username="u", password="p") for n in "zyxabc"]
    assert offline_file_open(html=build(keys, entries), passphrase=PASSPHRASE).entries == entries


def test_times_are_stored_in_utc_to_the_second(keys):
    plus2 = timezone(timedelta(hours=2))
    generated = datetime(2025, 6, 1, 12, 0, 0, 987654, tzinfo=plus2)
    entry = OfflineEntry(name="n", username="u", password="p", updated_at=generated)
    opened = offline_file_open(
        html=build(keys, [entry], generated_at=generated), passphrase=PASSPHRASE
    )
    assert opened.generated_at == datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC)
    assert opened.entries[0].updated_at == datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        build(keys, [], generated_at=datetime(2025, 1, 1))


def test_passphrase_is_nfc_normalised(keys):
    decomposed = cheap_keys("cafe\u0301")
    html = build(decomposed, sample_entries())
    assert offline_file_open(html=html, passphrase="caf\u00e9").entries == sample_entries()


def test_two_builds_differ_but_both_open(keys):
    one, two = build(keys, sample_entries()), build(keys, sample_entries())
    assert one != two  # fresh ephemeral key and nonce per build
    assert (
        offline_file_header(one)["ephemeral_public_key"]
        != offline_file_header(two)["ephemeral_public_key"]
    )
    for html in (one, two):
        assert offline_file_open(html=html, passphrase=PASSPHRASE).entries == sample_entries()


def test_copy_keys_hold_nothing_secret_and_survive_storage(keys):
    stored = json.loads(json.dumps(keys.to_dict()))
    assert set(stored) == {"version", "public_key", "wrapped_private_key", "salt", "iterations"}
    assert keys.build_key is not None
    assert base64.b64encode(keys.build_key).decode() not in json.dumps(stored)
    assert keys.build_key.hex() not in json.dumps(stored)
    # The stored form alone (everything any file of the copy shows) cannot build a file.
    public_only = CopyKeys.from_dict(stored)
    assert public_only == keys and not public_only.can_build
    with pytest.raises(offline.OfflineFormatUnsupported, match="passphrase again"):
        build(public_only, sample_entries())
    # With the build key (kept sealed by the server) a file rebuilt later opens.
    again = CopyKeys.from_dict(stored, build_key=keys.build_key)
    html = build(again, sample_entries())
    assert offline_file_open(html=html, passphrase=PASSPHRASE).entries == sample_entries()
    copy_keys_verify(copy_keys=again, passphrase=PASSPHRASE)
    with pytest.raises(OfflineWrongPassphrase):
        copy_keys_verify(copy_keys=again, passphrase=PASSPHRASE + " ")
    assert len(keys.fingerprint) == 16
    assert PASSPHRASE.encode() not in json.dumps(stored).encode()


def test_iterations_below_the_minimum_are_refused_unless_explicitly_allowed():
    with pytest.raises(ValueError, match="below the minimum of 600,000"):
        copy_keys_create(passphrase=PASSPHRASE, iterations=599_999)
    with pytest.raises(ValueError, match="below the minimum of 700,000"):
        copy_keys_create(passphrase=PASSPHRASE, iterations=600_000, minimum_iterations=700_000)
    with pytest.raises(ValueError, match="above"):
        copy_keys_create(passphrase=PASSPHRASE, iterations=offline.MAX_ITERATIONS + 1)
    with pytest.raises(ValueError, match="empty"):
        copy_keys_create(passphrase="", iterations=CHEAP_ITERATIONS, minimum_iterations=1)
    cheap = cheap_keys()
    # The builder checks stored keys too: cheap test keys cannot make a real file.
    with pytest.raises(ValueError, match="below the minimum of 600,000"):
        offline_file_build(
            copy_keys=cheap,
            entries=[],
            generated_at=GENERATED_AT,
            expires_at=None,
            title="t",
            owner="o",
        )


def test_real_iteration_count_round_trip():
    keys = copy_keys_create(passphrase=PASSPHRASE, iterations=600_000)
    assert keys.iterations == 600_000
    html = offline_file_build(
        copy_keys=keys,
        entries=sample_entries(),
        generated_at=GENERATED_AT,
        expires_at=None,
        title="t",
        owner="o",
    )
    opened = offline_file_open(html=html, passphrase=PASSPHRASE)
    assert opened.iterations == 600_000
    assert opened.entries == sample_entries()


def test_bad_entries_are_refused(keys):
    with pytest.raises(TypeError, match="entry 0"):
        build(keys, [{"name": "x"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="lone surrogate"):
        build(keys, [OfflineEntry(name="\ud800", username="u", password="p")])
    with pytest.raises(TypeError, match="password must be a str"):
        build(keys, [OfflineEntry(name="n", username="u", password=None)])  # type: ignore[arg-type]


def _element(html: bytes, element_id: str) -> bytes:
    found = re.search(
        rb'<script type="[^"]+" id="' + element_id.encode() + rb'">([^<]*)</script>', html
    )
    assert found is not None
    return found.group(1)


def test_header_is_canonical_readable_and_authenticated_as_is(keys):
    html = build(keys, sample_entries(), expires_at=GENERATED_AT + timedelta(days=1))
    raw = _element(html, offline_file.HEADER_ELEMENT_ID)
    header = offline_file_header(html)
    assert raw == offline.header_serialise(header)
    assert raw.isascii() and b"<" not in raw and b">" not in raw and b"&" not in raw
    assert b"\n" not in raw and b"\r" not in raw and b": " not in raw and b", " not in raw
    assert list(header) == sorted(header)
    assert header["format"] == "strongroom-offline"
    assert header["version"] == 4
    assert header["kdf_iterations"] == CHEAP_ITERATIONS
    assert header["generated_at"] == "2025-03-14T09:26:53Z"
    assert header["expires_at"] == "2025-03-15T09:26:53Z"
    assert (header["title"], header["owner"]) == ("Acme IT", "alice")
    assert base64.b64decode(header["public_key"]) == keys.public_key
    assert base64.b64decode(header["kdf_salt"]) == keys.salt
    assert base64.b64decode(header["wrapped_private_key"]) == keys.wrapped_private_key
    assert len(base64.b64decode(header["payload_nonce"])) == 12
    assert "entries" not in json.dumps(header)  # the entry count is not in the clear


def test_page_carries_a_strict_csp_pinning_the_inline_script_and_style(keys):
    html = build(keys, sample_entries()).decode("utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert csp is not None
    directives = dict(d.strip().split(" ", 1) for d in csp.group(1).split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'none'"
    assert directives["form-action"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["img-src"] == "data:"
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(scripts) == 1 and len(styles) == 1

    def pin(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert directives["script-src"] == pin(scripts[0])
    assert directives["style-src"] == pin(styles[0])
    assert "unsafe" not in csp.group(1)
    # No external anything, no eval, no storage in the viewer.
    for banned in (
        "http://",
        "https://",
        "src=",
        "eval(",
        "new Function",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "localStorage",
        "sessionStorage",
        "indexedDB",
        "document.cookie",
        "fetch(",
        "XMLHttpRequest",
        "WebSocket",
        "sendBeacon",
        "importScripts",
    ):
        assert banned not in scripts[0], banned
    assert "<noscript>" in html and "Safari or Chrome" in html
    assert re.search(r"https?://", html.split("<body>", 1)[1].split("<script", 1)[0]) is None


def test_viewer_assets_are_packaged():
    # pyproject's package-data must ship the viewer, or an installed wheel builds no files.
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["strongroom"]
    package = root / "src" / "strongroom"
    assets = sorted((package / "exports" / "templates" / "offline_viewer").iterdir())
    assert [a.name for a in assets] == ["viewer.css", "viewer.html", "viewer.js"]
    for asset in assets:
        relative = asset.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_entry_dataclass_is_stable():
    # Other apps build OfflineEntry by keyword; renaming a field is a breaking change.
    assert [f.name for f in dataclasses.fields(OfflineEntry)] == [
        "name",
        "username",
        "password",
        "resource_type",
        "host",
        "url",
        "notes",
        "totp_seed",
        "folder",
        "department",
        "location",
        "updated_at",
        "description",
        "custom_fields",
        "entry_id",
        "attachments",  # KeePass copies only (docs/attachments.md)
    ]


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_title_and_owner_round_trip_through_the_clear_header(keys, kind):
    value = HOSTILE[kind][:1000]
    html = build(keys, sample_entries(), title=value, owner=value)
    assert offline_file_header(html)["title"] == value
    opened = offline_file_open(html=html, passphrase=PASSPHRASE)
    assert (opened.title, opened.owner) == (value, value)
    header = html.split(b'id="strongroom-header">', 1)[1].split(b"</script>", 1)[0]
    assert header.isascii() and not any(c in header for c in b"<>&\r\n")


@pytest.mark.parametrize(
    "value", ["\ud800", "x\udc00", "🔑\ud800", "\udc00🔑", "\ud83d\ud83d", "a\ud800b🔑"]
)
def test_lone_surrogates_are_refused_naming_the_entry(keys, value):
    entries = [OfflineEntry(name="ok 🔑", username="u", password="p")] * 3
    entries.append(OfflineEntry(name="n", username="u", password="p", notes=value))
    with pytest.raises(ValueError, match="entry 3 notes contains a lone surrogate"):
        build(keys, entries)


def test_text_that_merely_looks_like_an_escape_is_fine(keys):
    entry = OfflineEntry(name="\\ud800 \\udc00 \\\\ud83d", username="u", password="p")
    assert offline_file_open(html=build(keys, [entry]), passphrase=PASSPHRASE).entries == [entry]


def test_copy_keys_made_for_format_2_build_format_4_files_without_the_passphrase():
    """Migration: a kept copy's keys as the format 2 release stored them (public part as
    JSON, the build key sealed beside it) build format 4 files as they are: the server
    needs no passphrase to move a copy to format 4, and the old passphrase opens them."""
    stored = json.loads((FIXTURES / "v2-copy-keys.json").read_text(encoding="utf-8"))
    build_key = bytes.fromhex(stored.pop("build_key_hex_sealed_on_the_server"))
    keys = offline.CopyKeys.from_dict(stored, build_key=build_key)
    assert keys.version == offline.KEY_VERSION == 2 and keys.can_build
    html = build(keys, sample_entries())
    assert offline_file_header(html)["version"] == offline.VERSION == 4
    opened = offline_file_open(html=html, passphrase=PASSPHRASE)
    assert opened.version == 4 and opened.authenticated
    assert opened.entries == sample_entries()
    offline.copy_keys_verify(copy_keys=keys, passphrase=PASSPHRASE)


@pytest.mark.parametrize("count", [0, 1, 40, 41, 2_040, 2_041, 4_500])
def test_every_split_round_trips_and_segments_are_as_specified(keys, count):
    """Segment 0 holds every name and the first FIRST_ROWS rows; then CHUNK_ROWS per
    segment; entries keep their order across segment boundaries."""
    entries = [
        OfflineEntry(name=f"entry {i}", username=f"u{i}", password=f"p{i}") for i in range(count)
    ]
    html = build(keys, entries)
    payload = html.split(offline_file.PAYLOAD_OPEN, 1)[1].split(b"</script>", 1)[0]
    rest = max(0, count - offline.FIRST_ROWS)
    assert payload.count(b".") == -(-rest // offline.CHUNK_ROWS)
    assert offline_file_open(html=html, passphrase=PASSPHRASE).entries == entries
