"""A queue outage with real processes (issue 14, item 6): a real `strongroom web` node
reaches the test Redis through a TCP forwarder of ours (it checks Redis at start-up); the
forwarder is closed, so the node's Redis is now a loopback port nobody listens on, and it
accepts `POST /api/v1/sync` (202, JSON, the job queued; a retry with the same
Idempotency-Key gets the same job). Then a real
`strongroom worker` on the test Redis (database 15, a queue of our own) finds the job in
the outbox with its own sweep, and runs it exactly once: one claim, one attempt, one audit
record of the upload, a file that opens."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest

from cli.helpers import (
    LOGIN_PASSWORD,
    StreamWatcher,
    free_port,
    make_installation,
    wait_until_http_ok,
)
from strongroom.exports import offline_file

pytestmark = pytest.mark.db_specific

PASSPHRASE = "plum orbit quietly seventy lantern"
REDIS_URL = os.environ.get("STRONGROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

SEED = f"""
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.vault import services as vault
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
storage.provider_settings_update(
    actor=boss, provider="local", enabled=True, config={{"base_dir": BASE}}
)
tech = people.user_create(
    actor=None, username="tech", password={LOGIN_PASSWORD!r}, role="password_admin"
)
for i in range(5):
    r = vault.resource_create(actor=tech, name=f"host-{{i}}", host="10.0.0.1")
    vault.account_create(actor=tech, resource_id=r.pk, username="root", password=f"pw-{{i}}")
conn = storage.storage_connection_save(
    actor=tech, provider="local", config={{"folder": "tech"}}, credentials={{}}
)
token = people.api_token_create(user=tech, name="outage test", reauth=people.REAUTH_TRUSTED).raw
result = {{"token": token, "connection": str(conn.pk)}}
"""

JOBS = """
from strongroom.audit.models import AuditEvent
from strongroom.sync.models import SyncJob
result = [
    {
        "id": str(j.pk),
        "state": j.state,
        "attempts": j.attempts,
        "dispatched": j.dispatched_at is not None,
        "sha256": j.result_sha256,
        "uploads": AuditEvent.objects.filter(action="sync.upload", object_id=str(j.pk)).count(),
    }
    for j in SyncJob.objects.all()
]
"""


class TcpForwarder:
    """127.0.0.1:port → upstream, until ``close()``: then the port refuses connections and
    every forwarded connection is cut, as when Redis goes down."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(), which otherwise keeps the
        # listening socket open after close().
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def queue_name():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"the test Redis at {REDIS_URL} is not answering ({exc})")
    name = f"strongroom-test-outbox-{uuid.uuid4().hex[:8]}"
    yield name
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


def _post_sync(base: str, token: str, connection: str, key: str) -> tuple[int, str, dict]:
    body = json.dumps(
        {"connection_id": connection, "passphrase": PASSPHRASE, "reason": "outage"}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URL built by the test
        f"{base}/api/v1/sync",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), {"raw": exc.read()[:500].decode()}


def _stop(proc: subprocess.Popen | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_a_sync_accepted_while_redis_is_down_runs_exactly_once_when_it_is_back(
    tmp_path, queue_name
):
    inst, cleanup = make_installation(tmp_path / "inst")
    base_dir = tmp_path / "sync-root"
    base_dir.mkdir()
    web = worker = None
    try:
        inst.ok("migrate")
        seeded = inst.script(f"BASE = {str(base_dir)!r}\n" + SEED)
        parts = urlsplit(REDIS_URL)
        forwarder = TcpForwarder((parts.hostname or "127.0.0.1", parts.port or 6379))
        through = {
            "STRONGROOM_REDIS_URL": f"redis://127.0.0.1:{forwarder.port}{parts.path}",
            "STRONGROOM_QUEUE_NAME": queue_name,
        }
        port = free_port()
        web = inst.start(
            "web", "--port", str(port), "--workers", "1", "--threads", "2", env=through
        )
        base = f"http://127.0.0.1:{port}"
        wait_until_http_ok(f"{base}/healthz", web)
        forwarder.close()  # Redis is gone for the web node
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", forwarder.port), timeout=5)

        status, content_type, job = _post_sync(base, seeded["token"], seeded["connection"], "k1")
        assert status == 202, job
        assert content_type.startswith("application/json")
        assert job["state"] == "queued" and job["attempts"] == 0
        # The client retries (it could not tell whether the first answer was real).
        again = _post_sync(base, seeded["token"], seeded["connection"], "k1")
        assert again[0] == 202 and again[2]["id"] == job["id"]
        [stored] = inst.script(JOBS)
        assert stored["id"] == job["id"] and stored["state"] == "queued"
        assert not stored["dispatched"]  # in the outbox: the queue never took it

        # Redis is back for the worker (the web node still points at the dead port).
        worker = inst.start(
            "worker",
            env={
                "STRONGROOM_REDIS_URL": REDIS_URL,
                "STRONGROOM_QUEUE_NAME": queue_name,
                "STRONGROOM_LOG_LEVEL": "INFO",
                "STRONGROOM_SYNC_SWEEP_SECONDS": "1",
            },
        )
        err = StreamWatcher(worker.stderr)
        err.wait_for_regex(rf"sync job {job['id']} succeeded", 120)
        [done] = inst.script(JOBS)
        assert done["state"] == "succeeded" and done["attempts"] == 1
        assert done["uploads"] == 1
        # Let the worker's next sweeps run: nothing is sent again.
        err.wait_for_regex(r"Executing strongroom\.sync\.tasks\.sync_jobs_sweep_tick", 30)
        _stop(worker, signal.SIGINT)
        claims = re.findall(rf"sync job {job['id']} claimed by worker", err.text)
        assert len(claims) == 1
        assert inst.script(JOBS) == [done]
        [stored] = base_dir.glob("*/tech/strongroom-offline.html")
        content = stored.read_bytes()
        payload = offline_file.offline_file_open(html=content, passphrase=PASSPHRASE)
        assert sorted(e.name for e in payload.entries) == [f"host-{i}" for i in range(5)]
    finally:
        _stop(web, signal.SIGTERM)
        _stop(worker, signal.SIGINT)
        cleanup()
