"""The KeePass (.kdbx) offline copy next to the encrypted HTML copy: build time (wall and
CPU), peak resident memory and size for the same entries (bench/offline.py's synthetic
vault, seed 1337: hostile characters in every field, descriptions, custom fields, one TOTP
seed in ten), each build in its own subprocess so its peak memory can be read. The copy
keys exist already, as they do for every rebuild of a synced copy (KDBX: Argon2id 64 MiB,
3 passes, 2 lanes; HTML: PBKDF2 600,000). Optionally (--check) keepassxc-cli opens the
100,000-entry file and counts its entries.

Target (issue 15): 100,000 entries in at most 5 s and 500 MiB.

    .venv/bin/python bench/kdbx.py [--sizes 1000,10000,100000] [--repeat 3] [--check]
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
TARGET = {"build_s": 5.0, "peak_mib": 500.0}


def _offline_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_offline", HERE / "offline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entries(n: int) -> list[Any]:
    from dataclasses import replace

    entries = _offline_bench()._entries(n)
    # Account IDs (stable UUIDs) and a TOTP seed in one entry of ten, as a vault has them.
    return [
        replace(e, entry_id=f"{i:08x}-0000-4000-8000-{i:012x}", totp_seed="JBSWY3DPEHPK3PXP")
        if i % 10 == 0
        else replace(e, entry_id=f"{i:08x}-0000-4000-8000-{i:012x}")
        for i, e in enumerate(entries)
    ]


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build_one(fmt: str, n: int, out: str | None) -> dict[str, float]:
    """In a subprocess: generate the entries, make the keys, time one build."""
    from strongroom.crypto import kdbx, offline
    from strongroom.exports import offline_file

    entries = _entries(n)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    if fmt == "kdbx":
        keys: Any = kdbx.kdbx_keys_create(passphrase=PASSPHRASE)
    else:
        keys = offline.copy_keys_create(passphrase=PASSPHRASE, iterations=600_000)
    keys_s = time.perf_counter() - t0
    before = _rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    if fmt == "kdbx":
        content = kdbx.kdbx_build(keys=keys, entries=entries, generated_at=now, title="Bench vault")
    else:
        content = offline_file.offline_file_build(
            copy_keys=keys,
            entries=entries,
            generated_at=now,
            expires_at=now + timedelta(days=30),
            title="Bench vault",
            owner="bench",
        )
    build_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if out:
        Path(out).write_bytes(content)
    return {
        "build_s": build_s,
        "cpu_s": cpu_s,
        "keys_s": keys_s,
        "peak_mib": peak,
        "before_mib": before,
        "size_bytes": len(content),
    }


def _run(fmt: str, n: int, out: str | None = None) -> dict[str, float]:
    argv = [PY, str(Path(__file__).resolve()), "--build-one", fmt, str(n)]
    if out:
        argv += ["--out", out]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout)


def _check(path: str, n: int) -> str:
    """keepassxc-cli opens the file with the passphrase: how many entries it lists."""
    t0 = time.perf_counter()
    done = subprocess.run(
        ["keepassxc-cli", "export", "-q", "--format", "csv", path],
        input=PASSPHRASE + "\n",
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    took = time.perf_counter() - t0
    if done.returncode != 0:
        return f"keepassxc-cli refused it: {done.stderr.strip()[-200:]}"
    # One header line; values may hold newlines, so count UUID-bearing rows loosely.
    return f"keepassxc-cli opened it in {took:.1f} s ({n:,} entries expected)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--build-one", nargs=2, metavar=("FORMAT", "N"))
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.build_one:
        fmt, n = args.build_one
        print(json.dumps(build_one(fmt, int(n), args.out)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'entries':>8} {'format':>6} {'build s':>8} {'cpu s':>7} {'keys s':>7} "
        f"{'peak MiB':>9} {'(entries)':>9} {'size MiB':>9}"
    )
    for n in sizes:
        for fmt in ("html", "kdbx"):
            runs = [_run(fmt, n) for _ in range(args.repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"{n:>8,} {fmt:>6} {med['build_s']:>8.2f} {med['cpu_s']:>7.2f} "
                f"{med['keys_s']:>7.2f} {med['peak_mib']:>9.0f} {med['before_mib']:>9.0f} "
                f"{med['size_bytes'] / 2**20:>9.2f}"
            )
    n = max(sizes)
    print(
        f"target at 100,000 (kdbx): build <= {TARGET['build_s']} s, peak <= {TARGET['peak_mib']} MiB"
    )
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "bench.kdbx")
            _run("kdbx", n, path)
            print(_check(path, n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
