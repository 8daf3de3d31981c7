"""Servers: ``strongroom serve`` (web server and worker under one supervisor), ``web``,
``worker``."""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from types import FrameType
from typing import Any

from strongroom.cli.base import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    err,
    has_errors,
    refuse_to_start,
    say,
    startup_gate,
)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host  # noqa: S104
    return f"http://{_bind(shown, port)}/"


def public_url_follow(
    args: argparse.Namespace, environ: MutableMapping[str, str] | None = None
) -> None:
    """Embedded mode: unless STRONGROOM_PUBLIC_URL is set, the public URL is where this
    server listens (``--host``/``--port``), so OAuth redirect URIs (Box, Google Drive,
    OneDrive) and email links name the right port. Called before Django reads its settings;
    the children inherit it. Production mode requires the variable (settings refuse to
    start without it)."""
    environ = os.environ if environ is None else environ
    if environ.get("STRONGROOM_MODE", "embedded") == "production":
        return
    if environ.get("STRONGROOM_PUBLIC_URL"):
        return
    environ["STRONGROOM_PUBLIC_URL"] = _url(args.host, args.port).rstrip("/")


def port_free_check(host: str, port: int) -> None:
    """Refuse to start when the address is taken, before gunicorn would retry binding it
    and give up (``serve`` would then only say that the web server stopped)."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As gunicorn binds: a port in TIME_WAIT is free, a listening one is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((bare, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = f"port {port} is in use on {bare} (another program is listening there)"
            hint = "Stop that program, or choose another port with --port."
        elif exc.errno == errno.EACCES:
            why = f"port {port} on {bare} needs more privileges than this user has"
            hint = "Choose a port above 1023 with --port."
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = f"{bare} is not an address of this machine"
            hint = "Choose another address with --host."
        else:
            why = f"cannot listen on {bare} port {port}: {exc.strerror or exc}"
            hint = "Choose another address or port."
        raise CommandError(
            f"strongroom: cannot start: {why}. {hint}\nNothing was served.", EXIT_CONFIG
        ) from None


def _gunicorn_argv(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:strongroom.config.gunicorn",
        "--bind",
        _bind(args.host, args.port),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "strongroom.config.wsgi:application",
    ]


def _child_env() -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    # Children must find the same data directory even if it was the default (./data).
    env["STRONGROOM_DATA_DIR"] = str(settings.DATA_DIR)
    env["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
    return env


def _die_with_parent() -> None:
    """In the child: get SIGTERM if `strongroom serve` itself dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _collectstatic_if_needed() -> None:
    """Collect static files into the data directory when the installed set changed."""
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders
    from django.core.management import call_command

    digest = hashlib.sha256()
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            full = Path(storage.path(path))
            stat = full.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    stamp = Path(settings.STATIC_ROOT) / ".strongroom-collected"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    err("collecting static files ...")
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.write_text(digest.hexdigest())


@contextlib.contextmanager
def _log_level(level: int) -> Iterator[None]:
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(level, before))
    try:
        yield
    finally:
        root.setLevel(before)


class _StopRequested(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signum)


def _supervise(children: dict[str, tuple[subprocess.Popen[bytes], int]]) -> int:
    """Wait until a signal arrives or a child dies; then stop every child.

    ``children`` maps a name to (process, the signal that stops it gracefully)."""
    by_pid = {proc.pid: name for name, (proc, _) in children.items()}
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = EXIT_OK
    try:
        try:
            pid, status = os.waitpid(-1, 0)
            name = by_pid.get(pid, f"process {pid}")
            exit_code = os.waitstatus_to_exitcode(status)
            if name in children:
                children[name][0].returncode = exit_code
            err(f"strongroom: the {name} stopped unexpectedly (exit {exit_code}); stopping")
            code = EXIT_FAILED
        except _StopRequested as stop:
            err(f"strongroom: {signal.Signals(stop.signum).name} received, stopping ...")
        # Ignore repeated signals (a second Ctrl-C) while the children shut down.
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        for _name, (proc, stop_signal) in children.items():
            if proc.poll() is None:
                proc.send_signal(stop_signal)
        deadline = time.monotonic() + 30
        for name, (proc, _) in children.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                err(f"strongroom: the {name} did not stop in time; killing it")
                proc.kill()
                proc.wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.core.management import call_command

    from strongroom.core import checks

    port_free_check(args.host, args.port)
    db = checks.check_database()
    if has_errors(db):
        refuse_to_start(db)
    call_command("migrate", interactive=False, verbosity=0)
    startup_gate()
    _collectstatic_if_needed()
    demo_login = None
    if args.demo:
        from strongroom.vault.demo import demo_seed

        # The seeding's per-object INFO lines would bury the login printed below.
        with _log_level(logging.WARNING):
            demo_login = demo_seed()

    env = _child_env()
    web = subprocess.Popen(  # noqa: S603
        _gunicorn_argv(args), env=env, process_group=0, preexec_fn=_die_with_parent
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "strongroom.cli", "worker", "--skip-checks"],
        env=env,
        process_group=0,
        preexec_fn=_die_with_parent,
    )
    say(f"Strongroom is starting on {_url(args.host, args.port)}")
    say(f"  public URL (OAuth redirects, email links): {settings.PUBLIC_URL}")
    say(f"  data directory: {settings.DATA_DIR}")
    say(f"  web server (gunicorn) pid {web.pid}, worker (huey) pid {worker.pid}")
    if demo_login is not None:
        say(f"  demo admin: {demo_login.username} / {demo_login.password}")
        say(f"  ({demo_login.kept})")
    say("Press Ctrl-C to stop.")
    # gunicorn stops gracefully on SIGTERM; the Huey consumer finishes running tasks on SIGINT.
    return _supervise({"web server": (web, signal.SIGTERM), "worker": (worker, signal.SIGINT)})


def cmd_web(args: argparse.Namespace) -> int:
    port_free_check(args.host, args.port)
    startup_gate()
    _collectstatic_if_needed()
    env = _child_env()
    argv = _gunicorn_argv(args)
    err(f"strongroom web on {_url(args.host, args.port)}")
    os.execve(argv[0], argv, env)  # noqa: S606
    return EXIT_OK  # pragma: no cover (exec does not return)


def cmd_worker(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    if not args.skip_checks:
        startup_gate()
    options: dict[str, Any] = {}
    if args.workers:
        options["workers"] = args.workers
    call_command("run_huey", **options)
    return EXIT_OK
