"""Cloud sync from the command line: ``sync`` (the same service, policy and audit as the
web UI and API) and ``sync-copies``."""

from __future__ import annotations

import argparse

from strongroom.cli.base import (
    EXIT_OK,
    CommandError,
    activity,
    err,
    new_passphrase_read,
    passphrase_read,
    provider_named,
    say,
    startup_gate,
    user_named,
)


def cmd_host_key(args: argparse.Namespace) -> int:
    """An SFTP server's host key, for the user to compare before trusting it (key exchange
    only), under the same rules as a connection (enabled, the admin's allow-list)."""
    from strongroom.storage import services as storage_services

    provider_named(args.provider, nothing="scanned")
    startup_gate()
    user = user_named(args.user, nothing="scanned")
    found = storage_services.storage_host_key_scan(
        actor=user, provider=args.provider, host=args.host, port=args.port
    )
    print(found["host_key"])
    err(
        "compare it with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub); if it "
        "matches, give it as config.host_key when connecting"
    )
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    from strongroom.storage.models import StorageConnection
    from strongroom.sync import services as sync_services
    from strongroom.sync.models import JobState

    provider_named(args.to, nothing="synced")
    startup_gate()
    user = user_named(args.user, nothing="synced")
    conn = StorageConnection.objects.filter(user=user, provider=args.to).first()
    if conn is None:
        raise CommandError(f"{user.username} has no {args.to} connection; connect it first")
    passphrase = new_passphrase_read(args.passphrase_file, nothing="synced")
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
        say(f"sync job {job.pk} queued for {user.username} to {args.to}")
        return EXIT_OK
    with activity(f"syncing to {args.to}") as show:
        job = sync_services.sync_job_run_and_wait(
            job_id=job.pk,
            timeout=args.timeout,
            observe=lambda job: show(f"syncing to {args.to}: {job.get_state_display().lower()}"),
        )
    if job.state == JobState.SUCCEEDED:
        say(
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
    from strongroom.sync import copies as sync_copies
    from strongroom.sync import selectors as sync_selectors

    startup_gate()
    actor = user_named(args.user, nothing="changed")
    if args.action == "list":
        for copy in sync_selectors.sync_copies_visible(actor=actor):
            next_at = sync_selectors.sync_copy_next_at(copy)
            say(
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
        sync_copies.sync_copy_keep_set(
            actor=actor, copy_id=args.copy_id, keep=args.action == "keep"
        )
        say(f"copy {args.copy_id}: {'kept up to date' if args.action == 'keep' else 'stopped'}")
        return EXIT_OK
    if args.action == "resync":
        job = sync_copies.sync_copy_resync(actor=actor, copy_id=args.copy_id)
        say(f"copy {args.copy_id}: re-sync " + (f"job {job.pk} queued" if job else "queued"))
        return EXIT_OK
    passphrase = passphrase_read(args.passphrase_file)
    job = sync_copies.sync_copy_rekey(
        actor=actor, copy_id=args.copy_id, passphrase=passphrase, reason=args.reason or ""
    )
    del passphrase
    say(
        f"copy {args.copy_id}: new passphrase set, " + (f"job {job.pk} queued" if job else "queued")
    )
    return EXIT_OK
