"""The ``strongroom`` command: run the servers and operate the vault.

Exit codes: 0 success; 1 the work failed (problems found, import refused, a server died,
a migration failed, a restore refused); 2 wrong usage; 3 configuration or master key
problem, the database unreachable (nothing was served or changed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from django.db import DatabaseError

from strongroom.core.errors import AppError

logger = logging.getLogger("strongroom.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130

IMPORT_FORMATS = ("strongroom", "bitwarden", "keepassxc")


class CommandError(Exception):
    """Stops a command with a message and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _say(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _paragraph(prefix: str, message: str) -> str:
    return textwrap.fill(
        f"{prefix}{message}", width=100, break_on_hyphens=False, break_long_words=False
    )


# --------------------------------------------------------------------------------------
# Django set-up and start-up checks


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except (RuntimeError, ImproperlyConfigured, ValueError) as exc:
        raise CommandError(
            _paragraph("strongroom: configuration problem: ", str(exc)), EXIT_CONFIG
        ) from exc


def _refuse_to_start(findings: Sequence[Any]) -> NoReturn:
    lines = [f"{f.check}: {f.message}" for f in findings if f.level == "error"]
    raise CommandError(
        _paragraph("strongroom: cannot start: ", " ".join(lines))
        + "\nNothing was served. Run `strongroom check` after fixing this.",
        EXIT_CONFIG,
    )


def _startup_gate(*, need_migrations: bool = True) -> None:
    """What every server checks before it serves: database, schema, master key, queue."""
    from strongroom.core import checks, keys

    findings = checks.check_database()
    if need_migrations and not _has_errors(findings):
        findings += checks.check_migrations()
    if not _has_errors(findings):
        try:
            keys.verify(create_missing=True)
        except keys.MasterKeyProblem as exc:
            _refuse_to_start([checks.Finding("master key", "error", exc.message)])
        # Everything else `strongroom check` reports: what it calls an error stops a server.
        findings += (
            checks.check_master_key()
            + checks.check_secret_key()
            + checks.check_public_url()
            + checks.check_redis()
        )
    if _has_errors(findings):
        _refuse_to_start(findings)


def _has_errors(findings: Sequence[Any]) -> bool:
    return any(f.level == "error" for f in findings)


# --------------------------------------------------------------------------------------
# Servers


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host  # noqa: S104
    return f"http://{_bind(shown, port)}/"


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
    _err("collecting static files ...")
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
            _err(f"strongroom: the {name} stopped unexpectedly (exit {exit_code}); stopping")
            code = EXIT_FAILED
        except _StopRequested as stop:
            _err(f"strongroom: {signal.Signals(stop.signum).name} received, stopping ...")
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
                _err(f"strongroom: the {name} did not stop in time; killing it")
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

    db = checks.check_database()
    if _has_errors(db):
        _refuse_to_start(db)
    call_command("migrate", interactive=False, verbosity=0)
    _startup_gate()
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
    _say(f"Strongroom is starting on {_url(args.host, args.port)}")
    _say(f"  data directory: {settings.DATA_DIR}")
    _say(f"  web server (gunicorn) pid {web.pid}, worker (huey) pid {worker.pid}")
    if demo_login is not None:
        _say(f"  demo admin: {demo_login.username} / {demo_login.password}")
        _say(f"  (kept in {demo_login.path})")
    _say("Press Ctrl-C to stop.")
    # gunicorn stops gracefully on SIGTERM; the Huey consumer finishes running tasks on SIGINT.
    return _supervise({"web server": (web, signal.SIGTERM), "worker": (worker, signal.SIGINT)})


def cmd_web(args: argparse.Namespace) -> int:
    _startup_gate()
    _collectstatic_if_needed()
    env = _child_env()
    argv = _gunicorn_argv(args)
    _err(f"strongroom web on {_url(args.host, args.port)}")
    os.execve(argv[0], argv, env)  # noqa: S606
    return EXIT_OK  # pragma: no cover (exec does not return)


def cmd_worker(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    if not args.skip_checks:
        _startup_gate()
    options: dict[str, Any] = {}
    if args.workers:
        options["workers"] = args.workers
    call_command("run_huey", **options)
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Operations


def cmd_migrate(args: argparse.Namespace) -> int:
    """Exit 0 up to date; 3 the database cannot be reached (nothing changed); 1 a migration
    failed (PostgreSQL rolls each one back; see the message) or some are still pending."""
    from django.core.management import call_command

    from strongroom.core import checks

    findings = checks.check_database()
    if _has_errors(findings):
        raise CommandError(
            _paragraph("strongroom: cannot migrate: ", " ".join(f.message for f in findings)),
            EXIT_CONFIG,
        )
    try:
        call_command("migrate", interactive=False, verbosity=1 if args.verbose else 0)
    except DatabaseError as exc:
        raise CommandError(
            _paragraph("strongroom: a migration failed: ", str(exc).strip())
            + "\nFix the cause and run `strongroom migrate` again.",
            EXIT_FAILED,
        ) from exc
    pending = checks.pending_migrations()
    if pending:
        raise CommandError(f"migrations still pending: {', '.join(pending)}")
    _say("database schema is up to date")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from strongroom.ops.backup import BackupError, backup_create

    out = Path(args.out)
    try:
        manifest = backup_create(out=out)
    except BackupError as exc:
        raise CommandError(_paragraph("strongroom: backup failed: ", exc.message)) from exc
    counts = manifest["counts"]
    _say(
        f"backup of the {manifest['database']['kind']} database written to {out}: "
        f"{sum(counts.values())} rows in {len(counts)} tables, "
        f"{counts.get('strongroom_audit_event', 0)} audit records"
    )
    _say(
        "it needs master key "
        + (", ".join(manifest["master_key_ids"]) or "(none yet)")
        + " to restore; the key is not in the backup, keep it apart"
    )
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from strongroom.ops.backup import BackupError, RestoreKeyMismatch, backup_restore

    try:
        report = backup_restore(source=Path(args.dir))
    except RestoreKeyMismatch as exc:
        message = _paragraph("strongroom: restore refused: ", exc.message)
        raise CommandError(message, EXIT_CONFIG) from exc
    except BackupError as exc:
        raise CommandError(_paragraph("strongroom: restore refused: ", exc.message)) from exc
    manifest = report.manifest
    _say(
        f"restored the {manifest['database']['kind']} backup of {manifest['created_at']}: "
        f"{sum(manifest['counts'].values())} rows in {len(manifest['counts'])} tables"
    )
    if report.pending_migrations:
        _say(
            "the backup predates this version: run `strongroom migrate`, then "
            "`strongroom audit verify`"
        )
    for problem in report.problems:
        _say(f"PROBLEM: {problem}")
    if report.problems:
        return EXIT_FAILED
    if not report.pending_migrations:
        _say(f"OK: {report.audit_checked} audit records, chain intact; data keys open")
    return EXIT_OK


def _read_password_file(path: str) -> str:
    try:
        # Bytes, not text mode: universal newlines would turn a lone CR into a line end.
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read the password file: {exc.strerror}") from exc
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise CommandError("the password file is empty (the first line is the password)")
    return lines[0]


def cmd_createadmin(args: argparse.Namespace) -> int:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from strongroom.accounts.models import Role
    from strongroom.accounts.services import user_create
    from strongroom.core.errors import AppError

    _startup_gate()
    if args.password_file:
        password = _read_password_file(args.password_file)
    else:
        if not sys.stdin.isatty():
            raise CommandError(
                "no terminal to ask for the password; use --password-file PATH (or - for stdin)",
                EXIT_USAGE,
            )
        password = getpass.getpass(f"Password for {args.username}: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the two passwords differ; nothing was created")
    try:
        validate_password(password)
    except ValidationError as exc:
        raise CommandError("password refused: " + " ".join(exc.messages)) from exc
    try:
        user = user_create(
            actor=None,
            username=args.username,
            password=password,
            role=Role.ADMIN,
            email=args.email or "",
        )
    except AppError as exc:
        raise CommandError(f"cannot create the administrator: {exc.message}") from exc
    _say(f"administrator {user.username} created")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from strongroom.vault.demo import demo_seed

    _startup_gate()
    login = demo_seed()
    _say(f"demo vault ready; demo admin: {login.username} / {login.password}")
    _say(f"(the login is kept in {login.path})")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from strongroom.accounts.models import User
    from strongroom.core.errors import AppError
    from strongroom.vault.services import import_csv

    _startup_gate()
    user = User.objects.filter(username__iexact=args.user, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user named {args.user!r}; nothing was imported")
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    try:
        report = import_csv(actor=user, data=data, fmt=args.format)
    except AppError as exc:
        raise CommandError(f"import refused, nothing was imported: {exc.message}") from exc
    if not report.ok:
        _err(f"import refused, nothing was imported: {len(report.problems)} problems")
        for problem in report.problems:
            where = "file" if problem.row is None else f"row {problem.row}"
            if problem.line is not None:
                where += f" (line {problem.line})"
            column = f" column {problem.column!r}" if problem.column else ""
            _err(f"  {where}{column}: {problem.problem}")
        return EXIT_FAILED
    _say(
        f"imported {report.rows} rows from {args.file} ({report.format}) for {user.username}: "
        f"{report.resources_created} resources, {report.accounts_created} accounts, "
        f"{report.resource_groups_created} resource groups created"
    )
    return EXIT_OK


def _tqdm_progress(desc: str, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="row", file=sys.stderr, mininterval=0.2)


def cmd_key_rotate(args: argparse.Namespace) -> int:
    from strongroom.core import keys, rotation

    if args.reencrypt and args.new_key_file:
        raise CommandError(
            "--reencrypt replaces the data keys and keeps the master key; rotate the master "
            "key with a separate `strongroom key rotate --new-key-file PATH`",
            EXIT_USAGE,
        )
    _startup_gate()
    try:
        if args.reencrypt:
            result = rotation.data_keys_rotate(
                batch_size=args.batch_size, pause=args.pause, progress=_tqdm_progress
            )
            _say(
                f"re-encryption {'resumed and ' if result.resumed else ''}finished: "
                f"{result.reencrypted} values now under data key {result.data_key_id}; "
                f"retired data keys deleted: {result.deleted_data_keys or 'none'}"
            )
            if result.damaged:
                _err(f"{len(result.damaged)} stored values failed authentication and were left")
                for item in result.damaged:
                    _err(f"  {item.table} row {item.row_id} field {item.field}")
                _err(f"data keys kept because damaged values name them: {result.kept_data_keys}")
                return EXIT_FAILED
            return EXIT_OK
        new_file = Path(args.new_key_file).resolve() if args.new_key_file else None
        master = rotation.master_key_rotate(
            new_key_file=new_file, progress=_tqdm_progress, pause=args.pause
        )
    except rotation.RotationError as exc:
        raise CommandError(f"key rotation stopped: {exc.message}") from exc
    except keys.MasterKeyProblem as exc:
        raise CommandError(_paragraph("key rotation stopped: ", exc.message), EXIT_CONFIG) from exc
    _say(
        f"master key rotated: {master.old_key_id} -> {master.new_key_id} "
        f"({master.rewrapped} data keys re-wrapped{', resumed' if master.resumed else ''})"
    )
    if master.source == "file":
        _say(f"the new key is in {keys.key_file_path()}")
        _err(
            _paragraph(
                "WARNING: ",
                f"the old master key is kept in {master.retired_key_file} because database "
                "backups taken before now need it. Back up the new key, then destroy the old "
                "one (shred -u) once those backups have rolled over.",
            )
        )
    else:
        what = (
            "set STRONGROOM_MASTER_KEY to its contents"
            if master.source == "environment"
            else "make STRONGROOM_MASTER_KEY_COMMAND print it"
        )
        _say(
            _paragraph(
                "Next: ",
                f"the new master key ({master.new_key_id}) is in {master.new_key_file}. Store it "
                f"where your key source reads it, {what} on every node and restart them; nodes "
                "still given the old key will refuse to start. Then delete the file and destroy "
                "the old key once backups taken before now have rolled over.",
            )
        )
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from strongroom.audit.anchors import anchors_read
    from strongroom.audit.services import audit_verify

    _startup_gate()
    anchors = []
    anchor_problems: list[str] = []
    for source in args.anchors or ():
        found, problems = anchors_read(source)
        if not found and not problems:
            problems = [f"no anchors found in {source}"]
        anchors += found
        anchor_problems += problems
    report = audit_verify(anchors=anchors if args.anchors else None)
    report.problems[:0] = anchor_problems
    if report.ok:
        checked = f", {report.anchors} anchors reached" if args.anchors else ""
        _say(f"OK: {report.checked} audit records, chain intact{checked}")
        return EXIT_OK
    for problem in report.problems:
        _say(f"PROBLEM: {problem}")
    _say(f"{len(report.problems)} problems in {report.checked} audit records")
    return EXIT_FAILED


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    from strongroom.audit.anchors import audit_anchor

    _startup_gate()
    anchor = audit_anchor(why="command")
    if anchor is None:
        _say("nothing to anchor: the audit trail is empty")
        return EXIT_OK
    _say(f"anchored record {anchor.seq} at {anchor.at}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from strongroom.core import checks

    findings = checks.run_all()
    width = max((len(f.check) for f in findings), default=0)
    for finding in findings:
        mark = {"ok": "ok     ", "warning": "WARNING", "error": "ERROR  "}[finding.level]
        _say(f"{mark} {finding.check.ljust(width)}  {finding.message}")
    if _has_errors(findings):
        _say("problems found: Strongroom will not start until they are fixed")
        return EXIT_CONFIG
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Offline file (`strongroom open`): needs no server, database or configuration

OPEN_EXIT_WRONG_PASSPHRASE = 2
OPEN_EXIT_DAMAGED = 3
OPEN_EXIT_UNSUPPORTED = 4
OPEN_EXIT_FOREIGN_VIEWER = 5


def _open_read_passphrase(path: str | None) -> str:
    if path is None:
        if not sys.stdin.isatty():
            raise CommandError(
                "no terminal to ask for the passphrase; use --passphrase-file PATH (- for stdin)",
                EXIT_FAILED,
            )
        return getpass.getpass("Passphrase: ")
    try:
        # Bytes, not text mode: universal newlines would turn a lone CR into a line end.
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read the passphrase file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"the passphrase file {path} is not UTF-8 text") from exc
    # The first line, up to the first LF, with one CR before it removed; nothing else is
    # trimmed: spaces and tabs are part of the passphrase (docs/offline-file-format.md).
    first = text.split("\n", 1)[0]
    if first.endswith("\r"):
        first = first[:-1]
    if not first:
        raise CommandError("the passphrase file is empty (the first line is the passphrase)")
    return first


def cmd_open(args: argparse.Namespace) -> int:
    from strongroom.crypto import offline, offline_cli

    try:
        html = Path(args.file).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    try:
        # Judge the page before asking for the passphrase: a foreign viewer is a phishing
        # page whatever its payload holds.
        offline.offline_file_header(html)
        offline.viewer_check(html)
    except offline.OfflineFileDamaged as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_DAMAGED) from exc
    except offline.OfflineFormatUnsupported as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_UNSUPPORTED) from exc
    except offline.OfflineViewerForeign as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_FOREIGN_VIEWER) from exc
    passphrase = _open_read_passphrase(args.passphrase_file)
    try:
        payload = offline.offline_file_open(html=html, passphrase=passphrase)
    except offline.OfflineWrongPassphrase as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_WRONG_PASSPHRASE) from exc
    except offline.OfflineFileDamaged as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_DAMAGED) from exc
    except offline.OfflineFormatUnsupported as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_UNSUPPORTED) from exc
    entries = offline_cli.entries_search(payload.entries, args.search or "")
    if args.json:
        sys.stdout.write(offline_cli.payload_json(payload, entries) + "\n")
    else:
        sys.stdout.write(offline_cli.payload_table(payload, entries, search=args.search))
    sys.stdout.flush()
    if not payload.authenticated:
        _err(
            "warning: version 1 file: not authenticated against forgery (anyone who had one "
            "file of this copy could have made it); re-export"
        )
    if payload.is_from_the_future():
        _err(
            "warning: this copy claims to be made in the future "
            f"({payload.generated_at:%Y-%m-%d %H:%M} UTC): check this computer's clock"
        )
    if payload.is_expired():
        _err("warning: this offline copy is past its advisory expiry date; get a fresh copy")
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Export (`strongroom export`): the same service, policy and audit as the web UI and API


def cmd_export(args: argparse.Namespace) -> int:
    from strongroom.accounts.models import User
    from strongroom.exports import selectors as export_selectors
    from strongroom.exports import services as export_services

    _startup_gate()
    user = User.objects.filter(username__iexact=args.user, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user named {args.user!r}; nothing was exported")
    group_ids: list[Any] | None = None
    if args.group:
        visible = list(
            export_selectors.export_groups_choosable(user=user).values_list("pk", "name")
        )
        group_ids = []
        for name in args.group:
            found = [pk for pk, group_name in visible if group_name == name]
            if not found:
                raise CommandError(f"{user.username} cannot see a resource group named {name!r}")
            if len(found) > 1:
                raise CommandError(f"{len(found)} resource groups are named {name!r}; rename one")
            group_ids.append(found[0])
    if args.format in ("html", "kdbx"):
        if args.with_passwords:
            raise CommandError(
                f"--with-passwords is for csv and xlsx ({args.format} always has them)", 2
            )
        if args.passphrase_file is None and sys.stdin.isatty():
            passphrase = getpass.getpass("Passphrase for the offline copy: ")
            if getpass.getpass("Again: ") != passphrase:
                raise CommandError("the two passphrases differ; nothing was exported")
        else:
            passphrase = _open_read_passphrase(args.passphrase_file)
    out = Path(args.out)
    # Written inside the audit transaction: a file that cannot be written is audited as a
    # failed export, never as a success with the digest of a file that does not exist.
    sink = export_services.ExportFile(out)
    try:
        if args.format in ("html", "kdbx"):
            result = export_services.export_offline(
                actor=user,
                passphrase=passphrase,
                fmt=args.format,
                reason=args.reason or "",
                resource_group_ids=group_ids,
                sink=sink,
            )
        else:
            result = export_services.export_spreadsheet(
                actor=user,
                fmt=args.format,
                with_passwords=args.with_passwords,
                reason=args.reason or "",
                resource_group_ids=group_ids,
                sink=sink,
            )
    except export_services.ExportWriteFailed as exc:
        raise CommandError(f"cannot write {args.out}: {exc.message}") from exc
    _say(
        f"exported {result.entry_count} entr{'y' if result.entry_count == 1 else 'ies'} for "
        f"{user.username} to {out} ({result.format}, {len(result.content):,} bytes, "
        f"SHA-256 {result.sha256})"
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Cloud sync (`strongroom sync`): the same service, policy and audit as the web UI and API


def cmd_sync(args: argparse.Namespace) -> int:
    from django.utils import timezone

    from strongroom.accounts.models import User
    from strongroom.storage.models import StorageConnection
    from strongroom.sync import services as sync_services
    from strongroom.sync.models import JobState, SyncJob

    _startup_gate()
    user = User.objects.filter(username__iexact=args.user, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user named {args.user!r}; nothing was synced")
    conn = StorageConnection.objects.filter(user=user, provider=args.to).first()
    if conn is None:
        raise CommandError(f"{user.username} has no {args.to} connection; connect it first")
    if args.passphrase_file is None and sys.stdin.isatty():
        passphrase = getpass.getpass("Passphrase for the offline copy: ")
        if getpass.getpass("Again: ") != passphrase:
            raise CommandError("the two passphrases differ; nothing was synced")
    else:
        passphrase = _open_read_passphrase(args.passphrase_file)
    job = sync_services.sync_request(
        actor=user,
        connection_id=conn.pk,
        passphrase=passphrase,
        reason=args.reason or "",
        keep_in_sync=bool(args.keep),
        fmt=args.format,
    )
    del passphrase
    if not args.wait:
        _say(f"sync job {job.pk} queued for {user.username} to {args.to}")
        return EXIT_OK
    # Run it here unless a worker already claimed it (claiming is atomic), then wait for
    # the row to reach a final state (retries included).
    sync_services.sync_job_run(job_id=job.pk, worker_id=sync_services.worker_identity())
    deadline = time.monotonic() + args.timeout
    job = SyncJob.objects.get(pk=job.pk)
    while not job.is_final and time.monotonic() < deadline:
        if job.state == JobState.RETRY_WAIT and job.next_attempt_at is not None:
            pause = (job.next_attempt_at - timezone.now()).total_seconds()
            time.sleep(max(0.2, min(pause, deadline - time.monotonic(), 5.0)))
            sync_services.sync_job_run(job_id=job.pk, worker_id=sync_services.worker_identity())
        else:
            time.sleep(0.5)  # polling another process's progress
        job = SyncJob.objects.get(pk=job.pk)
    if job.state == JobState.SUCCEEDED:
        _say(
            f"synced {job.entry_count} entr{'y' if job.entry_count == 1 else 'ies'} for "
            f"{user.username} to {job.result_location} ({job.result_size:,} bytes, "
            f"SHA-256 {job.result_sha256})"
        )
        return EXIT_OK
    if not job.is_final:
        raise CommandError(f"sync job {job.pk} is still {job.state}; the worker will finish it")
    raise CommandError(f"sync job {job.pk} {job.state}: {job.last_error}")


def cmd_sync_copies(args: argparse.Namespace) -> int:
    """`strongroom sync-copies list|stop|keep|resync|passphrase`: the synced copies and
    their auto-sync controls, through the same services as the web UI and API."""
    from strongroom.accounts.models import User
    from strongroom.sync import autosync
    from strongroom.sync import selectors as sync_selectors

    _startup_gate()
    actor = User.objects.filter(username__iexact=args.user, is_active=True).first()
    if actor is None:
        raise CommandError(f"no active user named {args.user!r}; nothing was changed")
    if args.action == "list":
        for copy in sync_selectors.sync_copies_visible(actor=actor):
            next_at = sync_selectors.sync_copy_next_at(copy)
            _say(
                f"{copy.pk}  {copy.user.username}  {copy.connection.provider}  "
                f"{copy.auto_state}  last synced "
                f"{copy.last_synced_at.isoformat() if copy.last_synced_at else 'never'}  next "
                f"{next_at.isoformat() if next_at else '-'}  {copy.location}"
                + (f"  error: {copy.last_error}" if copy.last_error else "")
            )
        return EXIT_OK
    if not args.copy_id:
        raise CommandError(f"sync-copies {args.action} needs the copy's ID (see `list`)")
    if args.action in ("stop", "keep"):
        autosync.sync_copy_keep_set(actor=actor, copy_id=args.copy_id, keep=args.action == "keep")
        _say(f"copy {args.copy_id}: {'kept up to date' if args.action == 'keep' else 'stopped'}")
        return EXIT_OK
    if args.action == "resync":
        job = autosync.sync_copy_resync(actor=actor, copy_id=args.copy_id)
        _say(f"copy {args.copy_id}: re-sync " + (f"job {job.pk} queued" if job else "queued"))
        return EXIT_OK
    passphrase = _open_read_passphrase(args.passphrase_file)
    job = autosync.sync_copy_rekey(
        actor=actor, copy_id=args.copy_id, passphrase=passphrase, reason=args.reason or ""
    )
    del passphrase
    _say(
        f"copy {args.copy_id}: new passphrase set, " + (f"job {job.pk} queued" if job else "queued")
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Argument parsing


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be 1-65535")
    return value


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=int(os.environ.get("STRONGROOM_WEB_WORKERS", "2")),
        help="web server processes (default $STRONGROOM_WEB_WORKERS or 2)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=int(os.environ.get("STRONGROOM_WEB_THREADS", "4")),
        help="threads per web server process (default $STRONGROOM_WEB_THREADS or 4)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strongroom",
        description="Strongroom, the self-hosted team password vault.",
        epilog="Configuration comes from STRONGROOM_* environment variables (see README).",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress details (INFO) to stderr"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="migrate, then run web server and worker together")
    _add_server_options(p)
    p.add_argument("--demo", action="store_true", help="seed the demo vault first")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("web", help="run the web server only (gunicorn)")
    _add_server_options(p)
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("worker", help="run the background worker only (Huey consumer)")
    p.add_argument("--workers", type=_positive_int, help="worker threads (default 2)")
    p.add_argument("--skip-checks", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "migrate",
        help="create or upgrade the database schema",
        description="Exit codes: 0 the schema is up to date; 1 a migration failed or some "
        "are still pending; 3 the database cannot be reached (nothing was changed).",
    )
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "backup",
        help="consistent online snapshot of the database plus a manifest (never the key)",
        description="SQLite: the online backup API; PostgreSQL: pg_dump --format=custom in "
        "one snapshot. DIR (new or empty) is made 0700, its files 0600. The manifest names "
        "the data key ids and the master key ids needed, the migrations, the row counts and "
        "each file's SHA-256. The master key is never included: keep it apart.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="new or empty directory")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore",
        help="restore a backup into an empty database, then check keys, counts and audit",
        description="Refuses a database that has any table, a backup whose files do not "
        "match the manifest, and a master key other than the backup's (exit 3). After the "
        "restore (PostgreSQL: pg_restore, then ANALYZE) it checks that the data keys open, "
        "the row counts match the manifest and the audit chain verifies (exit 1 if not).",
    )
    p.add_argument("dir", metavar="DIR", help="a directory written by `strongroom backup`")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("createadmin", help="create an administrator")
    p.add_argument("username")
    p.add_argument(
        "--password-file", help="read the password from this file's first line (- for stdin)"
    )
    p.add_argument("--email")
    p.set_defaults(func=cmd_createadmin)

    p = sub.add_parser("demo", help="seed a realistic demo vault (idempotent)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("import", help="import a CSV file into the vault")
    p.add_argument("file")
    p.add_argument("--format", required=True, choices=IMPORT_FORMATS)
    p.add_argument("--user", required=True, help="the user who will own what is imported")
    p.set_defaults(func=cmd_import)

    key = sub.add_parser("key", help="master key and data key operations")
    key_sub = key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    p = key_sub.add_parser(
        "rotate",
        help="rotate the master key (re-wrap data keys), or with --reencrypt the data keys",
        description=(
            "Without options: a new master key, every data key re-wrapped under it. With "
            "--reencrypt: a new data key and every stored secret re-encrypted under it. Both "
            "are safe to interrupt; run the same command again to finish."
        ),
    )
    p.add_argument("--reencrypt", action="store_true", help="new data key; re-encrypt every secret")
    p.add_argument(
        "--new-key-file",
        help="environment/command key sources: file for the new master key (made 0600)",
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=500, help="rows per transaction (500)"
    )
    p.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds to rest between transactions, to spare a busy database (0)",
    )
    p.set_defaults(func=cmd_key_rotate)

    audit = sub.add_parser("audit", help="audit trail operations")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = audit_sub.add_parser(
        "verify",
        help="check the hash chain of the audit trail (and that it reaches every anchor)",
    )
    p.add_argument(
        "--anchors",
        action="append",
        metavar="SOURCE",
        help="anchors to check: a file (anchor or log lines), a directory, or "
        "s3://bucket/prefix (repeat for several)",
    )
    p.set_defaults(func=cmd_audit_verify)
    p = audit_sub.add_parser(
        "anchor", help="write an anchor of the chain head now (log, anchor file, S3)"
    )
    p.set_defaults(func=cmd_audit_anchor)

    p = sub.add_parser(
        "open",
        help="decrypt an offline .html copy without a browser and verify its integrity",
        description=(
            "Decrypt an encrypted offline copy (.html) made by Strongroom, verify that no byte "
            "of it was changed, and print its entries. Needs no server or configuration. "
            "Exit codes: 0 opened and intact; 1 the file could not be read; 2 wrong "
            "passphrase (or the file's key fields were edited); 3 damaged or edited; "
            "4 not an offline file, or a format version this Strongroom does not know."
        ),
    )
    p.add_argument("file", help="the offline copy (.html)")
    p.add_argument(
        "--passphrase-file",
        help="read the passphrase from this file's first line (- for stdin); asks if omitted",
    )
    p.add_argument("--json", action="store_true", help="print the entries as JSON")
    p.add_argument(
        "--search",
        help="only entries whose name, username, host, URL or folder contain TEXT",
        metavar="TEXT",
    )
    p.set_defaults(func=cmd_open, needs_django=False)

    p = sub.add_parser(
        "export",
        help="export a user's passwords: encrypted offline .html, or a CSV/XLSX spreadsheet",
        description=(
            "Export everything USER can view (or only the resource groups named with "
            "--group), under the export policy (it may refuse), with an audit record. "
            "html: the encrypted offline copy (kdbx: the same as a KeePass database), "
            "locked with the passphrase from "
            "--passphrase-file (asked twice on a terminal if omitted). csv/xlsx: without "
            "passwords unless --with-passwords, which the policy must allow. The file is "
            "written with mode 0600."
        ),
    )
    p.add_argument("--user", required=True, help="whose scope to export (username)")
    p.add_argument("--format", required=True, choices=("html", "kdbx", "csv", "xlsx"))
    p.add_argument("--out", required=True, help="the file to write", metavar="FILE")
    p.add_argument(
        "--passphrase-file",
        help="html/kdbx: read the passphrase from this file's first line (- for stdin)",
    )
    p.add_argument("--reason", help="why (kept in the audit trail; the policy may require it)")
    p.add_argument(
        "--group",
        action="append",
        metavar="NAME",
        help="only this resource group (repeat for several)",
    )
    p.add_argument(
        "--with-passwords", action="store_true", help="csv/xlsx: include passwords in plain text"
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "sync",
        help="put a user's encrypted offline copy into their cloud storage (a sync job)",
        description=(
            "Sync everything USER can view, as the encrypted offline copy locked with the "
            "passphrase from --passphrase-file (asked twice on a terminal if omitted), to "
            "USER's connected storage PROVIDER, under the export policy, audited. The job "
            "runs in the background worker; --wait runs it here if no worker took it yet "
            "and waits for the result."
        ),
    )
    p.add_argument("--user", required=True, help="whose scope to sync (username)")
    p.add_argument(
        "--to", required=True, metavar="PROVIDER", help="storage provider (local, s3, dropbox, box)"
    )
    p.add_argument("--passphrase-file", help="read the passphrase from this file's first line")
    p.add_argument("--reason", help="why (kept in the audit trail; the policy may require it)")
    p.add_argument("--wait", action="store_true", help="wait for the upload to finish")
    p.add_argument(
        "--format",
        choices=("html", "kdbx"),
        default="html",
        help="the copy's format: html (encrypted web page, the default) or kdbx (KeePass "
        "database, strongroom-offline.kdbx)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep this copy up to date (rebuilt after changes and daily; passphrase not stored)",
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, help="with --wait: give up after SECONDS"
    )
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser(
        "sync-copies",
        help="list synced copies; stop, keep, re-sync or re-key one (auto-sync controls)",
    )
    p.add_argument("action", choices=["list", "stop", "keep", "resync", "passphrase"])
    p.add_argument("copy_id", nargs="?", help="the copy's ID (from `list`)")
    p.add_argument("--user", required=True, help="acting user (administrators see everyone's)")
    p.add_argument("--passphrase-file", help="passphrase: the new passphrase's file")
    p.add_argument("--reason", help="passphrase: why (the policy may require it)")
    p.set_defaults(func=cmd_sync_copies)

    p = sub.add_parser("check", help="check configuration, database and master key")
    p.set_defaults(func=cmd_check)
    return parser


SERVER_COMMANDS = {"serve", "web", "worker"}


def _quiet_logging(args: argparse.Namespace) -> None:
    """One-shot commands print their own results; their INFO logs would bury them."""
    if args.command in SERVER_COMMANDS or args.verbose or "STRONGROOM_LOG_LEVEL" in os.environ:
        return
    logging.getLogger().setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "needs_django", True):
            _setup_django()
        _quiet_logging(args)
        return func(args)
    except CommandError as exc:
        _err(exc.message)
        return exc.code
    except AppError as exc:
        _err(_paragraph("strongroom: ", exc.message))
        return EXIT_CONFIG if exc.code == "master_key" else EXIT_FAILED
    except DatabaseError as exc:
        _err(_paragraph("strongroom: database error: ", str(exc).strip()))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
