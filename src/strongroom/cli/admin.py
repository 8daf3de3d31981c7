"""Operating the installation: ``migrate``, ``backup``, ``restore``, ``createadmin``,
``demo``, ``key rotate``, ``audit verify|anchor``, ``check``."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from django.db import DatabaseError

from strongroom.cli.base import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    err,
    has_errors,
    paragraph,
    password_file_read,
    say,
    startup_gate,
)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Exit 0 up to date; 3 the database cannot be reached (nothing changed); 1 a migration
    failed (PostgreSQL rolls each one back; see the message) or some are still pending."""
    from django.core.management import call_command

    from strongroom.core import checks

    findings = checks.check_database()
    if has_errors(findings):
        raise CommandError(
            paragraph("strongroom: cannot migrate: ", " ".join(f.message for f in findings)),
            EXIT_CONFIG,
        )
    try:
        call_command("migrate", interactive=False, verbosity=1 if args.verbose else 0)
    except DatabaseError as exc:
        raise CommandError(
            paragraph("strongroom: a migration failed: ", str(exc).strip())
            + "\nFix the cause and run `strongroom migrate` again.",
            EXIT_FAILED,
        ) from exc
    pending = checks.pending_migrations()
    if pending:
        raise CommandError(f"migrations still pending: {', '.join(pending)}")
    say("database schema is up to date")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from strongroom.ops.backup import BackupError, backup_create

    out = Path(args.out)
    try:
        manifest = backup_create(out=out)
    except BackupError as exc:
        raise CommandError(paragraph("strongroom: backup failed: ", exc.message)) from exc
    counts = manifest["counts"]
    say(
        f"backup of the {manifest['database']['kind']} database written to {out}: "
        f"{sum(counts.values())} rows in {len(counts)} tables, "
        f"{counts.get('strongroom_audit_event', 0)} audit records"
    )
    say(
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
        message = paragraph("strongroom: restore refused: ", exc.message)
        raise CommandError(message, EXIT_CONFIG) from exc
    except BackupError as exc:
        raise CommandError(paragraph("strongroom: restore refused: ", exc.message)) from exc
    manifest = report.manifest
    say(
        f"restored the {manifest['database']['kind']} backup of {manifest['created_at']}: "
        f"{sum(manifest['counts'].values())} rows in {len(manifest['counts'])} tables"
    )
    if report.pending_migrations:
        say(
            "the backup predates this version: run `strongroom migrate`, then "
            "`strongroom audit verify`"
        )
    for problem in report.problems:
        say(f"PROBLEM: {problem}")
    if report.problems:
        return EXIT_FAILED
    if not report.pending_migrations:
        say(f"OK: {report.audit_checked} audit records, chain intact; data keys open")
    return EXIT_OK


def cmd_createadmin(args: argparse.Namespace) -> int:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from strongroom.accounts.models import Role
    from strongroom.accounts.services import user_create
    from strongroom.core.errors import AppError

    startup_gate()
    if args.password_file:
        password = password_file_read(args.password_file)
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
    say(f"administrator {user.username} created")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from strongroom.vault.demo import demo_seed

    startup_gate()
    login = demo_seed()
    say(f"demo vault ready; demo admin: {login.username} / {login.password}")
    say(f"({login.kept})")
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
    startup_gate()
    try:
        if args.reencrypt:
            result = rotation.data_keys_rotate(
                batch_size=args.batch_size, pause=args.pause, progress=_tqdm_progress
            )
            say(
                f"re-encryption {'resumed and ' if result.resumed else ''}finished: "
                f"{result.reencrypted} values now under data key {result.data_key_id}; "
                f"retired data keys deleted: {result.deleted_data_keys or 'none'}"
            )
            if result.damaged:
                err(f"{len(result.damaged)} stored values failed authentication and were left")
                for item in result.damaged:
                    err(f"  {item.table} row {item.row_id} field {item.field}")
                err(f"data keys kept because damaged values name them: {result.kept_data_keys}")
                return EXIT_FAILED
            return EXIT_OK
        new_file = Path(args.new_key_file).resolve() if args.new_key_file else None
        master = rotation.master_key_rotate(
            new_key_file=new_file, progress=_tqdm_progress, pause=args.pause
        )
    except rotation.RotationError as exc:
        raise CommandError(f"key rotation stopped: {exc.message}") from exc
    except keys.MasterKeyProblem as exc:
        raise CommandError(paragraph("key rotation stopped: ", exc.message), EXIT_CONFIG) from exc
    say(
        f"master key rotated: {master.old_key_id} -> {master.new_key_id} "
        f"({master.rewrapped} data keys re-wrapped{', resumed' if master.resumed else ''})"
    )
    if master.source == "file":
        say(f"the new key is in {keys.key_file_path()}")
        err(
            paragraph(
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
        say(
            paragraph(
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

    startup_gate()
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
        say(f"OK: {report.checked} audit records, chain intact{checked}")
        return EXIT_OK
    for problem in report.problems:
        say(f"PROBLEM: {problem}")
    say(f"{len(report.problems)} problems in {report.checked} audit records")
    return EXIT_FAILED


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    from strongroom.audit.anchors import audit_anchor

    startup_gate()
    anchor = audit_anchor(why="command")
    if anchor is None:
        say("nothing to anchor: the audit trail is empty")
        return EXIT_OK
    say(f"anchored record {anchor.seq} at {anchor.at}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from strongroom.core import checks

    findings = checks.run_all()
    width = max((len(f.check) for f in findings), default=0)
    for finding in findings:
        mark = {"ok": "ok     ", "warning": "WARNING", "error": "ERROR  "}[finding.level]
        say(f"{mark} {finding.check.ljust(width)}  {finding.message}")
    if has_errors(findings):
        say("problems found: Strongroom will not start until they are fixed")
        return EXIT_CONFIG
    return EXIT_OK


def cmd_directory_sync(args: argparse.Namespace) -> int:
    from strongroom.directory.services import directory_sync

    startup_gate()
    result = directory_sync(actor=None)
    say(
        f"directory sync: {result.checked} directory users checked, "
        f"{result.deactivated} deactivated, {result.kept} kept"
    )
    return EXIT_OK


def cmd_directory_test(args: argparse.Namespace) -> int:
    from strongroom.directory.services import directory_probe

    startup_gate()
    out = directory_probe(username=args.user)
    say(f"service bind OK: {out['users']} users match the user filter")
    if args.user:
        if not out["user_found"]:
            say(f"user {args.user!r}: not found (or found more than once)")
            return EXIT_FAILED
        say(f"user {args.user!r}: found; groups (nested included):")
        for group in out["groups"]:
            say(f"  {group}")
    return EXIT_OK
