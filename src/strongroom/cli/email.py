"""``strongroom email``: send a test email with the saved SMTP settings, and show the outbox
(docs/email.md). Settings themselves are changed on Admin → Email or with the API."""

from __future__ import annotations

import argparse

from strongroom.cli.base import EXIT_OK, say, startup_gate, user_named


def cmd_email_test(args: argparse.Namespace) -> int:
    from strongroom.notifications import email

    startup_gate()
    admin = user_named(args.user, nothing="sent")
    sent_to = email.email_test_send(actor=admin, to=args.to or "")
    say(f"a test email was sent to {sent_to}")
    return EXIT_OK


def cmd_email_outbox(args: argparse.Namespace) -> int:
    from strongroom.notifications import email

    startup_gate()
    counts = email.outbox_counts()
    say(", ".join(f"{state}: {n}" for state, n in counts.items()))
    if args.send_due:
        deliveries = email.outbox_sweep()
        sent = sum(d.state == "sent" for d in deliveries)
        say(f"sent {sent} of {len(deliveries)} due emails")
        for d in deliveries:
            if d.error:
                say(f"{d.outbox_id}: {d.state}: {d.error}")
    return EXIT_OK


def email_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mail = sub.add_parser("email", help="email notifications: test the SMTP settings, outbox")
    mail_sub = mail.add_subparsers(dest="email_command", required=True, metavar="ACTION")
    p = mail_sub.add_parser("test", help="send a test email now with the saved SMTP settings")
    p.add_argument("--user", required=True, help="an administrator (username)")
    p.add_argument("--to", help="recipient (default: that administrator's address)")
    p.set_defaults(func=cmd_email_test)
    p = mail_sub.add_parser("outbox", help="how many emails are pending, sent, failed")
    p.add_argument("--send-due", action="store_true", help="also send those due now")
    p.set_defaults(func=cmd_email_outbox)
