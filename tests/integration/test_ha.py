"""High availability with real processes (issue 14): two `strongroom web` nodes behind
Debian's haproxy, two `strongroom worker` processes, one PostgreSQL database of the test's
own and the real Redis (database 15, a queue of the test's own). Under load, one web node
(gunicorn master and its workers: the whole process group, as when its host dies) and one
worker are killed with SIGKILL at the same instant.

The balancer, as an operator would configure it (see docs/operations.md): health check
``GET /readyz`` every 500 ms, a node DOWN after 2 failed checks and UP after 2 good ones;
``retries 3`` with ``option redispatch 1`` (every retry goes to another node) and
``retry-on conn-failure empty-response response-timeout`` (a request the dead node never
answered is sent again; ``POST /api/v1/sync`` carries an ``Idempotency-Key``, so a resent
request returns the job the first attempt may have stored instead of making a second).

The load: one thread issuing ``GET /api/v1/resources`` with a token, back to back; one
thread issuing ``POST /api/v1/sync`` (local folder provider) for each user in turn.

What is shown, and how the windows are defined:

- Requests: 0 failed among requests *started after the kill*: the dead node's port refuses
  connections, haproxy retries on the other node, before and after its health check marks
  the node DOWN (the issue's bar, "after the health check drops the node", is the stricter
  subset started after DOWN; both are asserted). Requests in flight on the killed node at
  the kill instant are the only ones allowed to fail: haproxy resends those that got no
  answer at all, but a response cut half-way cannot be resent. Their number is printed;
  in our runs it was 0 too.
- Jobs: every job the clients were answered 202 for reaches ``succeeded`` (the killed
  worker's job is taken back after its 3-second lease by the survivor's 1-second sweep),
  one job per Idempotency-Key (no retry made a second job).
- 0 double uploads: each job's upload is audited exactly once, with the SHA-256 recorded
  on the job; every stored object is one of its user's recorded results and opens with
  the passphrase to exactly that user's entries.

Runs only in the suite's PostgreSQL pass (it needs a PostgreSQL server and Redis)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.helpers import (
    LOGIN_PASSWORD,
    free_port,
    make_installation,
    outer_postgres_url,
    wait_until,
    wait_until_http_ok,
)
from strongroom.crypto import offline
from strongroom.exports import offline_file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.db_specific,
    pytest.mark.skipif(outer_postgres_url() is None, reason="runs in the PostgreSQL pass"),
]

PASSPHRASE = "plum orbit quietly seventy lantern"
# Debian installs it in /usr/sbin, which is not on every user's PATH.
HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
REDIS_URL = os.environ.get("STRONGROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
USERS = 6
ENTRIES = 150
GETS_AFTER_DOWN = 60  # requests through the balancer after the node is DOWN, at least
POSTS_AFTER_DOWN = 3
LEASE_SECONDS = 3

SEED = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(
    actor=boss, provider="local", enabled=True, config={{"base_dir": BASE}}
)
result = {{}}
for u in range({USERS}):
    user = people.user_create(
        actor=None, username=f"tech{{u}}", password={LOGIN_PASSWORD!r}, role="password_admin"
    )
    for i in range({ENTRIES}):
        r = vault.resource_create(actor=user, name=f"host-{{u}}-{{i:03d}}", host="10.0.0.1")
        vault.account_create(
            actor=user, resource_id=r.pk, username="root", password=f"pw-{{u}}-{{i}}"
        )
    conn = storage.storage_connection_save(
        actor=user, provider="local", config={{"folder": f"tech{{u}}"}}, credentials={{}}
    )
    token = people.api_token_create(user=user, name="ha test", reauth=people.REAUTH_TRUSTED)
    result[user.username] = {{"token": token.raw, "connection": str(conn.pk)}}
"""

RESULTS = """
from strongroom.audit.models import AuditEvent
from strongroom.sync.models import SyncJob
result = {}
for j in SyncJob.objects.select_related("user"):
    audits = AuditEvent.objects.filter(action="sync.upload", object_id=str(j.pk))
    result[str(j.pk)] = {
        "user": j.user.username,
        "key": j.idempotency_key,
        "state": j.state,
        "attempts": j.attempts,
        "sha256": j.result_sha256,
        "audited": [a.details["sha256"] for a in audits],
    }
"""

HAPROXY_CFG = """
global
    maxconn 256
    stats socket {sock} mode 600 level admin

defaults
    mode http
    timeout connect 500ms
    timeout client 60s
    timeout server 60s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend vault
    bind 127.0.0.1:{port}
    default_backend web

backend web
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    http-response set-header X-Served-By %s
    server web1 127.0.0.1:{web1} check
    server web2 127.0.0.1:{web2} check
"""


@dataclass
class Outcome:
    kind: str  # "get" or "post"
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    served_by: str
    detail: str = ""
    key: str = ""
    job: str = ""


def _request(url: str, *, token: str, body: dict | None = None, key: str = "") -> tuple:
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers |= {"Content-Type": "application/json", "Idempotency-Key": key}
    request = urllib.request.Request(  # noqa: S310 - loopback URL built by the test
        url, data=data, method="POST" if body is not None else "GET", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.headers.get("X-Served-By", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("X-Served-By", ""), exc.read()[:300]
    except (OSError, http.client.HTTPException) as exc:
        # No whole HTTP answer: refused, reset, or cut mid-body (IncompleteRead, when the
        # node is killed while it sends; an HTTPException, not an OSError). Kept as status 0,
        # so the test judges it like any other failure (only requests in flight at the kill
        # may fail), where before it ended the load thread and starved the test of load.
        return 0, "", repr(exc).encode()


class Load:
    """Two client threads through the balancer; every request's outcome is kept."""

    def __init__(self, base: str, seeded: dict) -> None:
        self.base = base
        self.seeded = seeded
        self.outcomes: list[Outcome] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._gets, daemon=True),
            threading.Thread(target=self._posts, daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
            assert not thread.is_alive()

    def _keep(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self.lock:
            return list(self.outcomes)

    def _gets(self) -> None:
        token = self.seeded["tech0"]["token"]
        while not self.stop.is_set():
            started = time.monotonic()
            status, served_by, body = _request(f"{self.base}/api/v1/resources?limit=5", token=token)
            ok = status == 200 and json.loads(body)["total"] == ENTRIES
            self._keep(
                Outcome("get", started, time.monotonic(), status if ok else -status, served_by,
                        "" if ok else body[:300].decode(errors="replace"))
            )  # fmt: skip

    def _posts(self) -> None:
        n = 0
        while not self.stop.is_set():
            user = f"tech{n % USERS}"
            n += 1
            key = uuid.uuid4().hex
            body = {
                "connection_id": self.seeded[user]["connection"],
                "passphrase": PASSPHRASE,
                "reason": "HA test",
            }
            started = time.monotonic()
            status, served_by, raw = _request(
                f"{self.base}/api/v1/sync", token=self.seeded[user]["token"], body=body, key=key
            )
            job = json.loads(raw)["id"] if status == 202 else ""
            self._keep(
                Outcome("post", started, time.monotonic(), status, served_by,
                        "" if status == 202 else raw[:300].decode(errors="replace"), key, job)
            )  # fmt: skip


class HAProxy:
    def __init__(self, workdir: Path, web_ports: tuple[int, int]) -> None:
        self.sock = str(workdir / "haproxy.sock")
        self.port = free_port()
        cfg = workdir / "haproxy.cfg"
        cfg.write_text(
            HAPROXY_CFG.format(sock=self.sock, port=self.port, web1=web_ports[0],
                               web2=web_ports[1]),
            encoding="utf-8",
        )  # fmt: skip
        self.log = (workdir / "haproxy.log").open("w")
        self.proc = subprocess.Popen(
            [HAPROXY or "haproxy", "-db", "-f", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(self.sock)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stat(self) -> list[dict[str, str]]:
        rows = csv.DictReader(io.StringIO(self.command("show stat").removeprefix("# ")))
        return [r for r in rows if r["pxname"] == "web"]

    def status(self) -> dict[str, str]:
        """Each server's health as haproxy sees it ("UP", "DOWN", "UP 1/2", ...)."""
        try:
            rows = self.stat()
        except OSError:  # not listening yet
            return {}
        servers = (r for r in rows if r["svname"] not in {"FRONTEND", "BACKEND"})
        return {r["svname"]: r["status"] for r in servers}

    def close(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        self.log.close()


def _start(inst, workdir: Path, name: str, *args: str, env: dict) -> subprocess.Popen:
    """A `strongroom` process in its own process group (so that killing the group kills a
    whole node: gunicorn's master and its workers), its output in a file."""
    out = (workdir / f"{name}.log").open("w")
    try:
        return subprocess.Popen(
            inst.argv(*args),
            env=inst._env(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        out.close()


def _stop(proc: subprocess.Popen | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _running_on(db, pid: int, *, claimed_within: float | None = None) -> list[str]:
    """The jobs running on worker ``pid``; with ``claimed_within``, only those whose lease
    was taken (or renewed) that many seconds ago at most, so they have work left to do."""
    sql = "SELECT id FROM strongroom_sync_job WHERE state = 'running' AND worker_id LIKE %s"
    params: list = [f"%:{pid}:%"]
    if claimed_within is not None:
        sql += " AND lease_expires_at > now() + make_interval(secs => %s)"
        params.append(LEASE_SECONDS - claimed_within)
    return sorted(str(r[0]) for r in db.execute(sql, params).fetchall())


def _states(db) -> dict[str, str]:
    rows = db.execute("SELECT id, state FROM strongroom_sync_job").fetchall()
    return {str(pk): state for pk, state in rows}


@pytest.fixture
def queue_name():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"the test Redis at {REDIS_URL} is not answering ({exc})")
    name = f"strongroom-test-ha-{uuid.uuid4().hex[:8]}"
    yield name
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


def test_kill_one_web_node_and_one_worker_under_load_behind_haproxy(tmp_path, queue_name):
    if HAPROXY is None:
        pytest.fail("haproxy is missing: run scripts/test (it installs Debian's haproxy)")
    inst, cleanup = make_installation(tmp_path / "inst")
    base_dir = tmp_path / "sync-root"
    base_dir.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        "STRONGROOM_REDIS_URL": REDIS_URL,
        "STRONGROOM_QUEUE_NAME": queue_name,
        "STRONGROOM_LOG_LEVEL": "INFO",
        "STRONGROOM_SYNC_LEASE_SECONDS": str(LEASE_SECONDS),
        "STRONGROOM_SYNC_SWEEP_SECONDS": "1",
    }
    procs: dict[str, subprocess.Popen] = {}
    balancer = load = None
    stack = contextlib.ExitStack()
    try:
        inst.ok("migrate", env=env)
        inst.ok("check", env=env)  # creates the master key file both nodes share
        seeded = inst.script(f"BASE = {str(base_dir)!r}\n" + SEED, env=env, timeout=600)
        ports = (free_port(), free_port())
        for n in (1, 2):
            procs[f"worker{n}"] = _start(inst, logs, f"worker{n}", "worker", env=env)
        for n, port in enumerate(ports, 1):
            procs[f"web{n}"] = _start(
                inst, logs, f"web{n}", "web", "--port", str(port), "--workers", "1",
                "--threads", "4", env=env,
            )  # fmt: skip
            # The first node collects the static files into the shared data directory
            # before the second starts (two copying at once would race).
            wait_until_http_ok(f"http://127.0.0.1:{port}/healthz", procs[f"web{n}"])
        balancer = HAProxy(logs, ports)

        def both_up() -> bool:
            for name, proc in procs.items():
                assert proc.poll() is None, (name, (logs / f"{name}.log").read_text()[-3000:])
            return balancer.status() == {"web1": "UP", "web2": "UP"}

        wait_until(
            both_up, timeout=60, interval=0.1,
            what=lambda: f"both web nodes UP in haproxy: {balancer.status()}",
        )  # fmt: skip

        import psycopg

        db = stack.enter_context(psycopg.connect(inst.database_url, autocommit=True))
        load = Load(f"http://127.0.0.1:{balancer.port}", seeded)
        load.start()
        web_victim, worker_victim = procs["web1"], procs["worker1"]

        def ready_to_kill() -> bool:
            served = {o.served_by for o in load.snapshot() if o.status in (200, 202)}
            # A job claimed in the last 30 ms: it is still building when the kill lands.
            return {"web1", "web2"} <= served and bool(
                _running_on(db, worker_victim.pid, claimed_within=0.03)
            )

        wait_until(ready_to_kill, timeout=120, what="the victim worker to hold a running job")
        os.killpg(web_victim.pid, signal.SIGKILL)
        os.killpg(worker_victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        orphaned = _running_on(db, worker_victim.pid)
        web_victim.wait(timeout=30)
        worker_victim.wait(timeout=30)

        def web1_down() -> bool:
            return balancer.status().get("web1", "").startswith("DOWN")

        wait_until(web1_down, timeout=30, what="haproxy to mark web1 DOWN")
        down_at = time.monotonic()

        def enough_after_down() -> bool:
            after = [o for o in load.snapshot() if o.started > down_at]
            return (
                sum(o.kind == "get" for o in after) >= GETS_AFTER_DOWN
                and sum(o.kind == "post" for o in after) >= POSTS_AFTER_DOWN
            )

        wait_until(enough_after_down, timeout=120, what="load after the node was dropped")
        load.join()
        outcomes = load.snapshot()
        accepted = {o.job for o in outcomes if o.status == 202}

        recovered_after: dict[str, float] = {}

        def all_done() -> bool:
            states = _states(db)
            for pk in orphaned:
                if states.get(pk) == "succeeded" and pk not in recovered_after:
                    recovered_after[pk] = time.monotonic() - killed_at
            return all(state == "succeeded" for state in states.values())

        wait_until(all_done, timeout=90, what="every job to succeed", interval=0.1)
        results = inst.script(RESULTS, env=env)

        failed = [o for o in outcomes if o.status not in (200, 202)]
        failed_after_kill = [o for o in failed if o.started >= killed_at]
        failed_after_down = [o for o in failed if o.started >= down_at]
        in_flight_at_kill = [o for o in outcomes if o.started < killed_at < o.ended]
        by_key: dict[str, list[str]] = {}
        for pk, r in results.items():
            by_key.setdefault(r["key"], []).append(pk)
        double_uploads = [pk for pk, r in results.items() if r["audited"] != [r["sha256"]]]

        visible = sorted(base_dir.glob("*/tech*/strongroom-offline.html"))
        broken, foreign = [], []
        for path in visible:
            user = path.parent.name
            content = path.read_bytes()
            if hashlib.sha256(content).hexdigest() not in {
                r["sha256"] for r in results.values() if r["user"] == user
            }:
                foreign.append(user)
            try:
                payload = offline_file.offline_file_open(html=content, passphrase=PASSPHRASE)
            except offline.OfflineError:
                broken.append(user)
                continue
            assert sorted(e.name for e in payload.entries) == [
                f"host-{user.removeprefix('tech')}-{i:03d}" for i in range(ENTRIES)
            ]
        retried = {r["svname"]: (r["wretr"], r["wredis"]) for r in balancer.stat()}
        report = {
            "requests": len(outcomes),
            "gets": sum(o.kind == "get" for o in outcomes),
            "posts": sum(o.kind == "post" for o in outcomes),
            "in_flight_at_kill": len(in_flight_at_kill),
            "failed_total": len(failed),
            "failed_started_after_kill": len(failed_after_kill),
            "failed_started_after_down": len(failed_after_down),
            "requests_after_kill_before_down": sum(
                killed_at <= o.started < down_at for o in outcomes
            ),
            "haproxy_retries_redispatches": retried,
            "kill_to_down_s": round(down_at - killed_at, 2),
            "jobs": len(results),
            "jobs_running_on_killed_worker": len(orphaned),
            "recovered_after_s": sorted(round(t, 1) for t in recovered_after.values()),
            "jobs_lost": sum(r["state"] != "succeeded" for r in results.values()),
            "double_uploads": len(double_uploads),
            "attempts": sorted(r["attempts"] for r in results.values()),
            "files_visible": len(visible),
            "served_after_down": sorted({o.served_by for o in outcomes if o.started > down_at}),
        }
        print("HA report:", json.dumps(report))
        assert failed_after_kill == [], [(o.kind, o.status, o.detail) for o in failed_after_kill]
        assert failed_after_down == []
        assert all(o.started < killed_at < o.ended for o in failed), "only in-flight may fail"
        assert report["served_after_down"] == ["web2"]
        assert orphaned, "the victim worker held no job when it died"
        assert sorted(recovered_after) == orphaned
        # Lease + sweep, or at worst the sweep's 30-second resend of a message that was
        # lost with the killed consumer.
        assert max(recovered_after.values()) < 60
        assert all(results[pk]["attempts"] >= 2 for pk in orphaned)
        assert accepted <= set(results)  # every 202 is a stored job ...
        assert all(r["state"] == "succeeded" for r in results.values())  # ... that ran
        assert all(len(jobs) == 1 for jobs in by_key.values()), "a retried POST made two jobs"
        assert len(results) == len(by_key)
        assert double_uploads == []
        assert broken == [] and foreign == []
        assert {p.parent.name for p in visible} >= {r["user"] for r in results.values()}
    finally:
        if load is not None:
            load.stop.set()
        stack.close()
        if balancer is not None:
            balancer.close()
        for proc in procs.values():
            _stop(proc, signal.SIGTERM)
        cleanup()
