"""The argument parser and ``main``, the ``strongroom`` console script."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence

from django.db import DatabaseError

from strongroom.cli.admin import (
    cmd_audit_anchor,
    cmd_audit_verify,
    cmd_backup,
    cmd_check,
    cmd_createadmin,
    cmd_demo,
    cmd_directory_sync,
    cmd_directory_test,
    cmd_key_rotate,
    cmd_migrate,
    cmd_restore,
)
from strongroom.cli.base import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CommandError,
    err,
    paragraph,
    setup_django,
)
from strongroom.cli.email import email_parser
from strongroom.cli.exposure import add_parser as exposure_parser
from strongroom.cli.health import add_parser as health_parser
from strongroom.cli.serve import cmd_serve, cmd_web, cmd_worker, public_url_follow
from strongroom.cli.sync import cmd_host_key, cmd_sync, cmd_sync_copies
from strongroom.cli.vault import (
    IMPORT_FORMATS,
    IMPORT_MODES,
    cmd_attachment,
    cmd_export,
    cmd_favourite,
    cmd_import,
    cmd_open,
    cmd_visibility,
)
from strongroom.core.errors import AppError


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

    p = sub.add_parser(
        "import",
        help="import a file into the vault (CSV, Bitwarden, 1Password, LastPass, KeePass)",
        description=(
            "Import a file exported by Bitwarden (JSON or CSV), 1Password (1PUX or CSV), "
            "LastPass (CSV), KeePass (KDBX database or XML) or KeePassXC (CSV), or a Strongroom "
            "CSV. The whole file is checked first; if any entry has a problem nothing is "
            "imported. Items that are not logins (cards, identities) are skipped and listed. "
            "A progress bar is drawn when stderr is a terminal."
        ),
    )
    p.add_argument("file")
    p.add_argument(
        "--format",
        default="auto",
        choices=IMPORT_FORMATS,
        help="the file's format (default: detect it from the file)",
    )
    p.add_argument(
        "--mode",
        default="skip",
        choices=IMPORT_MODES,
        help=(
            "an entry whose resource (name and URL) and username you already own: skip it "
            "(default), update its password, notes and TOTP, or import it again (duplicate)"
        ),
    )
    p.add_argument(
        "--password-file",
        help=(
            "a KeePass database's password: this file's first line (- for stdin); asked at a "
            "terminal when omitted"
        ),
    )
    p.add_argument("--user", required=True, help="the user who will own what is imported")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "favourite",
        help="a user's favourite resources: add, remove, list",
        description="Star or unstar a resource USER can see (by ID or exact name), or list "
        "their favourites (ID and name, one a line). Favourites are personal and never show a "
        "resource the user can no longer see.",
    )
    p.add_argument("favourite_command", choices=("add", "remove", "list"), metavar="ACTION")
    p.add_argument("resource", nargs="?", help="add/remove: the resource's ID or exact name")
    p.add_argument("--user", required=True, help="whose favourites (username)")
    p.set_defaults(func=cmd_favourite)

    p = sub.add_parser(
        "visibility",
        help="check or rebuild the visibility table (who sees which resource in lists)",
        description="Lists, counts, searches and exports read who may see which resource from "
        "a table the services keep current (docs/architecture.md, 'The visibility table'). "
        "check: compare it with the access rules, exit 1 if they differ; rebuild: rewrite it "
        "from the rules (audited). Needed only after vault rows were written without the "
        "services (hand edits, a bulk load).",
    )
    p.add_argument("visibility_command", choices=("check", "rebuild"), metavar="ACTION")
    p.set_defaults(func=cmd_visibility)

    p = sub.add_parser(
        "attachment",
        help="an account's attached files: list, add, get, delete",
        description="List, attach, download or delete the files of ACCOUNT (its ID) as USER, "
        "with the same rules as the web page: adding and deleting need modify level, "
        "downloading is audited like a password retrieval (with --reason).",
    )
    p.add_argument("attachment_command", choices=("list", "add", "get", "delete"), metavar="ACTION")
    p.add_argument("account", help="the account's ID")
    p.add_argument(
        "file", nargs="?", help="add: the file to attach; get/delete: the attachment's name or ID"
    )
    p.add_argument("--user", required=True, help="who acts (username)")
    p.add_argument("--name", help="add: the name to keep it under (default: the file's name)")
    p.add_argument("--out", help="get: where to write it (default: its name; - for stdout)")
    p.add_argument("--force", action="store_true", help="get: replace an existing file")
    p.add_argument("--reason", help="get: why (kept in the audit trail)")
    p.set_defaults(func=cmd_attachment)

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

    directory = sub.add_parser("directory", help="LDAP / Active Directory sign-in")
    dir_sub = directory.add_subparsers(dest="directory_command", required=True, metavar="ACTION")
    p = dir_sub.add_parser(
        "sync", help="deactivate directory users who left the directory or the allowed group"
    )
    p.set_defaults(func=cmd_directory_sync)
    p = dir_sub.add_parser(
        "test", help="bind with the service account and count users (optionally look one up)"
    )
    p.add_argument("--user", help="a user name to look up, with their groups")
    p.set_defaults(func=cmd_directory_test)

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
    p.add_argument(
        "--save-attachments",
        metavar="DIR",
        help="also save the attachments the copy carries (of the matching entries) under DIR, "
        "one folder per entry; never overwrites a file",
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
        "--resource",
        action="append",
        metavar="NAME_OR_ID",
        help="only this resource (repeat for several, at most 500; each gets its own audit record)",
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
        "--to",
        required=True,
        metavar="PROVIDER",
        help="storage provider (local, s3, dropbox, box, onedrive, webdav, sftp, gdrive)",
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
        "host-key",
        help="show an SFTP server's host key fingerprint, to compare before trusting it",
    )
    p.add_argument("--user", required=True, help="who is connecting (username)")
    p.add_argument("--host", required=True, help="the server's name or address")
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--provider", default="sftp", help="storage provider (default sftp)")
    p.set_defaults(func=cmd_host_key)

    email_parser(sub)
    exposure_parser(sub)
    health_parser(sub)

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
        if args.command in {"serve", "web"}:
            public_url_follow(args)
        if getattr(args, "needs_django", True):
            setup_django()
        _quiet_logging(args)
        return func(args)
    except CommandError as exc:
        err(exc.message)
        return exc.code
    except AppError as exc:
        err(paragraph("strongroom: ", exc.message))
        return EXIT_CONFIG if exc.code == "master_key" else EXIT_FAILED
    except DatabaseError as exc:
        err(paragraph("strongroom: database error: ", str(exc).strip()))
        return EXIT_FAILED
    except OSError as exc:
        # A file a command needed and could not use: name it (never a traceback).
        where = f" {exc.filename}" if exc.filename else ""
        err(f"strongroom: cannot use{where}: {exc.strerror or exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
