"""Reading a user's own notifications (nobody reads another user's)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from strongroom.core.errors import NotFound
from strongroom.notifications.models import Notification

FEED_LIMIT = 5


def notification_list(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user=user).order_by("-created_at", "-id")
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs


def notification_unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_get(*, user: Any, notification_id: Any) -> Notification:
    """One of the user's notifications; anyone else's is NotFound, like a missing one."""
    try:
        pk = uuid.UUID(str(notification_id))
    except ValueError as exc:
        raise NotFound("notification not found") from exc
    notification = Notification.objects.filter(user=user, pk=pk).first()
    if notification is None:
        raise NotFound("notification not found", object_type="notification")
    return notification


def notification_feed(*, user: Any, limit: int = FEED_LIMIT) -> tuple[list[Notification], int]:
    """The newest unread notifications (for the notification area) and how many are unread."""
    items = list(notification_list(user=user, unread_only=True)[:limit])
    total = len(items) if len(items) < limit else notification_unread_count(user=user)
    return items, total
