"""Helpers of the password health tests: run a check the way the worker does, and a
breached list in the Pwned Passwords format."""

from __future__ import annotations

import hashlib

from strongroom.health import services


def run_check(actor=None):
    """Ask for a run and compute it here (what the Huey task does), returning the run."""
    run = services.health_run_request(actor=actor)
    return services.health_run_compute(run_id=run.pk)


def sha1_line(password: str, count: int = 7) -> str:
    return f"{hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()}:{count}"


def breached_file(*passwords: str, extra: int = 3) -> bytes:
    """A small list: the given passwords plus ``extra`` unrelated hashes, CRLF lines as the
    downloader writes them."""
    lines = [sha1_line(p, 10 + i) for i, p in enumerate(passwords)]
    lines += [sha1_line(f"unrelated-{i}", 1) for i in range(extra)]
    return ("\r\n".join(lines) + "\r\n").encode()
