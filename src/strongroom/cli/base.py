"""What every ``strongroom`` command shares: exit codes, output, Django set-up, the start-up
gate every server and database command passes, reading passphrases, naming a user."""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from strongroom.core.progress import Ticker, no_progress

if TYPE_CHECKING:
    from strongroom.accounts.models import User

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """Stops a command with a message and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def say(text: str = "") -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def progress(desc: str, total: int) -> Ticker:
    """A progress bar on stderr when it is a terminal, nothing otherwise (a pipe, a log file
    or a cron mail gets only the result lines). ``total`` 0 means "unknown": a counter."""
    if not sys.stderr.isatty():
        return no_progress(desc, total)
    from tqdm import tqdm

    return tqdm(
        total=total or None,
        desc=desc,
        unit="entry" if total else " entries",
        file=sys.stderr,
        mininterval=0.2,
        **_width(),
    )


def _width() -> dict[str, Any]:
    """Follow the terminal's size. A terminal that reports none (0 x 0: a fresh pty, `script`,
    a serial console) gets 80 x 24: with 0 columns or rows tqdm draws nothing at all."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        size = os.terminal_size((0, 0))
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    return {"ncols": size.columns or 80, "nrows": size.lines or 24}


@contextlib.contextmanager
def activity(desc: str) -> Iterator[Callable[[str], None]]:
    """For work that has no count (building a file, an upload, waiting for a worker): on a
    terminal, a line with ``desc`` and the time spent, refreshed twice a second until the
    block ends; the value given to the block renames the line (a job's state). Nothing when
    stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield lambda text: None
        return
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, bar_format="{desc} {elapsed}", file=sys.stderr, **_width())
    done = threading.Event()

    def tick() -> None:
        while not done.wait(0.5):
            bar.refresh()

    thread = threading.Thread(target=tick, name="cli-activity", daemon=True)
    thread.start()
    try:
        yield lambda text: bar.set_description_str(text)
    finally:
        done.set()
        thread.join()
        bar.close()


def paragraph(prefix: str, message: str) -> str:
    return textwrap.fill(
        f"{prefix}{message}", width=100, break_on_hyphens=False, break_long_words=False
    )


# --------------------------------------------------------------------------------------
# Django set-up and start-up checks


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except (RuntimeError, ImproperlyConfigured, ValueError) as exc:
        raise CommandError(
            paragraph("strongroom: configuration problem: ", str(exc)), EXIT_CONFIG
        ) from exc


def refuse_to_start(findings: Sequence[Any]) -> NoReturn:
    lines = [f"{f.check}: {f.message}" for f in findings if f.level == "error"]
    raise CommandError(
        paragraph("strongroom: cannot start: ", " ".join(lines))
        + "\nNothing was served. Run `strongroom check` after fixing this.",
        EXIT_CONFIG,
    )


def startup_gate(*, need_migrations: bool = True) -> None:
    """What every server checks before it serves: database, schema, master key, queue."""
    from strongroom.core import checks, keys

    findings = checks.check_database()
    if need_migrations and not has_errors(findings):
        findings += checks.check_migrations()
    if not has_errors(findings):
        try:
            keys.verify(create_missing=True)
        except keys.MasterKeyProblem as exc:
            refuse_to_start([checks.Finding("master key", "error", exc.message)])
        # Everything else `strongroom check` reports: what it calls an error stops a server.
        findings += (
            checks.check_master_key()
            + checks.check_secret_key()
            + checks.check_public_url()
            + checks.check_redis()
        )
    if has_errors(findings):
        refuse_to_start(findings)


def has_errors(findings: Sequence[Any]) -> bool:
    return any(f.level == "error" for f in findings)


def password_file_read(path: str) -> str:
    try:
        # Bytes, not text mode: universal newlines would turn a lone CR into a line end.
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read the password file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"the password file {path} is not UTF-8 text") from exc
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise CommandError("the password file is empty (the first line is the password)")
    return lines[0]


def passphrase_read(path: str | None) -> str:
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


def new_passphrase_read(path: str | None, *, nothing: str) -> str:
    """The passphrase for a new offline copy: asked twice at a terminal, else the first line
    of ``path`` (``-`` for stdin)."""
    if path is None and sys.stdin.isatty():
        passphrase = getpass.getpass("Passphrase for the offline copy: ")
        if getpass.getpass("Again: ") != passphrase:
            raise CommandError(f"the two passphrases differ; nothing was {nothing}")
        return passphrase
    return passphrase_read(path)


def provider_named(name: str, *, nothing: str) -> str:
    """A storage provider's registered name (``--to``, ``--provider``); an unknown one stops
    the command with the list of known ones (exit 2)."""
    from strongroom.storage.registry import provider_names

    known = provider_names()
    if name not in known:
        raise CommandError(
            f"unknown provider {name!r}; known providers: {', '.join(known)}. "
            f"Nothing was {nothing}.",
            EXIT_USAGE,
        )
    return name


def user_named(name: str, *, nothing: str) -> User:
    """The active user the command acts as (``--user``); stops the command if there is none."""
    from strongroom.accounts.selectors import user_active_by_name

    user = user_active_by_name(username=name)
    if user is None:
        raise CommandError(f"no active user named {name!r}; nothing was {nothing}")
    return user
