"""Health probes for load balancers and orchestrators.

- ``/healthz`` (liveness): the process answers. It touches nothing else, so a database or
  Redis outage never makes an orchestrator restart healthy processes.
- ``/readyz`` (readiness): this node can serve: the database answers, the task queue
  (Redis, or the SQLite file of the embedded queue) answers, the master key is loaded and
  opens the active data key, and the data directory is writable with enough free space.
  200 when every check passes, else 503; the body names each check's status.

Both are answered by :class:`strongroom.core.middleware.HealthProbeMiddleware` before any
other middleware: no login, no CSRF, no Host-header check (a balancer probes nodes by
address), no redirect to https (balancers probe over plain http). Bodies hold statuses and
fixed messages with exception class names only: no paths, host names or secrets.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

OK = "ok"
FAIL = "fail"


@dataclass(frozen=True)
class Probe:
    status: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "message": self.message}


def probe_database() -> Probe:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Probe(FAIL, f"the database cannot be reached ({type(exc).__name__})")
    return Probe(OK, f"{connection.vendor} answers")


_redis_lock = threading.Lock()
_redis_clients: dict[str, Any] = {}


def _redis_client(url: str) -> Any:
    """One client (connection pool) per process, with short timeouts: a probe must answer
    quickly even when Redis is unreachable or black-holed."""
    import redis

    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            _redis_clients[url] = client
        return client


def probe_queue() -> Probe:
    if settings.REDIS_URL:
        import redis

        try:
            _redis_client(settings.REDIS_URL).ping()
        except (redis.RedisError, OSError) as exc:
            return Probe(FAIL, f"Redis cannot be reached ({type(exc).__name__})")
        return Probe(OK, "Redis answers")
    from huey.contrib.djhuey import HUEY

    if HUEY.immediate:
        return Probe(OK, "immediate mode: tasks run in the request (no queue)")
    import sqlite3

    try:
        HUEY.storage.queue_size()
    except (sqlite3.Error, OSError) as exc:
        return Probe(FAIL, f"the SQLite task queue cannot be read ({type(exc).__name__})")
    return Probe(OK, "the SQLite task queue answers")


def probe_master_key(*, database_ok: bool) -> Probe:
    from strongroom.core import keys
    from strongroom.core.models import DataKey

    if not database_ok:
        return Probe(FAIL, "not checked: the data keys are in the database")
    try:
        keys.keyring()
        row = DataKey.objects.filter(status=DataKey.Status.ACTIVE).order_by("-pk").first()
        if row is not None:
            keys.unwrap_data_key(row)
    except keys.MasterKeyProblem:
        # The message names key ids only, but the probe is public: say less.
        return Probe(FAIL, "the master key is missing or does not open the data keys")
    except DatabaseError as exc:
        return Probe(FAIL, f"the data keys cannot be read ({type(exc).__name__})")
    if row is None:
        return Probe(OK, "loaded (no data key yet)")
    return Probe(OK, "loaded; opens the active data key")


def min_free_bytes() -> int:
    return int(settings.READY_MIN_FREE_MB) * 1024 * 1024


def probe_data_dir() -> Probe:
    directory = Path(settings.DATA_DIR)
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".readyz-") as fh:
            fh.write(b"ok")
            fh.flush()
        free = shutil.disk_usage(directory).free
    except OSError as exc:
        return Probe(FAIL, f"the data directory is not writable ({type(exc).__name__})")
    free_mb = free // (1024 * 1024)
    if free < min_free_bytes():
        return Probe(
            FAIL,
            f"{free_mb} MB free in the data directory, below the {settings.READY_MIN_FREE_MB} MB "
            "threshold (STRONGROOM_READY_MIN_FREE_MB)",
        )
    return Probe(OK, f"writable, {free_mb} MB free")


def readiness() -> tuple[bool, dict[str, Probe]]:
    """Run every readiness check; (all ok, the checks by name)."""
    results: dict[str, Probe] = {}
    runners: list[tuple[str, Callable[[], Probe]]] = [
        ("database", probe_database),
        ("queue", probe_queue),
        ("master_key", lambda: probe_master_key(database_ok=results["database"].status == OK)),
        ("data_dir", probe_data_dir),
    ]
    for name, run in runners:
        try:
            results[name] = run()
        except Exception as exc:  # a probe must report, never crash the probe endpoint
            logger.exception("readiness check %s failed unexpectedly", name)
            results[name] = Probe(FAIL, f"the check itself failed ({type(exc).__name__})")
    failed = tuple(name for name, probe in results.items() if probe.status != OK)
    _log_change(failed)
    return not failed, results


_last_failed: tuple[str, ...] = ()


def _log_change(failed: tuple[str, ...]) -> None:
    """Log when readiness changes, not on every probe (a balancer asks every few seconds)."""
    global _last_failed
    if failed == _last_failed:
        return
    _last_failed = failed
    if failed:
        logger.warning("not ready: %s", ", ".join(failed))
    else:
        logger.info("ready again")
