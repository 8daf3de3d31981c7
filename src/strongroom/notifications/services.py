"""Posting and dismissing notifications.

The export and cloud-sync work call :func:`notification_post` when a job lands or fails.
Notifications are not security events, so they are not audited; whatever they report (an
export, a sync) has its own audit record. Titles and bodies are shown as text, never as
markup, but they must still never hold a secret: they are stored in clear.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from strongroom.accounts.models import Role, User
from strongroom.core.errors import ValidationFailed
from strongroom.core.validation import text_clean
from strongroom.notifications.email import outbox_create_for
from strongroom.notifications.models import Kind, Level, Notification
from strongroom.notifications.selectors import notification_get

logger = logging.getLogger(__name__)

TITLE_MAX = 200
BODY_MAX = 5000
LINK_MAX = 500
# A path on this server: starts with one slash (not "//host"), no backslash (browsers read
# "/\\host" as another host), no control characters or spaces.
_LINK = re.compile(r"^/(?![/\\])[^\s\\\x00-\x1f\x7f]*$")


def notification_post(
    *, user: Any, level: str, title: str, body: str = "", link: str = "", kind: str = ""
) -> Notification:
    """Tell ``user`` something; it appears in their notification area within seconds.

    ``level`` is one of info, success, warning, error. ``link`` is an optional path on this
    server (``/exports/jobs/…``) the notification opens. ``kind`` (models.Kind) says what
    it is about: if the user receives that kind by email, its email is queued in the same
    transaction (notifications.email), so it is sent once the notification exists, and
    never without it.
    """
    if level not in Level.values:
        raise ValidationFailed(
            f"unknown notification level {level!r}", field="level", allowed=list(Level.values)
        )
    title = text_clean("title", title, max_length=TITLE_MAX, required=True, strip=True)
    body = text_clean("body", body, max_length=BODY_MAX, strip=True)
    link = link.strip()
    if link and (len(link) > LINK_MAX or not _LINK.match(link)):
        raise ValidationFailed(
            "link must be a path on this server, such as /notifications/", field="link"
        )
    if kind not in Kind.values:
        raise ValidationFailed(
            f"unknown notification kind {kind!r}", field="kind", allowed=list(Kind.values)
        )
    with transaction.atomic():
        notification = Notification.objects.create(
            user=user, level=level, title=title, body=body, link=link, kind=kind
        )
        outbox_create_for(notification)
    logger.info("notification %s (%s) posted to user id %s", notification.pk, level, user.pk)
    return notification


def notification_mark_read(*, user: Any, notification_id: Any) -> Notification:
    """Mark one of the user's notifications read (again changes nothing)."""
    notification = notification_get(user=user, notification_id=notification_id)
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notification_mark_all_read(*, user: Any) -> int:
    """Mark every unread notification of the user read; returns how many there were."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notification_post_admins(
    *, kind: str, level: str, title: str, body: str = "", link: str = ""
) -> int:
    """Tell every active administrator (configuration problems, audit-chain failures)."""
    admins = User.objects.filter(is_active=True, role=Role.ADMIN)
    count = 0
    for admin in admins:
        notification_post(user=admin, level=level, title=title, body=body, link=link, kind=kind)
        count += 1
    return count


def notification_post_team_export(*, exporter: Any, what: str, entry_count: int) -> int:
    """Inside the export's transaction: tell the administrators who asked for "export by
    someone of my team" (kind team_export; off until they turn it on, so nobody else's
    notification area fills with exports). An administrator's team: the members of the user
    groups they belong to; an administrator in no user group watches everyone."""
    from strongroom.notifications.models import EmailPreference

    watching = EmailPreference.objects.filter(
        kind=Kind.TEAM_EXPORT, enabled=True, user__is_active=True, user__role=Role.ADMIN
    ).exclude(user=exporter)
    groups = set(exporter.user_groups.values_list("pk", flat=True))
    count = 0
    for pref in watching.select_related("user"):
        admin = pref.user
        theirs = set(admin.user_groups.values_list("pk", flat=True))
        if theirs and not theirs & groups:
            continue
        notification_post(
            user=admin,
            level="info",
            kind=Kind.TEAM_EXPORT,
            title=f"{exporter.username} exported {what}"[:200],
            body=f"{entry_count} entr{'y' if entry_count == 1 else 'ies'}. The audit trail has "
            "the details.",
            link="/audit/",
        )
        count += 1
    return count


def audit_chain_check() -> bool:
    """Verify the audit chain; if it fails, tell every administrator (kind audit_chain, on
    by email by default). Problems are described by record position, never by content."""
    from strongroom.audit.services import audit_verify

    report = audit_verify()
    if report.ok:
        return True
    logger.error("audit chain verification failed: %d problem(s)", len(report.problems))
    notification_post_admins(
        kind=Kind.AUDIT_CHAIN,
        level="error",
        title="The audit trail failed verification",
        body="\n".join(report.problems[:5])
        + "\nRun `strongroom audit verify` and see docs/operations.md.",
        link="/audit/",
    )
    return False
