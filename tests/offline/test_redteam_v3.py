"""Red team against offline format 3 (and the older formats a victim's files may still be
in): attacks by someone holding any number of the victim's files and able to write the
synced folder, but without the passphrase or the server's keys. Every attack goes through
both readers (`strongroom open` and the viewer in Chromium, the helpers of
test_hostile_table.py) and must get the same verdict from each."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from playwright.sync_api import expect

from strongroom.crypto import offline

from . import forge, hostile
from .helpers import PASSPHRASE
from .test_hostile_table import cli_verdict, lambda_any


@dataclass(frozen=True)
class Attack:
    name: str
    verdict: str
    make: Callable[[], bytes]


def _payload(html: bytes) -> bytes:
    return forge.split_file(html)[1]


def _header(html: bytes) -> bytes:
    return forge.split_file(html)[0]


@cache
def _older_v3() -> bytes:
    """A genuine older build of the copy (made earlier; the attacker kept it)."""
    return hostile.make(3, generated_at="2025-01-01T00:00:00Z")


@cache
def _newer_v3() -> bytes:
    return hostile.make(3, generated_at="2025-06-01T00:00:00Z")


def rollback_new_header_old_payload() -> bytes:
    """Show the newest "made" date over the older build's entries (the rollback hidden)."""
    return hostile.page().render(_header(_newer_v3()), _payload(_older_v3()))


def rollback_old_header_new_date() -> bytes:
    """The older build with its clear "made" date edited to look recent."""
    header = _header(_older_v3()).replace(b"2025-01-01T00:00:00Z", b"2025-06-01T00:00:00Z")
    return hostile.page().render(header, _payload(_older_v3()))


def segment_0_of_older_build() -> bytes:
    old = _payload(_older_v3()).split(b".")
    new = _payload(_newer_v3()).split(b".")
    return hostile.page().render(_header(_newer_v3()), b".".join([old[0], *new[1:]]))


def v3_relabelled(version: int) -> bytes:
    """A genuine version 3 file relabelled as an older format (weaker checks in v1)."""
    header = _header(_newer_v3()).replace(b'"version":3', b'"version":%d' % version)
    return hostile.page().render(header, _payload(_newer_v3()))


def v3_payload_edit(edit: Callable[[bytes], bytes]) -> Callable[[], bytes]:
    return lambda: hostile.page().render(_header(_newer_v3()), edit(_payload(_newer_v3())))


def many_bogus_segments() -> bytes:
    """Segment 0 genuine, then 100,000 forged 16-byte segments (2.4 MB): the readers must
    refuse at the first one, not grind through all of them or hold them all decoded."""
    parts = _payload(_newer_v3()).split(b".")
    bogus = forge.b64(b"\0" * 16).encode()
    return hostile.page().render(_header(_newer_v3()), b".".join([parts[0], *[bogus] * 100_000]))


def v1_whitespace_bomb(spaces: int) -> bytes:
    """A version 1 payload (anyone holding one version 1 file of the copy can make one that
    opens with its passphrase: forge.forge_from_copy) whose JSON carries ``spaces`` blanks
    between two tokens: legal JSON, no value longer than the 1,000,000 limit, and about
    1,000 times smaller gzipped. 540,000,000 blanks is a 0.8 MB file."""
    text = forge.payload_json(1, hostile.rows_v1())
    cut = text.index(b'"entries":')
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [deflate.compress(text[:cut])]
    chunk = b" " * (1 << 24)
    left = spaces
    while left:
        out.append(deflate.compress(chunk[: min(left, len(chunk))]))
        left -= min(left, len(chunk))
    out += [deflate.compress(text[cut:]), deflate.flush()]
    return hostile.make(1, gzipped=b"".join(out))


def v1_forged_markup() -> bytes:
    """A version 1 forgery (attacker's content, opens with the v1 passphrase) full of
    markup and script: it must open (that is version 1's known weakness, with its
    warning) and show all of it as text, running nothing."""
    rows = [
        forge.row_v1(
            name='<img src=x onerror="alert(1)">Bank',
            url="javascript:alert(document.domain)",
            host="<script>alert(2)</script>",
            username='"><svg onload=alert(3)>',
            password="</script><script>alert(4)</script>",
            notes="<iframe srcdoc='<script>alert(5)</script>'></iframe>",
            folder="<b>x</b>/<i>y</i>",
            totp="otpauth://totp/<img src=x onerror=alert(6)>?secret=JBSWY3DPEHPK3PXP",
        ),
        forge.row_v1(name="Reset here", url="https://attacker.example/reset"),
    ]
    return forge.forge_from_copy(hostile.make(1), rows=rows)


ATTACKS: list[Attack] = [
    Attack("rollback-new-header-old-payload", "damaged", rollback_new_header_old_payload),
    Attack("rollback-old-build-made-date-edited", "damaged", rollback_old_header_new_date),
    Attack("v3-segment-0-of-an-older-build", "damaged", segment_0_of_older_build),
    Attack("v3-relabelled-version-1", "damaged", lambda: v3_relabelled(1)),
    Attack("v3-relabelled-version-2", "damaged", lambda: v3_relabelled(2)),
    Attack("v3-leading-dot", "damaged", v3_payload_edit(lambda p: b"." + p)),
    Attack("v3-newline-around-payload", "damaged", v3_payload_edit(lambda p: b"\n" + p + b"\n")),
    Attack("v3-dot-as-percent-2e", "damaged", v3_payload_edit(lambda p: p.replace(b".", b"%2E"))),
    Attack(
        "v3-dot-as-ideographic-full-stop",
        "damaged",
        v3_payload_edit(lambda p: p.replace(b".", "\u3002".encode())),
    ),
    Attack("v3-100000-bogus-segments", "damaged", many_bogus_segments),
    Attack("v1-whitespace-bomb-540M", "damaged", lambda: v1_whitespace_bomb(540_000_000)),
    Attack("v1-forged-markup-and-script", "ok_v1", v1_forged_markup),
]
ATTACKS_BY_NAME = {attack.name: attack for attack in ATTACKS}
NAMES = list(ATTACKS_BY_NAME)
HEAVY = {"v1-whitespace-bomb-540M"}


def _param(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name


def viewer_verdict(page, passphrase: str, timeout: float = 5_000) -> str:
    """test_hostile_table's, with a longer wait for the files that take long to judge."""
    html = page.locator("html")
    expect(html).to_have_attribute("data-ready", "1")
    if page.locator("#unlock").is_enabled():
        page.get_by_label("Passphrase").fill(passphrase)
        page.get_by_role("button", name="Unlock").click()
    expect(html).to_have_attribute("data-verdict", lambda_any(), timeout=timeout)
    return html.get_attribute("data-verdict") or ""


@pytest.fixture(scope="module")
def attack_files(tmp_path_factory) -> Callable[[str], Path]:
    folder = tmp_path_factory.mktemp("redteam")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            path = folder / f"{name}.html"
            path.write_bytes(ATTACKS_BY_NAME[name].make())
            path.with_suffix(".pass").write_text(PASSPHRASE + "\n", encoding="utf-8")
            made[name] = path
        return made[name]

    return get


@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_cli(attack_files, name):
    verdict, output = cli_verdict(attack_files(name))
    assert verdict == ATTACKS_BY_NAME[name].verdict, output


@pytest.mark.browser
@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_viewer(open_file, attack_files, name):
    page = open_file(attack_files(name))
    verdict = viewer_verdict(page, PASSPHRASE, timeout=120_000 if name in HEAVY else 5_000)
    assert verdict == ATTACKS_BY_NAME[name].verdict
    if verdict != "ok_v1":
        expect(page.locator("#vault")).to_be_hidden()
        assert page.locator(".row").count() == 0


@pytest.mark.browser
def test_forged_v1_markup_is_text_and_runs_nothing(open_file, attack_files):
    """The one file an attacker can make open with (a version 1) passphrase: everything in
    it is text; no element of theirs, no script, no javascript: link (the fixture fails on
    any dialog, CSP violation or request)."""
    page = open_file(attack_files("v1-forged-markup-and-script"))
    assert viewer_verdict(page, PASSPHRASE) == "ok_v1"
    expect(page.locator("#vault-v1")).to_be_visible()
    row = page.locator(".row:not([hidden])", has_text="Bank").first
    expect(row.locator(".row-name")).to_have_text('<img src=x onerror="alert(1)">Bank')
    row.click()
    page.get_by_role("button", name="Reveal").click()
    values = dict(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('#detail-body .field')).map(
                 f => [f.querySelector('.field-label').textContent,
                       f.querySelector('.field-value').textContent])"""
        )
    )
    assert values["Password"] == "</script><script>alert(4)</script>"
    assert values["URL"] == "javascript:alert(document.domain)"
    assert values["Notes"] == "<iframe srcdoc='<script>alert(5)</script>'></iframe>"
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 3
    assert page.evaluate("document.querySelectorAll('[onerror],[onload]').length") == 0
    assert page.locator('a[href^="javascript:" i]').count() == 0


def test_payload_limit_is_chromiums_longest_string():
    """The cap both readers share: the longest string V8 holds (2**29 - 24)."""
    assert offline.MAX_PAYLOAD_BYTES == (1 << 29) - 24


# ------------------------------------------------- the page: where the elements end

INJECTED = (
    b'<p id="injected">Your session expired. '
    b'<a href="https://attacker.example/unlock">Unlock again here</a></p>'
)


def payload_closed_upper_case() -> bytes:
    """A genuine file whose payload element is closed early by "</SCRIPT >" (the HTML
    parser ends a script element there too), the attacker's markup after it and before
    the original "</script>": a browser parses that markup as page content around an
    untouched payload. `strongroom open` used to read on to the lower-case "</script>",
    judge the markup as payload and say *damaged*, so a user checking a mailed copy was
    not told what it is: a page that is not Strongroom's viewer."""
    html = _newer_v3()
    payload = _payload(html)
    assert html.count(payload) == 1
    return html.replace(payload, payload + b"</SCRIPT >" + INJECTED)


def test_markup_after_an_upper_case_script_end_is_a_foreign_viewer(tmp_path, open_file):
    path = tmp_path / "injected.html"
    path.write_bytes(payload_closed_upper_case())
    path.with_suffix(".pass").write_text(PASSPHRASE + "\n", encoding="utf-8")
    verdict, output = cli_verdict(path)
    assert verdict == "foreign_viewer", output
    # The browser reads the untouched payload (the page is judged only by `strongroom
    # open`, by design); the injected markup is inert: no script, form or request.
    page = open_file(path)
    assert viewer_verdict(page, PASSPHRASE) == "ok"
    expect(page.locator("#injected")).to_have_count(1)
    assert page.evaluate("document.getElementById('strongroom-payload').textContent") == (
        _payload(_newer_v3()).decode()
    )


@pytest.mark.parametrize("close", [b"</script >", b"</Script>", b"</script/", b"</script\n>"])
def test_every_html_script_end_ends_the_element_for_strongroom_open(tmp_path, close):
    html = _newer_v3()
    payload = _payload(html)
    path = tmp_path / "closed.html"
    path.write_bytes(html.replace(payload, payload + close + b"<b>x</b>"))
    path.with_suffix(".pass").write_text(PASSPHRASE + "\n", encoding="utf-8")
    assert cli_verdict(path)[0] == "foreign_viewer"
