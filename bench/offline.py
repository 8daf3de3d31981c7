"""The encrypted offline file: build time, peak memory and size in Python, and unlock,
search and memory in headless Chromium, for 1,000 / 10,000 / 100,000 entries.

The entries are the standard synthetic vault (bench/gen_vault.py, seed 1337: hostile
characters in every field). Every build runs in its own subprocess so its peak resident
memory can be read; times are medians over the repeats. The browser part opens the built
file from disk (file://) in Debian's Chromium with the real KDF cost (PBKDF2-HMAC-SHA256,
600,000 iterations), presses Unlock, and reads the viewer's performance marks:

* unlock -> first rows painted: from the Unlock handler to the frame after the first rows
  are in the DOM (PBKDF2, key unwrap, ECDH + HKDF, AES-GCM, gunzip, JSON.parse, drawing;
  format 3: of segment 0 only, every name and the first screenful);
* unlock -> every row in (format 3): the last segment decrypted, checked and searchable;
* search keystroke: from the key event to the frame after the results are drawn, typed
  once every row is in (median, p95 and the worst one);
* JS heap: V8's used heap once every row is in and searched, as it is (no forced garbage
  collection), and after a forced collection; the floor's heap holds its parsed rows.

``--phone`` opens the page at 390 x 844 (a phone's viewport); ``--sizes 1000000 --phone``
is the million-entry check (the tab must not run out of memory).

Next to each figure: PEERS.md's floor measured in this same run (Python: JSON + gzip +
AES-256-GCM + base64 into a page; browser: PBKDF2 + AES-GCM + gunzip + JSON.parse, drawing
nothing), interleaved with our own runs so that load from elsewhere hits both alike, the
ratio to it, the reference figures of /work/shared/bench/PEERS.md, and the target.

    .venv/bin/python bench/offline.py [--quick] [--sizes 1000,10000,100000]
    .venv/bin/python bench/offline.py --format kdbx    # KeePass build next to HTML
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
PASSPHRASE = "bench passphrase: correct horse battery staple"
ITERATIONS = 600_000
CHROMIUM = os.environ.get("STRONGROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-precise-memory-info",
]
# /work/shared/bench/PEERS.md, "floor" rows (1,000 / 10,000 / 100,000 entries).
FLOOR = {
    "build_s": {1000: 0.016, 10000: 0.17, 100000: 1.62},
    "peak_mib": {1000: 27, 10000: 52, 100000: 277},
    "size_mib": {1000: 0.09, 10000: 0.83, 100000: 8.2},
    "unlock_s": {1000: 0.43, 10000: 0.54, 100000: 0.89},
    "pbkdf2_s": {1000: 0.35, 10000: 0.32, 100000: 0.29},
    "staticrypt_unlock_s": {1000: 1.14, 10000: 6.86, 100000: 67.4},
    "staticrypt_mem_mib": {1000: 207, 10000: 606, 100000: 5388},
}
TARGET_100K = {
    "unlock_s": 1.5,
    "search_ms": 50.0,
    "size_mb": 10.0,
    "build_s": 5.0,
}


def _gen_vault() -> Any:
    spec = importlib.util.spec_from_file_location("gen_vault", HERE / "gen_vault.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _details(i: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A resource description and custom fields, as an MSP vault has them (format 2 carries
    both): every other entry has a description, every third a serial number and a
    contract, every seventh a hostile custom field. Deterministic, so the floor carries the
    same data."""
    description = f"Rack {i % 40}, row {i % 7}: managed under contract C-{i % 900:03d}" * (
        i % 2 == 0
    )
    custom: tuple[tuple[str, str], ...] = ()
    if i % 3 == 0:
        custom += (("Serial", f"SN-{(i * 7919) % 10**8:08d}"), ("Contract", f"C-{i % 900:03d}"))
    if i % 7 == 0:
        custom += (("=cmd|' /C calc'!A0", "<img src=x onerror=alert(1)> \u202e ключ"),)
    return description, custom


def _rows(n: int) -> list[dict[str, Any]]:
    """gen_vault rows with the details of ``_details`` (what the floor serialises)."""
    rows = _gen_vault().generate(n, 1337)
    for i, row in enumerate(rows):
        description, custom = _details(i)
        row["description"] = description
        row["custom"] = [list(pair) for pair in custom]
    return rows


def _entries(n: int) -> list[Any]:
    """gen_vault rows as offline entries; host from the URL, one update time per row."""
    from strongroom.crypto.offline import OfflineEntry

    base = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i, row in enumerate(_rows(n)):
        url = row["url"]
        host = url.split("/")[2] if "://" in url else url.split(":")[0]
        out.append(
            OfflineEntry(
                name=row["name"],
                resource_type=row["type"],
                host=host,
                url=url,
                username=row["username"],
                password=row["password"],
                notes=row["notes"],
                folder=row["folder"],
                updated_at=base + timedelta(minutes=7 * i),
                description=row["description"],
                custom_fields=tuple(tuple(pair) for pair in row["custom"]),
            )
        )
    return out


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build_one(n: int, out: str | None) -> dict[str, float]:
    """In a subprocess: generate, then time one build (the copy keys exist already, as
    they do for every rebuild of a synced copy)."""
    from strongroom.crypto.offline import copy_keys_create
    from strongroom.exports.offline_file import offline_file_build

    entries = _entries(n)
    t0 = time.perf_counter()
    keys = copy_keys_create(passphrase=PASSPHRASE, iterations=ITERATIONS)
    keys_s = time.perf_counter() - t0
    before = _rss_mib()
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    html = offline_file_build(
        copy_keys=keys,
        entries=entries,
        generated_at=now,
        expires_at=now + timedelta(days=30),
        title="Bench vault",
        owner="bench",
    )
    build_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if out:
        Path(out).write_bytes(html)
    return {
        "build_s": build_s,
        "keys_s": keys_s,
        "peak_mib": peak,
        "before_mib": before,
        "size_bytes": len(html),
    }


_FLOOR_SCRIPT = """
window.floorUnlock = async (passphrase, iterations) => {
  const t0 = performance.now();
  const b64 = (s) => Uint8Array.fromBase64 ? Uint8Array.fromBase64(s)
    : Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const head = JSON.parse(document.getElementById("h").textContent);
  const data = b64(document.getElementById("p").textContent);
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase),
    "PBKDF2", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    {name: "PBKDF2", hash: "SHA-256", salt: b64(head.salt), iterations}, base,
    {name: "AES-GCM", length: 256}, false, ["decrypt"]);
  const t1 = performance.now();
  const gz = await crypto.subtle.decrypt({name: "AES-GCM", iv: b64(head.nonce)}, key, data);
  const text = await new Response(new Blob([gz]).stream()
    .pipeThrough(new DecompressionStream("gzip"))).text();
  const rows = JSON.parse(text);
  window.__rows = rows;  // kept, as a viewer keeps what it shows (for the heap figure)
  return {total: performance.now() - t0, kdf: t1 - t0, count: rows.length};
};
"""


def floor_build_one(n: int, out: str | None) -> dict[str, float]:
    """PEERS.md's floor, measured in this run: JSON-serialise + gzip + AES-256-GCM +
    base64 into an HTML page (the key is derived before the clock starts)."""
    import base64
    import gzip

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    rows = _rows(n)
    salt, nonce = os.urandom(16), os.urandom(12)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, ITERATIONS).derive(PASSPHRASE.encode())
    before = _rss_mib()
    t0 = time.perf_counter()
    plaintext = gzip.compress(json.dumps(rows, ensure_ascii=False).encode(), 6, mtime=0)
    sealed = base64.b64encode(AESGCM(key).encrypt(nonce, plaintext, None)).decode()
    head = json.dumps(
        {"salt": base64.b64encode(salt).decode(), "nonce": base64.b64encode(nonce).decode()}
    )
    page = (
        f'<!DOCTYPE html><meta charset="utf-8"><script type="application/json" id="h">{head}'
        f'</script><script type="application/octet-stream" id="p">{sealed}</script>'
        f"<script>{_FLOOR_SCRIPT}</script>"
    ).encode()
    build_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if out:
        Path(out).write_bytes(page)
    return {"build_s": build_s, "peak_mib": peak, "before_mib": before, "size_bytes": len(page)}


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def floor_browse(browser: Any, path: Path, viewport: dict[str, int]) -> tuple[float, float]:
    """One floor unlock: (seconds, JS heap MiB as it is afterwards, no forced GC)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(path.resolve().as_uri())
    result = page.evaluate(f"floorUnlock({PASSPHRASE!r}, {ITERATIONS})")
    heap = context.new_cdp_session(page).send("Runtime.getHeapUsage")["usedSize"] / 2**20
    context.close()
    return result["total"] / 1000, heap


def _run_build(n: int, out: str | None, floor: bool = False) -> dict[str, float]:
    argv = [PY, str(Path(__file__).resolve()), "--floor-one" if floor else "--build-one", str(n)]
    if out:
        argv += ["--out", out]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


_KEY_TIMER = """
() => {
  window.__benchKeys = [];
  const search = document.getElementById("search");
  let started = 0;
  search.addEventListener("keydown", (e) => { started = e.timeStamp; });
  search.addEventListener("input", () => {
    const t0 = started;
    started = 0;
    if (!t0) return; // page.fill(): no key event to time from
    requestAnimationFrame(() => setTimeout(() => {
      window.__benchKeys.push(performance.now() - t0);
    }, 0));
  });
}
"""


def _wait_for_mark(page: Any, name: str, timeout: float = 120) -> None:
    # Polled from outside: wait_for_function evaluates strings in the page, which the
    # file's CSP (rightly) forbids.
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"performance.getEntriesByName({name!r}).length > 0"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {name} mark after {timeout} s")
        time.sleep(0.01)


def browse(
    path: Path, floor_path: Path, repeats: int, viewport: dict[str, int]
) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    unlock, kdf, parsed, drawn, every, heap, heap_gc, keys, work = ([] for _ in range(9))
    floors, floor_heaps = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            floor_s, floor_heap = floor_browse(browser, floor_path, viewport)
            floors.append(floor_s)
            floor_heaps.append(floor_heap)
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            page.goto(path.resolve().as_uri())
            page.fill("#passphrase", PASSPHRASE)
            page.click("#unlock")
            _wait_for_mark(page, "strongroom:rows-painted", timeout=600)
            has_all = page.evaluate("document.documentElement.dataset.loading !== undefined")
            if has_all or page.evaluate("performance.getEntriesByName('strongroom:all-rows')"
                                        ".length > 0"):  # fmt: skip
                _wait_for_mark(page, "strongroom:all-rows", timeout=600)
            marks = page.evaluate(
                "Object.fromEntries(performance.getEntriesByType('mark')"
                ".map(m => [m.name.split(':')[1], m.startTime]))"
            )
            start = marks["unlock-start"]
            unlock.append((marks["rows-painted"] - start) / 1000)
            kdf.append((marks["kdf-done"] - start) / 1000)
            parsed.append((marks["parsed"] - start) / 1000)
            drawn.append((marks["rows-drawn"] - start) / 1000)
            every.append((marks.get("all-rows", marks["rows-painted"]) - start) / 1000)
            page.wait_for_timeout(300)  # let the search index build, as a person would
            page.evaluate(_KEY_TIMER)
            page.click("#search")
            for query in ("alpha", "zulu prod", "josé"):
                page.fill("#search", "")
                for ch in query:
                    page.keyboard.type(ch)
                    page.wait_for_timeout(30)
            page.wait_for_timeout(200)
            keys += page.evaluate("window.__benchKeys")
            work += page.evaluate(
                "performance.getEntriesByName('strongroom:search').map(m => m.duration)"
            )
            cdp = context.new_cdp_session(page)
            heap.append(cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20)
            cdp.send("HeapProfiler.collectGarbage")
            heap_gc.append(cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20)
            rows_shown = page.locator(".row:not([hidden])").count()
            if not rows_shown:
                raise RuntimeError("no rows on screen after searching (tab crashed?)")
            context.close()
        browser.close()
    return {
        "unlock_s": statistics.median(unlock),
        "kdf_s": statistics.median(kdf),
        "parsed_s": statistics.median(parsed),
        "drawn_s": statistics.median(drawn),
        "all_rows_s": statistics.median(every),
        "search_ms": statistics.median(keys),
        "search_p95_ms": _p95(keys),
        "search_max_ms": max(keys),
        "search_work_ms": statistics.median(work),
        "heap_mib": statistics.median(heap),
        "heap_gc_mib": statistics.median(heap_gc),
        "floor_unlock_s": statistics.median(floors),
        "floor_heap_mib": statistics.median(floor_heaps),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=5, help="builds and unlocks per size")
    parser.add_argument("--quick", action="store_true", help="3 repeats, up to 10,000 entries")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--phone", action="store_true", help="a 390 x 844 viewport")
    parser.add_argument("--build-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument(
        "--format",
        choices=("html", "kdbx"),
        default="html",
        help="kdbx: the KeePass copy's build next to the HTML build (bench/kdbx.py)",
    )
    args, _unknown = parser.parse_known_args(argv)
    if args.format == "kdbx":
        return subprocess.call(
            [PY, str(HERE / "kdbx.py"), "--sizes", args.sizes, "--repeat", str(args.repeats)]
        )
    if args.build_one:
        print(json.dumps(build_one(args.build_one, args.out)))
        return 0
    if args.floor_one:
        print(json.dumps(floor_build_one(args.floor_one, args.out)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        args.repeats = 3
        sizes = [s for s in sizes if s <= 10_000]
    browser = not args.no_browser and Path(CHROMIUM).exists()

    viewport = VIEWPORTS["phone" if args.phone else "desktop"]
    print(
        f"offline file benchmark: {os.cpu_count()} CPUs, PBKDF2 {ITERATIONS:,} iterations, "
        f"viewport {viewport['width']}x{viewport['height']}, load average before "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-offline-") as tmp:
        for n in sizes:
            repeats = max(3, args.repeats - 2) if n >= 100_000 else args.repeats
            if n >= 1_000_000:
                repeats = min(repeats, 2)
            path = Path(tmp) / f"offline-{n}.html"
            floor_path = Path(tmp) / f"floor-{n}.html"
            builds, floors = [], []
            for i in range(repeats):  # interleaved, so load from elsewhere hits both alike
                builds.append(_run_build(n, str(path) if i == 0 else None))
                floors.append(_run_build(n, str(floor_path) if i == 0 else None, floor=True))
            row = {
                key: statistics.median(b[key] for b in builds)
                for key in ("build_s", "keys_s", "peak_mib", "before_mib", "size_bytes")
            }
            row |= {
                f"floor_{key}": statistics.median(b[key] for b in floors)
                for key in ("build_s", "peak_mib", "size_bytes")
            }
            if browser:
                row |= browse(path, floor_path, repeats=repeats, viewport=viewport)
            results[n] = row
            print(f"  {n:>7,} entries measured", file=sys.stderr, flush=True)

    head = "| entries | " + " | ".join(f"{n:,}" for n in sizes) + " | target at 100,000 |"
    lines = [head, "|---|" + "---:|" * len(sizes) + "---|"]

    def line(label: str, values: list[str], target: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(values) + f" | {target} |")

    def floor(key: str, digits: int = 2) -> list[str]:
        return [_fmt(FLOOR[key][n], digits) if n in FLOOR[key] else "" for n in sizes]

    def col(key: str, digits: int = 2, scale: float = 1.0) -> list[str]:
        return [_fmt(results[n][key] * scale, digits) for n in sizes]

    def ratio(key: str, floor_key: str) -> list[str]:
        return [f"{results[n][key] / results[n][floor_key]:.1f}x" for n in sizes]

    def ratio2(key: str, floor_key: str) -> list[str]:
        return [f"{results[n][key] / results[n][floor_key]:.2f}x" for n in sizes]

    line("build, s (median; copy keys exist)", col("build_s"), f"≤ {TARGET_100K['build_s']:g}")
    line("... floor build, this run, s", col("floor_build_s", 3))
    line("... build / floor", ratio("build_s", "floor_build_s"))
    line("... floor build (PEERS.md), s", floor("build_s", 3))
    line("copy key set-up, once per copy (PBKDF2), s", col("keys_s"))
    line("build peak RSS, MiB", col("peak_mib", 0))
    line("... of which before the build (entries in memory), MiB", col("before_mib", 0))
    line("... floor peak RSS, this run, MiB", col("floor_peak_mib", 0))
    line("... floor peak (PEERS.md), MiB", floor("peak_mib", 0))
    line("file size, MiB", col("size_bytes", 2, 1 / 2**20), f"≤ {TARGET_100K['size_mb']:g} MB")
    line("... file size, MB", col("size_bytes", 2, 1e-6))
    line("... floor size, this run, MiB", col("floor_size_bytes", 2, 1 / 2**20))
    if browser:
        line("unlock → first rows painted, s", col("unlock_s"), "≤ 0.5x floor")
        line("... of which PBKDF2 600k, s", col("kdf_s"))
        line("... of which decrypted + parsed (segment 0), s", col("parsed_s"))
        line("... floor unlock (no drawing), this run, s", col("floor_unlock_s"))
        line("... first rows / floor", ratio2("unlock_s", "floor_unlock_s"), "≤ 0.5x")
        line("unlock → every row in and searchable, s", col("all_rows_s"))
        line("... every row / floor", ratio2("all_rows_s", "floor_unlock_s"))
        line("... floor unlock (PEERS.md), s", floor("unlock_s"))
        line("... StatiCrypt unlock + table (PEERS.md), s", floor("staticrypt_unlock_s"))
        line(
            "search keystroke → drawn, ms (median)",
            col("search_ms", 1),
            f"≤ {TARGET_100K['search_ms']:g}",
        )
        line("search keystroke → drawn, ms (p95)", col("search_p95_ms", 1))
        line("search keystroke → drawn, ms (worst)", col("search_max_ms", 1))
        line("... filter + draw inside the page, ms (median)", col("search_work_ms", 1))
        line("JS heap, every row in, no forced GC, MiB", col("heap_mib", 0))
        line("... after a forced GC, MiB", col("heap_gc_mib", 0))
        line("... floor heap (parsed rows kept), no forced GC, MiB", col("floor_heap_mib", 0))
        line("... heap / floor heap", ratio2("heap_mib", "floor_heap_mib"))
        line("... StatiCrypt page memory (PEERS.md), MiB", floor("staticrypt_mem_mib", 0))
    print()
    print("\n".join(lines))
    print("\nload average after: " + " / ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    raise SystemExit(main())
