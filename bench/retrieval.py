"""Password retrieval through the REST API vs. a bare Django view, on one real server.

Starts `strongroom web` (the production server configuration) on 127.0.0.1 with a private
data directory and SQLite (or STRONGROOM_DATABASE_URL if set), seeds one user, one resource
and one account through the real services, then drives both endpoints with N concurrent
keep-alive clients:

* bare floor:    GET  /livez                          (a bare Django view, no database)
* audited floor: POST /bench/audited-floor            (bench/floor_site.py: the same bearer
                 token looked up by its hash, one row inserted in one transaction: the least
                 an audited read must do)
* retrieval:     POST /api/v1/accounts/<id>/password  (bearer token lookup, authorisation,
                 audit record written first in a hash-chained transaction, AES-GCM decrypt)

With ``--nodes 2`` (or ``--balancer``) the server is N `strongroom web` nodes on the same
database behind Debian's haproxy (round robin, as tests/integration/test_ha.py and
docs/operations.md configure it), and every endpoint, floors included, goes through it.

Prints requests/s and p50/p99 latency (medians over the repeats), each against both floors
measured in the same run, the server's peak resident memory and the load average before and
after each row (the machine is shared: a row measured under load says so).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
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

BENCH = Path(__file__).resolve().parent

SEED = r"""
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import floor_site
floor_site.create_table()
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


HAPROXY_CFG = """
global
    maxconn 512

defaults
    mode http
    timeout connect 500ms
    timeout client 60s
    timeout server 60s
    timeout check 2s

frontend vault
    bind 127.0.0.1:{port}
    default_backend web

backend web
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    http-response set-header X-Served-By %s
{servers}
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
    parser.add_argument("--nodes", type=int, default=1, help="web nodes (2+: behind haproxy)")
    parser.add_argument(
        "--balancer", action="store_true", help="put haproxy in front even of one node"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.repeats = 400, 3
    levels = [int(x) for x in args.clients.split(",")]

    data_dir = tempfile.mkdtemp(prefix="strongroom-bench-")
    env = dict(
        os.environ,
        STRONGROOM_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="floor_settings",
        PYTHONPATH=os.pathsep.join([str(BENCH), *filter(None, [os.environ.get("PYTHONPATH", "")])]),
        STRONGROOM_LOG_LEVEL="WARNING",
    )
    seeded = subprocess.run([PY, "-c", SEED], env=env, capture_output=True, text=True, check=False)
    if seeded.returncode != 0:
        sys.stderr.write(seeded.stderr)
        return 1
    info = json.loads(seeded.stdout.strip().splitlines()[-1])
    strongroom = str(Path(PY).with_name("strongroom"))
    node_ports = [free_port() for _ in range(args.nodes)]
    procs = [
        subprocess.Popen(
            [strongroom, "web", "--host", "127.0.0.1", "--port", str(node_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for node_port in node_ports
    ]
    balancer = None
    port = node_ports[0]
    try:
        for node_port in node_ports:
            wait_up(node_port, time.monotonic() + 60)
        if args.nodes > 1 or args.balancer:
            haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
            if haproxy is None:
                sys.stderr.write("haproxy is missing (scripts/test installs Debian's haproxy)\n")
                return 1
            port = free_port()
            servers = "\n".join(
                f"    server web{i + 1} 127.0.0.1:{p} check" for i, p in enumerate(node_ports)
            )
            cfg = Path(data_dir) / "haproxy.cfg"
            cfg.write_text(HAPROXY_CFG.format(port=port, servers=servers), encoding="utf-8")
            balancer = subprocess.Popen(
                [haproxy, "-db", "-f", str(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_up(port, time.monotonic() + 30)
            # Wait until haproxy's health checks have every node UP (every node answers).
            served: set[str] = set()
            deadline = time.monotonic() + 30
            while len(served) < args.nodes and time.monotonic() < deadline:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    served.add(resp.getheader("X-Served-By") or "")
        auth = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
        reason = json.dumps({"reason": "benchmark"}).encode()
        cases = [
            ("bare Django view (floor)", "GET", "/livez", None, {}),
            ("token + 1 insert (floor)", "POST", "/bench/audited-floor", reason, auth),
            (
                "password retrieval (API)",
                "POST",
                f"/api/v1/accounts/{info['account_id']}/password",
                reason,
                auth,
            ),
        ]
        # Warm up both paths (imports, connection set-up, data-key cache).
        for _, method, path, body, headers in cases:
            load(port, method, path, body, headers, 2, 50)
        rows = []
        for clients in levels:
            for name, method, path, body, headers in cases:
                load_before = os.getloadavg()[0]
                runs = [
                    load(port, method, path, body, headers, clients, args.requests)
                    for _ in range(args.repeats)
                ]
                load_after = os.getloadavg()[0]
                errors = sum(r["errors"] for r in runs)
                rows.append(
                    (
                        name,
                        clients,
                        statistics.median(r["rps"] for r in runs),
                        statistics.median(r["p50_ms"] for r in runs),
                        statistics.median(r["p99_ms"] for r in runs),
                        errors,
                        f"{load_before:.2f}/{load_after:.2f}",
                    )
                )
        peak = sum(process_tree_peak_rss_mib(proc.pid) for proc in procs)
    finally:
        if balancer is not None:
            balancer.terminate()
            balancer.wait(timeout=30)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)

    db = (
        "PostgreSQL"
        if os.environ.get("STRONGROOM_DATABASE_URL", "").startswith("postgres")
        else "SQLite"
    )
    where = (
        f"{args.nodes} web node(s) behind haproxy"
        if balancer is not None
        else "one web node, no balancer"
    )
    print(
        f"\nPassword retrieval vs. floor — {db}, {where}, {args.requests} requests x "
        f"{args.repeats} runs per row (medians), servers' peak RSS {peak:.0f} MiB\n"
    )
    print(
        f"| {'endpoint':<26} | clients | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} "
        f"| errors | vs bare | vs audited | load 1m |"
    )
    print(
        f"|{'-' * 28}|--------:|---------:|--------:|--------:|-------:|--------:|-----------:|---------|"
    )
    bare = {c: rps for (n, c, rps, *_rest) in rows if n.startswith("bare")}
    audited = {c: rps for (n, c, rps, *_rest) in rows if n.startswith("token")}
    for name, clients, rps, p50, p99, errors, load_avg in rows:
        vs_bare = rps / bare[clients] if bare.get(clients) else 0
        vs_audited = rps / audited[clients] if audited.get(clients) else 0
        print(
            f"| {name:<26} | {clients:>7} | {rps:>8.0f} | {p50:>7.2f} | {p99:>7.2f} "
            f"| {errors:>6} | {vs_bare:>7.0%} | {vs_audited:>10.0%} | {load_avg} |"
        )
    return 0 if all(r[5] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
