"""The exposure register from the command line (``strongroom exposure ...``): report a lost
device, follow an incident, list builds, and see who had an account offline. Each command
acts as the user named by ``--user``, with that user's permissions, exactly as the web page
and the API do (docs/exposure.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from strongroom.cli.base import EXIT_OK, say, startup_gate, user_named


def _when(moment: Any) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _where(build: Any) -> str:
    if build.destination == "download":
        return f"download {build.object_name}"
    return f"{build.provider} ({build.connection_label}) {build.object_name}"


def cmd_report(args: argparse.Namespace) -> int:
    from strongroom.exposure import selectors, services

    startup_gate()
    actor = user_named(args.user, nothing="reported")
    subject = user_named(args.of, nothing="reported")
    incident = services.incident_report(
        actor=actor, user_id=subject.pk, since=args.since, note=args.note or ""
    )
    say(f"incident {incident.pk} reported for {subject.username} (copies since {args.since})")
    return _show(selectors.incident_status(actor=actor, incident_id=incident.pk), args)


def cmd_show(args: argparse.Namespace) -> int:
    from strongroom.exposure import selectors

    startup_gate()
    actor = user_named(args.user, nothing="shown")
    return _show(selectors.incident_status(actor=actor, incident_id=args.incident), args)


def _show(status: Any, args: argparse.Namespace) -> int:
    from strongroom.exposure.api import incident_detail
    from strongroom.exposure.selectors import DELETED, ROTATE, ROTATED

    if args.json:
        say(json.dumps(incident_detail(status), default=str, indent=2, ensure_ascii=False))
        return EXIT_OK
    incident = status.incident
    counts = status.counts
    say(
        f"incident {incident.pk}: {incident.subject_name}, copies from {_when(incident.since)} "
        f"to {_when(incident.reported_at)} (reported by {incident.reported_by_name})"
    )
    say(
        f"{status.total} accounts in {len(status.copies)} copies: {counts[ROTATE]} to rotate, "
        f"{counts[ROTATED]} rotated, {counts[DELETED]} deleted from the vault"
        + (" — all rotated" if status.total and status.done else "")
    )
    hidden = sum(status.hidden.values())
    if hidden:
        say(
            f"{hidden} of them are accounts you cannot view ({status.hidden[ROTATE]} to rotate): "
            "their owners see them"
        )
    for account in status.accounts:
        say(
            f"  {account.status:8} {account.resource_name} / {account.username or '(no username)'}"
            f"  last in a copy {_when(account.last_copy_at)}, {account.copies} copies"
        )
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from strongroom.exposure import selectors

    startup_gate()
    actor = user_named(args.user, nothing="listed")
    incidents = list(selectors.incidents_list(actor=actor)[:200])
    if not incidents:
        say("no incidents")
    for incident in incidents:
        say(
            f"{incident.pk}  {incident.subject_name}  since {_when(incident.since)}  "
            f"reported {_when(incident.reported_at)} by {incident.reported_by_name}"
        )
    return EXIT_OK


def cmd_builds(args: argparse.Namespace) -> int:
    from strongroom.exposure import selectors

    startup_gate()
    actor = user_named(args.user, nothing="listed")
    subject = user_named(args.of, nothing="listed").pk if args.of else None
    builds = list(selectors.builds_list(actor=actor, user_id=subject)[: args.limit])
    if not builds:
        say("no offline copies recorded")
    for build in builds:
        say(
            f"{_when(build.built_at)}  {build.username}  {build.format}  {build.state}  "
            f"{build.entry_count} entries  {_where(build)}"
        )
    return EXIT_OK


def cmd_account(args: argparse.Namespace) -> int:
    from strongroom.exposure import selectors

    startup_gate()
    actor = user_named(args.user, nothing="shown")
    exposure = selectors.account_exposure(actor=actor, account_id=args.account)
    say(
        f"account {exposure.account.pk}: {exposure.copy_count} offline copies for "
        f"{exposure.users} users, {exposure.with_current_password} with the current password, "
        f"last {_when(exposure.last_at)}"
    )
    for copy in exposure.copies:
        build = copy.build
        password = "current password" if copy.current_password else "earlier password"
        say(
            f"  {_when(build.built_at)}  {build.username}  {build.format}  {build.state}  "
            f"{password}  {_where(build)}"
        )
    return EXIT_OK


def add_parser(sub: Any) -> None:
    exposure = sub.add_parser(
        "exposure",
        help="the exposure register: lost devices, copies built, who had an account offline",
    )
    ex_sub = exposure.add_subparsers(dest="exposure_command", required=True, metavar="ACTION")

    def acting(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--user",
            required=True,
            metavar="USERNAME",
            help="acting user: the command sees and does what this user may",
        )

    p = ex_sub.add_parser(
        "report",
        help="report a lost device: USER's copies since DATE must be rotated",
    )
    acting(p)
    p.add_argument("--of", required=True, metavar="USERNAME", help="whose device was lost")
    p.add_argument("--since", required=True, help="copies built from this date (YYYY-MM-DD)")
    p.add_argument("--note", help="what happened (kept with the incident and in the audit)")
    p.add_argument("--json", action="store_true", help="print the incident as JSON")
    p.set_defaults(func=cmd_report)

    p = ex_sub.add_parser("show", help="an incident: each account to rotate or rotated")
    acting(p)
    p.add_argument("incident", help="the incident ID")
    p.add_argument("--json", action="store_true", help="print the incident as JSON")
    p.set_defaults(func=cmd_show)

    p = ex_sub.add_parser("list", help="the incidents you may see")
    acting(p)
    p.set_defaults(func=cmd_list)

    p = ex_sub.add_parser("builds", help="offline copies built (newest first)")
    acting(p)
    p.add_argument("--of", metavar="USERNAME", help="only this user's copies")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.set_defaults(func=cmd_builds)

    p = ex_sub.add_parser("account", help="who had this account offline")
    acting(p)
    p.add_argument("account", help="the account ID")
    p.set_defaults(func=cmd_account)
