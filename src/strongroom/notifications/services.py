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

from django.utils import timezone

from strongroom.core.errors import ValidationFailed
from strongroom.notifications.models import Level, Notification
from strongroom.notifications.selectors import notification_get

logger = logging.getLogger(__name__)

TITLE_MAX = 200
BODY_MAX = 5000
LINK_MAX = 500
# A path on this server: starts with one slash (not "//host"), no backslash (browsers read
# "/\\host" as another host), no control characters or spaces.
_LINK = re.compile(r"^/(?![/\\])[^\s\\\x00-\x1f\x7f]*$")


def _clean_text(value: str, *, field: str, max_length: int, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise ValidationFailed(f"{field} must be at most {max_length} characters", field=field)
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    return value


def notification_post(
    *, user: Any, level: str, title: str, body: str = "", link: str = ""
) -> Notification:
    """Tell ``user`` something; it appears in their notification area within seconds.

    ``level`` is one of info, success, warning, error. ``link`` is an optional path on this
    server (``/exports/jobs/…``) the notification opens.
    """
    if level not in Level.values:
        raise ValidationFailed(
            f"unknown notification level {level!r}", field="level", allowed=list(Level.values)
        )
    title = _clean_text(title, field="title", max_length=TITLE_MAX, required=True)
    body = _clean_text(body, field="body", max_length=BODY_MAX, required=False)
    link = link.strip()
    if link and (len(link) > LINK_MAX or not _LINK.match(link)):
        raise ValidationFailed(
            "link must be a path on this server, such as /notifications/", field="link"
        )
    notification = Notification.objects.create(
        user=user, level=level, title=title, body=body, link=link
    )
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
