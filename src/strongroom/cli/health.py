"""The password health report from the command line (``strongroom health ...``): show a
user's report (and the organisation's counts for administrators and auditors), run a check,
load or remove the breached list. Each command acts as the user named by ``--user``, with
that user's rights, exactly as the web page and the API do (docs/health.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from strongroom.cli.base import EXIT_OK, CommandError, say, startup_gate, user_named


def _when(moment: Any) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _counts(counter: Any) -> str:
    from strongroom.health.selectors import FINDINGS

    return ", ".join(f"{counter[name]} {name}" for name in FINDINGS)


def cmd_show(args: argparse.Namespace) -> int:
    from strongroom.health import selectors
    from strongroom.health.api import report_out

    startup_gate()
    actor = user_named(args.user, nothing="shown")
    report = selectors.health_report(actor=actor)
    if args.json:
        say(json.dumps(report_out(report), default=str, indent=2, ensure_ascii=False))
        return EXIT_OK
    run = report.run
    if run is None:
        say("no check has run yet: run `strongroom health check`")
    else:
        say(
            f"checked {_when(run.finished_at)}"
            + ("" if run.breached_checked else " (no breached list: breaches not checked)")
        )
    if report.pending is not None:
        say(f"a newer check is {report.pending.state}")
    say(f"your {len(report.accounts)} accounts: {_counts(report.counts)}")
    for a in report.accounts:
        if not (a.findings or args.all):
            continue
        notes = list(a.findings)
        if a.reused_with:
            notes[notes.index("reused")] = f"reused x{a.reused_with + 1}"
        if a.stale:
            notes.append("changed since the check")
        if a.unchecked:
            notes.append("not checked yet")
        say(f"  {a.resource_name} / {a.username or '(no username)'}: {', '.join(notes) or 'ok'}")
    if report.org_counts is not None:
        say(f"organisation, {report.org_accounts} accounts: {_counts(report.org_counts)}")
        for owner in report.owners or []:
            say(f"  {owner.owner} ({owner.accounts} accounts): {_counts(owner.counts)}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from strongroom.health import services

    startup_gate()
    actor = user_named(args.user, nothing="checked") if args.user else None
    run = services.health_run_request(actor=actor)
    if not args.queue:
        # Here, in this process: for cron, or an installation without a running worker.
        run = services.health_run_compute(run_id=run.pk)
        if run.state != "done":
            raise CommandError(f"the check {run.state}: {run.problem or 'already running'}")
        say(f"checked the vault at {_when(run.finished_at)}")
    else:
        say(f"check {run.pk} is {run.state}; the worker runs it")
    return EXIT_OK


def cmd_breached(args: argparse.Namespace) -> int:
    from pathlib import Path

    from strongroom.health import services

    startup_gate()
    actor = user_named(args.user, nothing="changed")
    if args.action == "clear":
        gone = services.breached_list_clear(actor=actor)
        say(f"breached list removed ({gone} hashes)")
        return EXIT_OK
    if not args.file:
        raise CommandError("load needs the list's file: strongroom health breached load FILE")
    path = Path(args.file)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        loaded = services.breached_list_load(actor=actor, source=handle, name=path.name)
    say(f"breached list {loaded.name!r} loaded: {loaded.hash_count} hashes")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    health = sub.add_parser(
        "health",
        help="password health: weak, reused, old and breached passwords (docs/health.md)",
    )
    h_sub = health.add_subparsers(dest="health_command", required=True, metavar="ACTION")

    p = h_sub.add_parser("show", help="your report (organisation counts for admins, auditors)")
    p.add_argument("--user", required=True, metavar="USERNAME", help="whose report")
    p.add_argument("--all", action="store_true", help="list every account, not only findings")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_show)

    p = h_sub.add_parser("check", help="check every password of the vault now")
    p.add_argument("--user", metavar="USERNAME", help="who asks (default: the system)")
    p.add_argument(
        "--queue", action="store_true", help="leave the check to the worker instead of here"
    )
    p.set_defaults(func=cmd_check)

    p = h_sub.add_parser("breached", help="load or remove the breached password list")
    p.add_argument("action", choices=["load", "clear"])
    p.add_argument("file", nargs="?", help="load: a Pwned Passwords SHA-1 file (SHA1:COUNT)")
    p.add_argument("--user", required=True, metavar="USERNAME", help="an administrator")
    p.set_defaults(func=cmd_breached)
