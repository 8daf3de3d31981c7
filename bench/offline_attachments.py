"""Format 4 attachments and the offline file's first rows: a copy of N entries of the
standard synthetic vault (bench/gen_vault.py, seed 1337) without attachments, and the same
with K carried attachments of S random bytes each (the default policy's caps: 16 x 1 MiB).
Prints the file sizes, the build time with the attachments, and in headless Chromium the
time from Unlock to the first rows painted and to every segment in (rows and attachment
bytes, checked), runs interleaved. PBKDF2 runs at 1,000 iterations here: what is measured
is what the attachments add after the key is derived (docs/offline-file-format.md §15).

    .venv/bin/python bench/offline_attachments.py [--entries 10000] [--files 16] [--size 1048576] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from playwright.sync_api import sync_playwright  # noqa: E402
from tests.offline.helpers import PASSPHRASE, build, cheap_keys, vault_entries  # noqa: E402

from strongroom.crypto.offline import OfflineAttachment  # noqa: E402

MARKS = """() => {
  const at = (n) => (performance.getEntriesByName(n)[0] || {}).startTime;
  return [at('strongroom:rows-painted') - at('strongroom:unlock-start'),
          at('strongroom:all-rows') - at('strongroom:unlock-start')];
}"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    entries = vault_entries(args.entries)
    keys = cheap_keys()
    plain = build(keys, entries)
    with_files = [
        replace(entry, attachments=(OfflineAttachment(f"file-{i}.bin", os.urandom(args.size)),))
        if i < args.files
        else entry
        for i, entry in enumerate(entries)
    ]
    started = time.perf_counter()
    heavy = build(keys, with_files)
    built = time.perf_counter() - started
    print(
        f"{args.entries:,} entries: file {len(plain) / 2**20:.2f} MiB; with {args.files} x "
        f"{args.size:,} bytes carried {len(heavy) / 2**20:.2f} MiB (build {built:.2f} s)"
    )
    found: dict[str, list[list[float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        paths = {"without": Path(folder) / "plain.html", "with": Path(folder) / "heavy.html"}
        paths["without"].write_bytes(plain)
        paths["with"].write_bytes(heavy)
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        for _ in range(args.runs):
            for name, path in paths.items():
                context = browser.new_context()
                page = context.new_page()
                page.goto(path.as_uri())
                page.wait_for_selector("html[data-ready='1']")
                page.fill("#passphrase", PASSPHRASE)
                page.click("#unlock")
                page.wait_for_selector("html[data-verdict='ok']", timeout=300_000)
                found[name].append(page.evaluate(MARKS))
                context.close()
        browser.close()
    print("| attachments | unlock → first rows painted, ms | unlock → every segment in, ms |")
    print("|---|---:|---:|")
    for name, runs in found.items():
        first = statistics.median(r[0] for r in runs)
        every = statistics.median(r[1] for r in runs)
        print(f"| {name} | {first:.0f} | {every:.0f} |")
    print(f"load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
