"""Password retrieval through the REST API vs. a bare Django view, on one real server.

Starts `strongroom web` (the production server configuration) on 127.0.0.1 with a private
data directory and SQLite (or STRONGROOM_DATABASE_URL if set), seeds one user, one resource
and one account through the real services, then drives both endpoints with N concurrent
keep-alive clients:

* floor:     GET  /livez                          (a bare Django view, no database)
* retrieval: POST /api/v1/accounts/<id>/password  (bearer token lookup, authorisation,
             audit record written first in a hash-chained transaction, AES-GCM decrypt)

Prints requests/s and p50/p99 latency (medians over the repeats) and the server's peak
resident memory.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

SEED = r"""
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from strongroom.core import keys
keys.verify()
from strongroom.accounts.services import user_create, api_token_create, REAUTH_TRUSTED
from strongroom.vault.services import resource_create, account_create
user = user_create(actor=None, username="bench", password="Bench-password-0123", role="password_admin")
token = api_token_create(user=user, name="bench", reauth=REAUTH_TRUSTED)
raw = token.raw
res = resource_create(actor=user, name="bench server <&>", resource_type="server", host="10.0.0.1")
acc = account_create(actor=user, resource_id=res.pk, username="root", password="S3cr3t-\"<&>'-密码")
print(json.dumps({"token": raw, "account_id": str(acc.pk)}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/livez")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        threading.Event().wait(0.2)  # polling a socket that is not up yet
    raise RuntimeError("server did not come up")


def process_tree_peak_rss_mib(pid: int) -> float:
    """Sum of VmHWM (peak resident set) of the server process and its children."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    total_kib = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def load(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    clients: int,
    total: int,
) -> dict[str, float]:
    per_client = total // clients
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        start_gate.wait()
        for _ in range(per_client):
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,16", help="comma-separated concurrency levels")
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer requests and repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.repeats = 400, 3
    levels = [int(x) for x in args.clients.split(",")]

    data_dir = tempfile.mkdtemp(prefix="strongroom-bench-")
    env = dict(
        os.environ,
        STRONGROOM_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="strongroom.config.settings",
        STRONGROOM_LOG_LEVEL="WARNING",
    )
    seeded = subprocess.run([PY, "-c", SEED], env=env, capture_output=True, text=True, check=False)
    if seeded.returncode != 0:
        sys.stderr.write(seeded.stderr)
        return 1
    info = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = free_port()
    strongroom = str(Path(PY).with_name("strongroom"))
    server = subprocess.Popen(
        [strongroom, "web", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_up(port, time.monotonic() + 60)
        auth = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
        cases = [
            ("bare Django view (floor)", "GET", "/livez", None, {}),
            (
                "password retrieval (API)",
                "POST",
                f"/api/v1/accounts/{info['account_id']}/password",
                json.dumps({"reason": "benchmark"}).encode(),
                auth,
            ),
        ]
        # Warm up both paths (imports, connection set-up, data-key cache).
        for _, method, path, body, headers in cases:
            load(port, method, path, body, headers, 2, 50)
        rows = []
        for clients in levels:
            for name, method, path, body, headers in cases:
                runs = [
                    load(port, method, path, body, headers, clients, args.requests)
                    for _ in range(args.repeats)
                ]
                errors = sum(r["errors"] for r in runs)
                rows.append(
                    (
                        name,
                        clients,
                        statistics.median(r["rps"] for r in runs),
                        statistics.median(r["p50_ms"] for r in runs),
                        statistics.median(r["p99_ms"] for r in runs),
                        errors,
                    )
                )
        peak = process_tree_peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    db = (
        "PostgreSQL"
        if os.environ.get("STRONGROOM_DATABASE_URL", "").startswith("postgres")
        else "SQLite"
    )
    print(
        f"\nPassword retrieval vs. floor — {db}, {args.requests} requests x {args.repeats} runs "
        f"per row (medians), server peak RSS {peak:.0f} MiB\n"
    )
    print(
        f"| {'endpoint':<26} | clients | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | errors | vs floor |"
    )
    print(f"|{'-' * 28}|--------:|---------:|--------:|--------:|-------:|---------:|")
    floor = {c: rps for (n, c, rps, *_rest) in rows if n.startswith("bare")}
    for name, clients, rps, p50, p99, errors in rows:
        ratio = rps / floor[clients] if floor.get(clients) else 0
        print(
            f"| {name:<26} | {clients:>7} | {rps:>8.0f} | {p50:>7.2f} | {p99:>7.2f} | {errors:>6} | {ratio:>7.0%} |"
        )
    return 0 if all(r[5] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
