"""The vault from the command line: ``import`` a CSV, ``export`` (the same service, policy
and audit as the web UI and API), ``open`` an offline file (needs no server, database or
configuration)."""

from __future__ import annotations

import argparse
import errno
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from strongroom.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    err,
    new_passphrase_read,
    passphrase_read,
    password_file_read,
    progress,
    say,
    startup_gate,
    user_named,
)

IMPORT_FORMATS = (
    "auto",
    "strongroom",
    "bitwarden",
    "bitwarden_json",
    "keepassxc",
    "keepass_xml",
    "kdbx",
    "1password_1pux",
    "1password_csv",
    "lastpass",
)
IMPORT_MODES = ("skip", "update", "duplicate")
_KDBX_SIGNATURE = bytes.fromhex("03d9a29a67fb4bb5")


def _kdbx_password(args: argparse.Namespace, data: bytes) -> str | None:
    """The KeePass database's password: from --password-file, else asked at a terminal when
    the file is a KDBX database."""
    if args.password_file is not None:
        return password_file_read(args.password_file)
    is_kdbx = args.format == "kdbx" or (args.format == "auto" and data.startswith(_KDBX_SIGNATURE))
    if is_kdbx and sys.stdin.isatty():
        return getpass.getpass(f"Password of the KeePass database {args.file}: ")
    return None


def cmd_import(args: argparse.Namespace) -> int:
    from strongroom.core.errors import AppError
    from strongroom.core.text import plural
    from strongroom.vault.services import import_csv

    startup_gate()
    user = user_named(args.user, nothing="imported")
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    password = _kdbx_password(args, data)
    try:
        report = import_csv(
            actor=user,
            data=data,
            fmt=args.format,
            mode=args.mode,
            password=password,
            progress=progress,
        )
    except AppError as exc:
        raise CommandError(
            f"import of {args.file} refused, nothing was imported: {exc.message}"
        ) from exc
    if not report.ok:
        err(
            f"import of {args.file} refused, nothing was imported: "
            f"{plural(len(report.problems), 'problem')}"
        )
        for problem in report.problems:
            where = "file" if problem.row is None else f"row {problem.row}"
            if problem.item:
                where = f"item {problem.row} ({problem.item})"
            if problem.line is not None:
                where += f" (line {problem.line})"
            column = f" column {problem.column!r}" if problem.column else ""
            err(f"  {where}{column}: {problem.problem}")
        if report.format == "kdbx" and password is None:
            err("give the database's password with --password-file PATH (- for stdin)")
        return EXIT_FAILED
    say(
        f"{plural(report.rows, 'entry', 'entries')} read from {args.file} ({report.format}) "
        f"for {user.username}: {report.summary()}"
    )
    for title, notes in (("updated", report.updated), ("skipped", report.skipped)):
        for note in notes:
            where = note.item or (f"row {note.row}" if note.row is not None else "file")
            say(f"  {title}: {where}: {note.name}: {note.reason}")
    listed = len(report.skipped) + len(report.updated)
    if listed < report.skipped_count + report.updated_count:
        say(f"  ({report.skipped_count + report.updated_count - listed} more not listed)")
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Offline file (`strongroom open`): needs no server, database or configuration

OPEN_EXIT_WRONG_PASSPHRASE = 2
OPEN_EXIT_DAMAGED = 3
OPEN_EXIT_UNSUPPORTED = 4
OPEN_EXIT_FOREIGN_VIEWER = 5


def cmd_open(args: argparse.Namespace) -> int:
    from strongroom.crypto import offline, offline_cli
    from strongroom.exports import offline_file

    try:
        html = Path(args.file).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    try:
        # Judge the page before asking for the passphrase: a foreign viewer is a phishing
        # page whatever its payload holds.
        offline_file.offline_file_header(html)
        offline_file.viewer_check(html)
    except offline.OfflineFileDamaged as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_DAMAGED) from exc
    except offline.OfflineFormatUnsupported as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_UNSUPPORTED) from exc
    except offline.OfflineViewerForeign as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_FOREIGN_VIEWER) from exc
    passphrase = passphrase_read(args.passphrase_file)
    try:
        payload = offline_file.offline_file_open(html=html, passphrase=passphrase)
    except offline.OfflineWrongPassphrase as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_WRONG_PASSPHRASE) from exc
    except offline.OfflineFileDamaged as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_DAMAGED) from exc
    except offline.OfflineFormatUnsupported as exc:
        raise CommandError(f"strongroom: {exc.message}", OPEN_EXIT_UNSUPPORTED) from exc
    entries = offline_cli.entries_search(payload.entries, args.search or "")
    if args.save_attachments:
        saved = _attachments_save(payload.entries, entries, Path(args.save_attachments))
        err(f"saved {saved} attachment{'' if saved == 1 else 's'} to {args.save_attachments}")
    if args.json:
        sys.stdout.write(offline_cli.payload_json(payload, entries) + "\n")
    else:
        sys.stdout.write(offline_cli.payload_table(payload, entries, search=args.search))
    sys.stdout.flush()
    if not payload.authenticated:
        err(
            "warning: version 1 file: not authenticated against forgery (anyone who had one "
            "file of this copy could have made it); re-export"
        )
    if payload.is_from_the_future():
        err(
            "warning: this copy claims to be made in the future "
            f"({payload.generated_at:%Y-%m-%d %H:%M} UTC): check this computer's clock"
        )
    if payload.is_expired():
        err("warning: this offline copy is past its advisory expiry date; get a fresh copy")
    return EXIT_OK


def _attachments_save(everything: list[Any], entries: list[Any], folder: Path) -> int:
    """Write the carried attachments of ``entries`` under ``folder``: one folder per entry,
    ``<position> <entry name>``, holding its files under their names, both made safe for
    any file system (offline_cli.safe_file_name). Never overwrites, never follows a link,
    never writes outside ``folder``. Where the system can, every name is opened relative
    to its parent's open descriptor: a folder swapped for a link after it was opened
    (another process writing a synced folder) changes nothing."""
    from strongroom.crypto import offline_cli

    relative = _DIR_FD_SAFE and os.open in os.supports_dir_fd
    try:
        folder.mkdir(parents=True, exist_ok=True)
        root = folder.resolve(strict=True)
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY) if relative else None
    except OSError as exc:
        raise CommandError(f"cannot use {folder} for attachments: {exc.strerror}") from exc
    position = {id(entry): index for index, entry in enumerate(everything)}
    width = len(str(len(everything)))
    saved = 0
    try:
        for entry in entries:
            files = [item for item in entry.attachments if item.included]
            if not files:
                continue
            number = str(position[id(entry)] + 1).zfill(width)
            place = root / offline_cli.safe_file_name(f"{number} {entry.name}")
            place_fd = _entry_folder(place, folder, root, root_fd)
            try:
                for item in files:
                    name = offline_cli.safe_file_name(item.name)
                    target = place / name
                    try:
                        handle = os.open(
                            name if place_fd is not None else target,
                            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                            0o600,
                            dir_fd=place_fd,
                        )
                    except FileExistsError as exc:
                        raise CommandError(f"refusing to overwrite {target}") from exc
                    except OSError as exc:
                        raise CommandError(f"cannot write {target}: {exc.strerror}") from exc
                    with os.fdopen(handle, "wb") as out:
                        out.write(item.data)
                    saved += 1
            finally:
                if place_fd is not None:
                    os.close(place_fd)
    finally:
        if root_fd is not None:
            os.close(root_fd)
    return saved


# Opening a folder without following a link (O_DIRECTORY | O_NOFOLLOW) and names relative
# to it: every POSIX system; elsewhere (Windows) the paths are checked instead.
_DIR_FD_SAFE = hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW")


def _entry_folder(place: Path, folder: Path, root: Path, root_fd: int | None) -> int | None:
    """Make the entry's folder if missing and return its open descriptor (None where the
    system cannot: then it is checked by its path). A link planted in its place, to a
    folder outside ``folder``, is refused."""
    outside = CommandError(f"refusing to write outside {folder}: {place}")
    if root_fd is None:
        try:
            place.mkdir(exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot make {place}: {exc.strerror}") from exc
        # A symbolic link put there beforehand (to /etc, say) would carry the files elsewhere.
        if place.is_symlink() or place.resolve() != root / place.name:
            raise outside
        return None
    try:
        os.mkdir(place.name, dir_fd=root_fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise CommandError(f"cannot make {place}: {exc.strerror}") from exc
    try:
        return os.open(place.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
    except OSError as exc:
        # A link: ELOOP, or ENOTDIR (Linux, with O_DIRECTORY), or EMLINK (the BSDs).
        if exc.errno in (errno.ELOOP, errno.EMLINK) or place.is_symlink():
            raise outside from exc
        raise CommandError(f"cannot make {place}: {exc.strerror}") from exc


# --------------------------------------------------------------------------------------
# Export (`strongroom export`): the same service, policy and audit as the web UI and API


def cmd_export(args: argparse.Namespace) -> int:
    from strongroom.exports import selectors as export_selectors
    from strongroom.exports import services as export_services

    startup_gate()
    user = user_named(args.user, nothing="exported")
    if args.group and args.resource:
        raise CommandError("give --group or --resource, not both", 2)
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
    resource_ids: list[Any] | None = None
    if args.resource:
        resource_ids = [_resource_for(user, text).pk for text in args.resource]
    if args.format in ("html", "kdbx"):
        if args.with_passwords:
            raise CommandError(
                f"--with-passwords is for csv and xlsx ({args.format} always has them)", 2
            )
        passphrase = new_passphrase_read(args.passphrase_file, nothing="exported")
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
                resource_ids=resource_ids,
                sink=sink,
                progress=progress,
            )
        else:
            result = export_services.export_spreadsheet(
                actor=user,
                fmt=args.format,
                with_passwords=args.with_passwords,
                reason=args.reason or "",
                resource_group_ids=group_ids,
                resource_ids=resource_ids,
                sink=sink,
                progress=progress,
            )
    except export_services.ExportWriteFailed as exc:
        raise CommandError(f"cannot write {args.out}: {exc.message}") from exc
    say(
        f"exported {result.entry_count} entr{'y' if result.entry_count == 1 else 'ies'} for "
        f"{user.username} to {out} ({result.format}, {len(result.content):,} bytes, "
        f"SHA-256 {result.sha256})"
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Favourites (`strongroom favourite add|remove|list`): the same services as the web star


def _resource_for(user: Any, text: str) -> Any:
    """A resource the user can see, by ID or by exact name (one only)."""
    import uuid

    from strongroom.vault import selectors

    try:
        return selectors.resource_get(user=user, resource_id=uuid.UUID(text))
    except ValueError:
        pass
    found = list(selectors.resources_visible(user=user).filter(name=text)[:2])
    if not found:
        raise CommandError(f"{user.username} cannot see a resource named {text!r}")
    if len(found) > 1:
        raise CommandError(
            f"several resources {user.username} can see are named {text!r}; give its ID"
        )
    return found[0]


def cmd_favourite(args: argparse.Namespace) -> int:
    from strongroom.vault import favourites

    startup_gate()
    user = user_named(args.user, nothing="changed")
    if args.favourite_command == "list":
        for resource in favourites.favourites_list(user=user)[: favourites.MAX_FAVOURITES]:
            say(f"{resource.pk}  {resource.name}")
        return EXIT_OK
    if not args.resource:
        raise CommandError(f"favourite {args.favourite_command}: name the resource (ID or name)", 2)
    if args.favourite_command == "add":
        resource = _resource_for(user, args.resource)
        favourites.favourite_add(actor=user, resource_id=resource.pk)
        say(f"{resource.name} is a favourite of {user.username}")
        return EXIT_OK
    try:
        import uuid

        resource_id: Any = uuid.UUID(args.resource)
        label = args.resource
    except ValueError:
        resource = _resource_for(user, args.resource)
        resource_id, label = resource.pk, resource.name
    favourites.favourite_remove(actor=user, resource_id=resource_id)
    say(f"{label} is not a favourite of {user.username}")
    return EXIT_OK


def cmd_visibility(args: argparse.Namespace) -> int:
    from strongroom.vault import visibility

    startup_gate()
    if args.visibility_command == "check":
        found = visibility.visibility_check()
        if found.ok:
            say(f"OK: the visibility table matches the access rules ({found.rows} rows)")
            return EXIT_OK
        say(
            f"PROBLEM: the visibility table differs from the access rules: {found.missing} "
            f"rows missing (someone would not see what they may), {found.extra} rows too many "
            "(a list would show what its user may not open); run: strongroom visibility rebuild"
        )
        return EXIT_FAILED
    before = visibility.visibility_rebuild(actor=None)
    after = visibility.visibility_check()
    say(
        f"rebuilt the visibility table: {after.rows} rows (before: {before.missing} missing, "
        f"{before.extra} too many); audited"
    )
    return EXIT_OK if after.ok else EXIT_FAILED


def _attachment_of(user: Any, account_id: str, text: str) -> Any:
    """One of the account's attachments, by ID or exact name."""
    import uuid

    from strongroom.vault import attachments

    found = attachments.attachments_list(actor=user, account_id=account_id)
    try:
        match = found.filter(pk=uuid.UUID(text)).first()
    except ValueError:
        match = found.filter(name=text).first()
    if match is None:
        raise CommandError(f"the account has no attachment {text!r}")
    return match


def cmd_attachment(args: argparse.Namespace) -> int:
    """``attachment list|add|get|delete``: the same services (permissions, limits, audit
    records) as the web page and the API, acting as ``--user``."""
    from strongroom.vault import attachments

    startup_gate()
    action = args.attachment_command
    user = user_named(args.user, nothing="read" if action in ("list", "get") else "changed")
    if action == "list":
        for item in attachments.attachments_list(actor=user, account_id=args.account):
            say(f"{item.pk}  {item.size:>10}  {item.name}")
        return EXIT_OK
    if not args.file:
        raise CommandError(f"attachment {action}: name the file", 2)
    if action == "add":
        path = Path(args.file)
        with path.open("rb") as handle:
            data = handle.read(attachments.attachment_max_bytes() + 1)
        created = attachments.attachment_upload(
            actor=user, account_id=args.account, name=args.name or path.name, data=data
        )
        say(f"attached {created.name} ({created.size:,} bytes) as {created.pk}")
        return EXIT_OK
    found = _attachment_of(user, args.account, args.file)
    if action == "delete":
        attachments.attachment_delete(actor=user, account_id=args.account, attachment_id=found.pk)
        say(f"deleted {found.name}")
        return EXIT_OK
    _, data = attachments.attachment_download(
        actor=user, account_id=args.account, attachment_id=found.pk, reason=args.reason or ""
    )
    if args.out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return EXIT_OK
    target = Path(args.out) if args.out else Path(found.name)
    if target.exists() and not args.force:
        raise CommandError(f"{target} exists; give --force to replace it or --out elsewhere")
    target.write_bytes(data)
    err(f"wrote {len(data):,} bytes to {target}")
    return EXIT_OK
