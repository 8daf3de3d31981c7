"""The ``strongroom`` command: run the servers and operate the vault.

One module per room: ``serve`` (web server, worker and their supervisor), ``admin``
(database, backups, keys, audit, checks), ``vault`` (import, export, open an offline file),
``sync`` (cloud sync and synced copies); ``base`` holds what they share and ``main`` the
argument parser.

Exit codes: 0 success; 1 the work failed (problems found, import refused, a server died,
a migration failed, a restore refused); 2 wrong usage; 3 configuration or master key
problem, the database unreachable (nothing was served or changed); 130 interrupted.
"""

from __future__ import annotations

from strongroom.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
