"""The viewer in headless Chromium, opened from disk: unlock, search, reveal, copy with
auto-clear, TOTP, messages for a wrong passphrase and a damaged or edited file, expiry
banner, auto-lock, the phone layout, hostile values as text, and no network at all."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import expect

from strongroom.crypto import offline
from strongroom.crypto.offline import OfflineEntry, copy_keys_create
from strongroom.exports.offline_file import offline_file_build, offline_file_header

from .conftest import shoot
from .helpers import HOSTILE, PASSPHRASE, build, cheap_keys, sample_entries, vault_entries

pytestmark = pytest.mark.browser

ROUTER_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MAIL_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def hostile_named() -> list[OfflineEntry]:
    """Entries whose every field is one hostile value (named after it, so tests find them)."""
    return [
        OfflineEntry(
            name=f"Hostile {kind} {value}"[:2000],
            resource_type=value,
            host=value,
            url=value,
            username=value,
            password=value,
            notes=value,
            folder=value,
            department=value,
            location=value,
        )
        for kind, value in HOSTILE.items()
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("offline-browser")
    now = datetime.now(UTC)
    # The main file uses the real KDF cost, so the browser proves it copes with it.
    real = copy_keys_create(passphrase=PASSPHRASE, iterations=600_000)
    entries = sample_entries() + hostile_named() + vault_entries(300)
    html = offline_file_build(
        copy_keys=real,
        entries=entries,
        generated_at=now - timedelta(hours=2),
        expires_at=now + timedelta(days=30),
        title="Acme IT <offline>",
        owner="alice",
    )
    cheap = cheap_keys()
    made = {
        "main": html,
        "expired": build(
            cheap,
            sample_entries(),
            generated_at=now - timedelta(days=40),
            expires_at=now - timedelta(days=10),
        ),
        "big": build(cheap, vault_entries(20_000), generated_at=now, expires_at=None),
        "single": build(cheap, sample_entries()[:1], generated_at=now, expires_at=None),
    }
    payload_start = html.index(b'id="strongroom-payload">') + len(b'id="strongroom-payload">')
    ciphertext = bytearray(base64.b64decode(html[payload_start : html.index(b"<", payload_start)]))
    ciphertext[len(ciphertext) // 2] ^= 1
    made["damaged"] = html.replace(
        html[payload_start : html.index(b"<", payload_start)], base64.b64encode(bytes(ciphertext))
    )
    header = offline_file_header(html)
    made["edited-date"] = html.replace(header["generated_at"].encode(), b"2020-01-01T00:00:00Z", 1)
    made["edited-iterations"] = html.replace(
        b'"kdf_iterations":600000', b'"kdf_iterations":600001', 1
    )
    # The header comes before the viewer script: the first "version" is the header's.
    made["newer"] = html.replace(b'"version":4', b'"version":5', 1)
    paths = {}
    for name, data in made.items():
        path = folder / f"{name}.html"
        path.write_bytes(data)
        paths[name] = path
    return paths


def unlock(page, passphrase: str = PASSPHRASE) -> None:
    page.get_by_label("Passphrase").fill(passphrase)
    page.get_by_role("button", name="Unlock").click()


def unlocked(page, passphrase: str = PASSPHRASE) -> None:
    unlock(page, passphrase)
    expect(page.locator("#vault")).to_be_visible()
    expect(page.locator(".row").first).to_be_visible()


def visible_rows(page) -> list[str]:
    return page.locator(".row:not([hidden]) .row-name").all_text_contents()


def test_count_of_one_entry_is_singular(open_file, files):
    page = open_file(files["single"], "phone")
    unlocked(page)
    expect(page.locator("#count")).to_have_text("1 entry")
    page.get_by_role("searchbox").fill("no such thing")
    expect(page.locator("#count")).to_have_text("0 of 1")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_unlock_search_reveal_copy(open_file, files, device):
    page = open_file(files["main"], device, clipboard=True)
    expect(page.locator("#lock-title")).to_have_text("Acme IT <offline>")
    expect(page.locator("#lock-meta")).to_contain_text("for alice")
    shoot(page, "lock")
    unlocked(page)
    expect(page).to_have_title("Acme IT <offline> · Strongroom")
    total = len(sample_entries()) + len(HOSTILE) + 300
    expect(page.locator("#count")).to_have_text(f"{total} entries")
    shoot(page, "list")

    search = page.get_by_role("searchbox")
    search.fill("rt1.acme")  # hosts are searched
    expect(page.locator("#count")).to_have_text(f"1 of {total}")
    assert visible_rows(page) == ["Core router"]
    search.fill("core rout")  # every term, anywhere
    assert "Core router" in visible_rows(page)
    search.fill("S3cr3t")  # passwords are not
    expect(page.locator("#empty")).to_be_visible()
    search.fill("infrastructure/network")  # folders are
    assert visible_rows(page) == ["Core router"]
    shoot(page, "search")

    page.locator(".row", has_text="Core router").click()
    password = page.locator("#detail-password")
    expect(password).to_be_visible()
    expect(password).to_have_text("••••••••••••")
    reveal = page.get_by_role("button", name="Reveal")
    reveal.click()
    expect(password).to_have_text("S3cr3t<&>'\"!")
    shoot(page, "detail-revealed")
    page.get_by_role("button", name="Hide").click()
    expect(password).to_have_text("••••••••••••")

    page.locator(".field.password").get_by_role("button", name="Copy").click()
    expect(page.locator("#toast")).to_contain_text("Password copied")
    assert page.evaluate("navigator.clipboard.readText()") == "S3cr3t<&>'\"!"

    if device == "phone":
        # One-handed: search at the top, big touch targets, a full-screen detail sheet.
        sheet = page.locator("#detail").bounding_box()
        assert sheet is not None and sheet["width"] == 390 and sheet["height"] >= 800
        for button in page.locator("#detail button:visible").all():
            box = button.bounding_box()
            assert box is not None and box["height"] >= 44 and box["width"] >= 44
        page.get_by_role("button", name="Back").click()
        expect(page.locator("#detail")).to_be_hidden()
        search_box = search.bounding_box()
        assert search_box is not None and search_box["y"] < 150
        row_copy = page.locator(".row:not([hidden]) .row-copy").first.bounding_box()
        assert row_copy is not None and row_copy["height"] >= 44
    # The list's own copy button copies that row's password.
    search.fill("svc_payroll")
    page.locator(".row:not([hidden]) .row-copy").first.click()
    expect(page.locator("#toast")).to_contain_text("Password copied")
    assert page.evaluate("navigator.clipboard.readText()") == "pw-2"


def test_totp_codes_match_pyotp(open_file, files):
    page = open_file(files["main"])
    unlocked(page)
    page.get_by_role("searchbox").fill("rt1.acme")
    page.locator(".row", has_text="Core router").click()
    code = page.locator("#detail-totp")
    expect(code).to_have_text(lambda_re(r"^\d{3} \d{3}$"))
    shown = code.get_attribute("data-code")
    totp = pyotp.TOTP(ROUTER_SEED)
    now = datetime.now(UTC)
    assert shown in {totp.at(now + timedelta(seconds=s)) for s in (-30, 0)}
    page.keyboard.press("Escape")
    page.get_by_role("searchbox").fill("josé@example.org")
    page.locator(".row", has_text="Mail").click()
    expect(code).to_have_text(lambda_re(r"^\d{4} \d{4}$"))
    mail = pyotp.TOTP(MAIL_SEED, digits=8, digest=hashlib.sha256, interval=60)
    now = datetime.now(UTC)
    assert code.get_attribute("data-code") in {
        mail.at(now + timedelta(seconds=s)) for s in (-60, 0)
    }
    expect(page.locator(".totp-left")).to_have_text(lambda_re(r"^\d+ s$"))


def lambda_re(pattern: str):
    import re

    return re.compile(pattern)


def test_wrong_passphrase_then_right_one(open_file, files):
    page = open_file(files["main"])
    unlock(page, "not the passphrase")
    error = page.get_by_role("alert")
    expect(error).to_contain_text("Wrong passphrase")
    expect(page.locator("#vault")).to_be_hidden()
    assert page.locator("#unlock-error").get_attribute("data-kind") == "wrong"
    shoot(page, "wrong-passphrase")
    unlocked(page)
    expect(page.locator("#unlock-error")).to_be_hidden()


@pytest.mark.parametrize(
    ("name", "kind", "text"),
    [
        ("damaged", "damaged", "damaged or was edited"),
        ("edited-date", "damaged", "damaged or was edited"),
        ("edited-iterations", "wrong", "Wrong passphrase"),
    ],
)
def test_damaged_or_edited_file(open_file, files, name, kind, text):
    page = open_file(files[name])
    unlock(page)
    expect(page.get_by_role("alert")).to_contain_text(text)
    assert page.locator("#unlock-error").get_attribute("data-kind") == kind
    expect(page.locator("#vault")).to_be_hidden()
    assert page.locator(".row").count() == 0
    if kind == "damaged":
        expect(page.get_by_role("button", name="Unlock")).to_be_disabled()
        shoot(page, "damaged")


def test_newer_format_is_refused_on_load(open_file, files):
    page = open_file(files["newer"])
    expect(page.get_by_role("alert")).to_contain_text("newer or different version")
    expect(page.get_by_role("button", name="Unlock")).to_be_disabled()


def test_expired_copy_shows_a_warning_and_still_opens(open_file, files):
    page = open_file(files["expired"])
    banner = page.locator("#lock-expiry")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("This copy expired on")
    shoot(page, "expired-lock")
    unlocked(page)
    expect(page.locator("#vault-expiry")).to_contain_text("still opens")
    shoot(page, "expired-list")


def test_auto_lock_when_hidden_drops_the_data(open_file, files):
    page = open_file(files["main"])
    unlocked(page)
    page.get_by_role("searchbox").fill("rt1.acme")
    page.locator(".row", has_text="Core router").click()
    page.get_by_role("button", name="Reveal").click()
    page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
          Object.defineProperty(document, "hidden", {value: true, configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    expect(page.locator("#lock")).to_be_visible()
    expect(page.locator("#lock-note")).to_contain_text("switched away")
    assert page.locator(".row").count() == 0
    body_text = page.locator("body").inner_text()
    assert "Core router" not in body_text and "S3cr3t" not in body_text
    dom = page.evaluate("document.getElementById('app').outerHTML")
    assert "Core router" not in dom and "svc_payroll" not in dom
    assert page.get_by_label("Passphrase").input_value() == ""
    assert page.locator("#search").input_value() == ""


def test_idle_lock_and_clipboard_auto_clear(open_file, files):
    page = open_file(files["main"], clipboard=True, clock=True)
    unlocked(page)
    page.get_by_role("searchbox").fill("payroll")
    page.locator(".row:not([hidden]) .row-copy").first.click()
    expect(page.locator("#toast")).to_contain_text("cleared in 30 s")
    assert page.evaluate("navigator.clipboard.readText()") == "pw-2"
    page.clock.run_for(29_000)
    assert page.evaluate("navigator.clipboard.readText()") == "pw-2"
    page.clock.run_for(2_000)
    expect(page.locator("#toast")).to_have_text("Clipboard cleared")
    assert page.evaluate("navigator.clipboard.readText()") == ""
    expect(page.locator("#vault")).to_be_visible()
    page.clock.run_for(5 * 60 * 1000 + 6_000)
    expect(page.locator("#lock")).to_be_visible()
    expect(page.locator("#lock-note")).to_contain_text("5 minutes without activity")
    assert page.locator(".row").count() == 0


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_hostile_values_render_as_text(open_file, files, device):
    page = open_file(files["main"], device)
    unlocked(page)
    page.get_by_role("searchbox").fill("hostile")
    expect(page.locator("#count")).to_contain_text(f"{len(HOSTILE)} of")
    for kind, value in HOSTILE.items():
        page.get_by_role("searchbox").fill(f"hostile {kind}")
        row = page.locator(".row:not([hidden])").first
        expect(row.locator(".row-name")).to_have_text(f"Hostile {kind} {value}"[:2000])
        row.click()
        page.get_by_role("button", name="Reveal").click()
        fields = page.evaluate(
            """() => Array.from(document.querySelectorAll('#detail-body .field')).map(
                 f => [f.querySelector('.field-label').textContent,
                       f.querySelector('.field-value').textContent])"""
        )
        values = dict(fields)
        for label in ("Username", "Password", "URL", "Notes", "Folder", "Type", "Department"):
            assert values[label] == value, (kind, label)
        assert values["Location"] == value
        assert "Host" not in values  # the same as the URL, so shown once
        if kind == "markup":
            shoot(page, "hostile-markup")
        page.keyboard.press("Escape")
    # Nothing became markup.
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 3
    assert page.locator("a").count() == 0  # no hostile value was a http(s) URL


def test_virtualised_list_draws_only_what_is_on_screen(open_file, files):
    page = open_file(files["big"])
    unlocked(page)
    expect(page.locator("#count")).to_have_text("20,000 entries")
    assert page.locator(".row").count() < 40
    names = [e.name for e in vault_entries(20_000)]
    assert visible_rows(page)[0] == names[0]
    page.locator("#list").evaluate("list => { list.scrollTop = list.scrollHeight; }")
    expect(page.locator(".row:not([hidden]) .row-name").last).to_have_text(names[-1])
    assert page.locator(".row").count() < 40
    page.get_by_role("searchbox").fill(names[12_345].lower())
    assert names[12_345] in visible_rows(page)
    durations = page.evaluate(
        "performance.getEntriesByName('strongroom:search').map(m => m.duration)"
    )
    assert durations and max(durations) < 500  # generous here; bench/offline.py measures


def test_format_3_later_segments_arrive_checked_and_searchable(open_file, files):
    """20,000 entries are 11 segments: the first rows come from segment 0; the file's
    verdict is "ok" only once the last segment authenticated, and then an entry of the
    last segment is found by its username (not in segment 0) and shows its password."""
    page = open_file(files["big"])
    unlocked(page)
    html = page.locator("html")
    expect(html).to_have_attribute("data-verdict", "ok", timeout=30_000)
    expect(html).not_to_have_attribute("data-loading", "1")
    expect(page.locator("#count")).to_have_text("20,000 entries")
    marks = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('mark')"
        ".map(m => [m.name.split(':')[1], m.startTime]))"
    )
    assert marks["rows-drawn"] <= marks["all-rows"]
    entries = vault_entries(20_000)
    pairs = [(e.name, e.username) for e in entries]
    late = next(
        e
        for e in reversed(entries)
        if (e.name + e.username).isascii() and e.username and pairs.count((e.name, e.username)) == 1
    )
    assert entries.index(late) >= offline.FIRST_ROWS + 9 * offline.CHUNK_ROWS
    page.get_by_role("searchbox").fill(f"{late.username} {late.name}".lower())
    expect(page.locator(".row:not([hidden]) .row-name").first).to_have_text(late.name)
    page.locator(".row:not([hidden])").first.click()
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#detail-password")).to_have_text(late.password)


def test_without_javascript_the_page_explains_what_to_do(open_file, files):
    page = open_file(files["main"], "phone", javascript=False)
    note = page.locator("noscript .noscript, .noscript").first
    expect(note).to_be_visible()
    expect(note).to_contain_text("open the file in Safari or Chrome")
    expect(page.locator("#app")).to_be_hidden()
    shoot(page, "noscript")


# --- issue 12: format 2 details ---------------------------------------------------------

DETAILED = [
    OfflineEntry(
        name="Core router",
        resource_type="router",
        host="rt1.acme.internal",
        url="https://rt1.acme.internal/admin",
        username="admin",
        password="S3cr3t<&>'\"!",
        totp_seed=ROUTER_SEED,
        description="Edge router <b>in</b> rack 4, \u202eleased line",
        custom_fields=(("Serial number", "FX-99881"), ("Support contract", "<i>gold</i>")),
    ),
    OfflineEntry(name="Bidi URL", username="u", password="p1", url="https://exa\u202emple.com/"),
    OfflineEntry(
        name="Zero width URL", username="u", password="p2", url="https://pay\u200bpal.com/"
    ),
    OfflineEntry(
        name="Soft hyphen URL", username="u", password="p3", url="https://bank\u00ad.com/"
    ),
    OfflineEntry(name="Control URL", username="u", password="p4", url="https://a.com/\x07x"),
    OfflineEntry(name="Script URL", username="u", password="p5", url="javascript:alert(1)"),
    OfflineEntry(name="Plain URL", username="u", password="p6", url="https://plain.example/x"),
]


@pytest.fixture(scope="module")
def detail_files(tmp_path_factory) -> dict[str, Path]:
    from . import forge
    from .hostile import page as real_page

    folder = tmp_path_factory.mktemp("offline-details")
    now = datetime.now(UTC)
    cheap = cheap_keys()
    made = {
        "v2": build(cheap, DETAILED, generated_at=now - timedelta(days=3)),
        "future": build(cheap, DETAILED[:1], generated_at=now + timedelta(days=2)),
        "soon": build(cheap, DETAILED[:1], generated_at=now + timedelta(minutes=2)),
    }
    keys = forge.Keys.fresh(PASSPHRASE)
    made["v1"] = forge.build(
        real_page(),
        keys,
        forge.Spec(
            version=1,
            rows=[forge.row_v1(name="Old copy entry", username="u", password="old-pw")],
            generated_at=(now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    )
    paths = {}
    for name, data in made.items():
        path = folder / f"{name}.html"
        path.write_bytes(data)
        paths[name] = path
    return paths


def ready(page) -> None:
    expect(page.locator("html")).to_have_attribute("data-ready", "1")


def test_description_and_custom_fields_are_shown_as_text_and_searched(open_file, detail_files):
    page = open_file(detail_files["v2"])
    ready(page)
    unlocked(page)
    expect(page.locator("html")).to_have_attribute("data-verdict", "ok")
    search = page.get_by_role("searchbox")
    for term in ("fx-99881", "gold", "leased line", "rack 4"):  # custom values, description
        search.fill(term)
        expect(page.locator("#count")).to_have_text(f"1 of {len(DETAILED)}")
        assert visible_rows(page) == ["Core router"]
    search.fill("serial number")  # labels are not searched, only values
    expect(page.locator("#empty")).to_be_visible()
    search.fill("S3cr3t")  # nor passwords
    expect(page.locator("#empty")).to_be_visible()
    search.fill("gold")
    page.locator(".row", has_text="Core router").click()
    fields = page.evaluate(
        """() => Array.from(document.querySelectorAll('#detail-body .field')).map(
             f => [f.querySelector('.field-label').textContent,
                   f.querySelector('.field-value').textContent])"""
    )
    values = dict(fields)
    assert values["Description"] == DETAILED[0].description
    assert values["Serial number"] == "FX-99881"
    assert values["Support contract"] == "<i>gold</i>"
    assert page.evaluate("document.querySelectorAll('#detail-body b, #detail-body i').length") == 0


def test_copy_buttons_have_accessible_names(open_file, detail_files):
    page = open_file(detail_files["v2"], clipboard=True)
    ready(page)
    unlocked(page)
    row_copy = page.get_by_role("button", name="Copy password for Core router")
    expect(row_copy).to_have_count(1)  # the list row's button
    page.get_by_role("searchbox").fill("rt1.acme")
    page.locator(".row", has_text="Core router").click()
    detail = page.locator("#detail")
    expect(detail.get_by_role("button", name="Copy password for Core router")).to_be_visible()
    expect(detail.get_by_role("button", name="Copy username for Core router")).to_be_visible()
    code = detail.get_by_role("button", name="Copy one-time code for Core router")
    expect(code).to_be_visible()
    expect(page.locator("#detail-totp")).to_have_attribute("data-code", lambda_re(r"^\d{6}$"))
    code.click()
    expect(page.locator("#toast")).to_contain_text("Code copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator(
        "#detail-totp"
    ).get_attribute("data-code")
    detail.get_by_role("button", name="Copy username for Core router").click()
    expect(page.locator("#toast")).to_contain_text("Username copied")
    assert page.evaluate("navigator.clipboard.readText()") == "admin"


@pytest.mark.parametrize(
    ("name", "link"),
    [
        ("Bidi URL", None),
        ("Zero width URL", None),
        ("Soft hyphen URL", None),
        ("Control URL", None),
        ("Script URL", None),
        ("Plain URL", "https://plain.example/x"),
    ],
)
def test_urls_with_hidden_characters_are_text_with_a_warning(open_file, detail_files, name, link):
    page = open_file(detail_files["v2"])
    ready(page)
    unlocked(page)
    page.get_by_role("searchbox").fill(name.lower())
    page.locator(".row", has_text=name).first.click()
    entry = next(e for e in DETAILED if e.name == name)
    url_field = page.locator(".field", has=page.locator(".field-label", has_text="URL"))
    expect(url_field.locator(".field-value")).to_have_text(entry.url)
    warning = url_field.locator(".field-warning")
    links = page.locator("#detail a")
    if link is None:
        expect(links).to_have_count(0)
        if name != "Script URL":
            expect(warning).to_be_visible()
            expect(warning).to_contain_text("invisible or text-direction characters")
        else:
            expect(warning).to_have_count(0)  # not http(s): text, as ever
    else:
        expect(warning).to_have_count(0)
        expect(links).to_have_count(1)
        assert links.first.get_attribute("href") == link
        assert links.first.get_attribute("rel") == "noopener noreferrer"


def test_lock_resets_the_passphrase_field_and_clears_the_copied_password(open_file, detail_files):
    page = open_file(detail_files["v2"], clipboard=True)
    ready(page)
    field = page.get_by_label("Passphrase")
    show = page.locator("#pass-show")
    field.fill(PASSPHRASE)
    show.click()
    expect(field).to_have_attribute("type", "text")
    expect(show).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator(".row").first).to_be_visible()
    page.get_by_role("button", name="Copy password for Core router").click()
    expect(page.locator("#toast")).to_contain_text("Password copied")
    assert page.evaluate("navigator.clipboard.readText()") == "S3cr3t<&>'\"!"
    page.get_by_role("button", name="Lock").click()
    expect(page.locator("#lock")).to_be_visible()
    expect(field).to_have_attribute("type", "password")
    expect(field).to_have_value("")
    expect(show).to_have_text("Show")
    expect(show).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#toast")).to_have_text("Clipboard cleared")
    expect(page.locator("html")).not_to_have_attribute("data-clip", "held")
    assert page.evaluate("navigator.clipboard.readText()") == ""


def test_lock_leaves_a_clipboard_the_user_changed_since(open_file, detail_files):
    page = open_file(detail_files["v2"], clipboard=True)
    ready(page)
    unlocked(page)
    page.get_by_role("button", name="Copy password for Core router").click()
    expect(page.locator("#toast")).to_contain_text("Password copied")
    expect(page.locator("html")).to_have_attribute("data-clip", "held")
    page.evaluate("navigator.clipboard.writeText('the user copied this')")
    page.get_by_role("button", name="Lock").click()
    expect(page.locator("#lock")).to_be_visible()
    expect(page.get_by_label("Passphrase")).to_have_value("")
    # The viewer has let go of the clipboard (its check is done) and cleared nothing.
    expect(page.locator("html")).not_to_have_attribute("data-clip", "held")
    assert page.evaluate("navigator.clipboard.readText()") == "the user copied this"
    expect(page.locator("#toast")).not_to_have_text("Clipboard cleared")


def test_made_date_in_the_future_is_flagged_and_the_age_shown(open_file, detail_files):
    page = open_file(detail_files["future"])
    ready(page)
    future = page.locator("#lock-future")
    expect(future).to_be_visible()
    expect(future).to_contain_text("claims to be made in the future")
    expect(page.locator("#lock-age")).to_contain_text("in the future")
    unlocked(page)
    expect(page.locator("#vault-future")).to_be_visible()

    page = open_file(detail_files["v2"])
    ready(page)
    expect(page.locator("#lock-age")).to_have_text("Made 3 days ago")
    expect(page.locator("#lock-future")).to_be_hidden()
    unlocked(page)
    expect(page.locator("#vault-age")).to_have_text("Made 3 days ago")
    expect(page.locator("#vault-future")).to_be_hidden()

    page = open_file(detail_files["soon"])  # 2 minutes ahead: clocks differ a little
    ready(page)
    expect(page.locator("#lock-future")).to_be_hidden()


def test_version_1_file_opens_with_a_persistent_banner(open_file, detail_files):
    page = open_file(detail_files["v1"])
    ready(page)
    text = "Version 1 file: not authenticated against forgery. Get a fresh copy (re-export)."
    expect(page.locator("#lock-v1")).to_have_text(text)
    expect(page.locator("#lock-age")).to_have_text("Made 5 hours ago")
    unlocked(page)
    expect(page.locator("html")).to_have_attribute("data-verdict", "ok_v1")
    expect(page.locator("#vault-v1")).to_have_text(text)
    assert visible_rows(page) == ["Old copy entry"]
    page.get_by_role("button", name="Lock").click()
    expect(page.locator("#lock-v1")).to_be_visible()
    unlocked(page)
    expect(page.locator("#vault-v1")).to_be_visible()

    page = open_file(detail_files["v2"])
    ready(page)
    expect(page.locator("#lock-v1")).to_be_hidden()


TOTP_PARITY = {
    # seed -> whether it makes codes; both readers must agree (found by the red team).
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=60": True,
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=6_0": False,
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=%EF%BC%98": False,
    "otpauth://user@totp/x?secret=JBSWY3DPEHPK3PXP": False,
    "otpauth://totp:443/x?secret=JBSWY3DPEHPK3PXP": False,
    "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP": False,
    "JBSWY3DPEHPK3PX": True,  # a length base32 padding would refuse: leftover bits dropped
    "JBSW Y3DP\u00a0EHPK": False,  # a no-break space is not ASCII white space
}


def test_totp_seeds_make_codes_in_the_viewer_exactly_when_they_do_in_the_cli(open_file, tmp_path):
    from strongroom.crypto.offline_cli import totp_now

    entries = [
        OfflineEntry(name=f"seed {i}", username="u", password="p", totp_seed=seed)
        for i, seed in enumerate(TOTP_PARITY)
    ]
    path = tmp_path / "seeds.html"
    path.write_bytes(build(cheap_keys(), entries))
    page = open_file(path)
    unlocked(page)
    for i, (seed, makes_codes) in enumerate(TOTP_PARITY.items()):
        assert (totp_now(seed) not in ("", "?")) is makes_codes, seed
        page.get_by_role("searchbox").fill(f"seed {i}")
        page.locator(".row", has_text=f"seed {i}").first.click()
        code = page.locator("#detail-totp")
        if makes_codes:
            expect(code).to_have_attribute("data-code", lambda_re(r"^\d{6}$"))
            now = datetime.now(UTC).timestamp()
            recent = {totp_now(seed, at=now - back) for back in (0, 30, 60)}
            assert code.get_attribute("data-code") in recent, seed
        else:
            expect(code).to_have_text("This account's TOTP seed cannot make codes")
        page.keyboard.press("Escape")
