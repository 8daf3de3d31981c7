"""Run the real `strongroom` command in subprocesses against a private installation: its own
data directory and its own database (a file in the data directory on SQLite, a fresh
database on the PostgreSQL server when the suite runs on PostgreSQL)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Variables of the surrounding test run that must not leak into a private installation.
_DROP = (
    "STRONGROOM_MASTER_KEY",
    "STRONGROOM_MASTER_KEY_COMMAND",
    "STRONGROOM_MASTER_KEY_FILE",
    "STRONGROOM_REDIS_URL",
    "STRONGROOM_DATABASE_URL",
    "STRONGROOM_TEST_DATABASE_NAME",
    "STRONGROOM_MODE",
    "STRONGROOM_SECRET_KEY",
    "STRONGROOM_PUBLIC_URL",
    "STRONGROOM_ALLOWED_HOSTS",
    "STRONGROOM_LOG_LEVEL",
    "STRONGROOM_QUEUE_NAME",
    "DJANGO_SETTINGS_MODULE",
)

LOGIN_PASSWORD = "Correct-horse-battery-staple-7"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def outer_postgres_url() -> str | None:
    url = os.environ.get("STRONGROOM_DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def create_postgres_database(
    url: str, template: str | None = None
) -> tuple[str, str, Callable[[], None]]:
    """A new database on the server of ``url`` (empty, or a copy of ``template``); returns
    its URL, its name and a function that drops it."""
    import psycopg

    name = f"sr_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return _with_database(url, name), name, drop


@dataclass
class Installation:
    data_dir: Path
    env: dict[str, str]
    database_url: str
    db_name: str = ""

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = dict(self.env)
        for key, value in (extra or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "strongroom.cli", *args]

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, Any] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env=self._env(env),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        done = self.run(*args, **kwargs)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done

    def start(self, *args: str, env: dict[str, Any] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            env=self._env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )

    def script(self, code: str, env: dict[str, Any] | None = None, timeout: float = 300) -> Any:
        """Run Python with Django set up for this installation; returns what the code
        assigns to ``result`` (JSON-serialisable)."""
        program = (
            "import json, django\n"
            "django.setup()\n"
            "result = None\n"
            + textwrap.dedent(code)
            + "\nprint('@@RESULT@@' + json.dumps(result))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", program],
            env=self._env(
                {
                    "DJANGO_SETTINGS_MODULE": self.env.get(
                        "DJANGO_SETTINGS_MODULE", "strongroom.config.settings"
                    ),
                    **(env or {}),
                }
            ),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, (done.stdout, done.stderr)
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("@@RESULT@@"))
        return json.loads(line.removeprefix("@@RESULT@@"))


CHEAP_KDF_SETTINGS = "strongroom.testing.settings_cheap_kdf"


def make_installation(
    tmp_path: Path, copy_of: Installation | None = None, *, cheap_kdf: bool = False
) -> tuple[Installation, Callable[[], None]]:
    """A private installation in ``tmp_path``: empty, or a copy of another one (its data
    directory, including the master key, and its database).

    ``cheap_kdf=True`` when the key derivation is not what the test is about: its processes
    allow the export policy's PBKDF2 iterations down to the test-only minimum
    (``factories.TEST_ITERATIONS``; the seed script still sets the policy to it, as an
    administrator would). Without it they run the real 600,000."""
    data_dir = tmp_path / "data"
    if copy_of is not None:
        shutil.copytree(copy_of.data_dir, data_dir)
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(
        {
            "STRONGROOM_DATA_DIR": str(data_dir),
            "STRONGROOM_HUEY_IMMEDIATE": "0",
            "STRONGROOM_ARGON2_FAST": "1",
            "STRONGROOM_KEY_RECHECK_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if cheap_kdf:
        env["DJANGO_SETTINGS_MODULE"] = CHEAP_KDF_SETTINGS
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    pg = outer_postgres_url()
    db_name = ""
    if pg:
        url, db_name, cleanup = create_postgres_database(
            pg, template=copy_of.db_name if copy_of else None
        )
        env["STRONGROOM_DATABASE_URL"] = url
    else:
        url = f"sqlite:///{data_dir / 'strongroom.sqlite3'}"
    return Installation(data_dir=data_dir, env=env, database_url=url, db_name=db_name), cleanup


class Snapshots:
    """Installations prepared once per test session (migrated, demo-seeded) and copied for
    each test, which is much faster than migrating and seeding again every time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Installation] = {}
        self.cleanups: list[Callable[[], None]] = []

    def copy(
        self, name: str, build: Callable[[Installation], None], tmp_path: Path
    ) -> Installation:
        if name not in self.built:
            inst, cleanup = make_installation(self.root / name)
            self.cleanups.append(cleanup)
            build(inst)
            self.built[name] = inst
        inst, cleanup = make_installation(tmp_path, copy_of=self.built[name])
        self.cleanups.append(cleanup)
        return inst

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()


@dataclass
class StreamWatcher:
    """Reads a process's stream on a thread, so tests can wait for a pattern with a timeout
    (instead of sleeping and hoping)."""

    stream: Any
    text: str = ""
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _done: bool = False

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            chunk = self.stream.read(1) if hasattr(self.stream, "read") else ""
            if not chunk:
                break
            with self._cond:
                self.text += chunk
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[str], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = predicate(self.text)
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._done:
                    raise AssertionError(f"timed out waiting; output so far:\n{self.text[-3000:]}")
                self._cond.wait(remaining)

    def wait_for_regex(self, pattern: str, timeout: float) -> re.Match[str]:
        return self.wait_for(lambda text: re.search(pattern, text), timeout)


def http_get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback URL built by the test
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.status, dict(response.headers.items()), response.read()


def wait_until_http_ok(url: str, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    """Poll a URL until it answers 200 (the server is starting), failing fast if the
    process exits. Each attempt is a real request; the wait between attempts is short."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode} before answering")
        try:
            status, _, _ = http_get(url, timeout=2)
            if status == 200:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s: {last}")


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str | Callable[[], str] = "the condition",
    interval: float = 0.02,
) -> Any:
    """Poll ``condition`` (another process's progress, which no event reports) until it is
    truthy; return its value, or fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, (
            f"timed out waiting for {what if isinstance(what, str) else what()}"
        )
        time.sleep(interval)
    return found
