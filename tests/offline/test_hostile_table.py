"""Every hostile file of tests/offline/hostile.py through both readers: `strongroom open`
(a subprocess, exit code -> verdict) and the viewer in Chromium (data-verdict after
Unlock, or at load for what is refused before a passphrase is asked). Both must give the
row's verdict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .hostile import ROWS, ROWS_BY_NAME

NAMES = [row.name for row in ROWS]
# strongroom open's exit codes (cli.OPEN_EXIT_*); 0 is ok, or ok_v1 with its warning.
EXIT_VERDICTS = {2: "wrong_passphrase", 3: "damaged", 4: "unsupported", 5: "foreign_viewer"}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    paths = {}
    for row in ROWS:
        path = folder / f"{row.name}.html"
        path.write_bytes(row.make())
        paths[row.name] = path
        (folder / f"{row.name}.pass").write_text(row.passphrase + "\n", encoding="utf-8")
    return paths


def cli_verdict(path: Path) -> tuple[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):  # a worktree's own source tree first, as in the parent
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run(
        [sys.executable, "-m", "strongroom.cli", "open", str(path), "--passphrase-file",
         str(path.with_suffix(".pass")), "--json"],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        encoding="utf-8",
    )  # fmt: skip
    if done.returncode == 0:
        return ("ok_v1" if "version 1 file" in done.stderr else "ok"), done.stdout
    return EXIT_VERDICTS.get(done.returncode, f"exit {done.returncode}"), done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_cli(hostile_files, name):
    row = ROWS_BY_NAME[name]
    verdict, output = cli_verdict(hostile_files[name])
    assert verdict == row.verdict, output
    if verdict.startswith("ok"):
        assert "attacker-chosen" not in output or name == "v1-forgery-against-v1-copy"


def viewer_verdict(page, passphrase: str) -> str:
    html = page.locator("html")
    expect(html).to_have_attribute("data-ready", "1")
    if page.locator("#unlock").is_enabled():
        page.get_by_label("Passphrase").fill(passphrase)
        page.get_by_role("button", name="Unlock").click()
    expect(html).to_have_attribute("data-verdict", lambda_any())
    return html.get_attribute("data-verdict") or ""


def lambda_any():
    import re

    return re.compile(r"^(ok|ok_v1|wrong_passphrase|damaged|unsupported|browser)$")


@pytest.mark.browser
@pytest.mark.parametrize("name", NAMES)
def test_viewer(open_file_reusing_the_page, hostile_files, name):
    row = ROWS_BY_NAME[name]
    page = open_file_reusing_the_page(hostile_files[name])
    verdict = viewer_verdict(page, row.passphrase)
    assert verdict == row.verdict, page.locator("#unlock-error").get_attribute("title")
    if verdict in {"ok", "ok_v1"}:
        expect(page.locator("#vault")).to_be_visible()
        expect(page.locator(".row:not([hidden])").first).to_be_visible()
        expect(page.locator("#vault-v1")).to_be_visible() if verdict == "ok_v1" else expect(
            page.locator("#vault-v1")
        ).to_be_hidden()
    else:
        expect(page.locator("#vault")).to_be_hidden()
        assert page.locator(".row").count() == 0
        assert page.locator("#unlock-error").get_attribute("data-verdict") == verdict
        if verdict != "wrong_passphrase":
            expect(page.get_by_role("button", name="Unlock")).to_be_disabled()
