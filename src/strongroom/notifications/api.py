"""Notifications API: the signed-in user's own notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from strongroom.core.paging import MAX_OFFSET
from strongroom.notifications import selectors, services

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: str
    level: str
    title: str
    body: str
    link: str
    created_at: datetime
    read_at: datetime | None


class NotificationPageOut(Schema):
    items: list[NotificationOut]
    unread: int
    total: int
    limit: int
    offset: int


class NotificationFilter(Schema):
    unread_only: bool = False
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class MarkedOut(Schema):
    marked: int


def _out(notification: Any) -> dict[str, Any]:
    return {
        "id": str(notification.pk),
        "level": notification.level,
        "title": notification.title,
        "body": notification.body,
        "link": notification.link,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


@router.get("/notifications", response=NotificationPageOut)
def notifications_list(request: HttpRequest, filters: Query[NotificationFilter]) -> Any:
    user = request.auth  # type: ignore[attr-defined]
    qs = selectors.notification_list(user=user, unread_only=filters.unread_only)
    items = list(qs[filters.offset : filters.offset + filters.limit])
    return {
        "items": [_out(n) for n in items],
        "unread": selectors.notification_unread_count(user=user),
        "total": qs.count(),
        "limit": filters.limit,
        "offset": filters.offset,
    }


@router.post("/notifications/read-all", response=MarkedOut)
def notifications_read_all(request: HttpRequest) -> Any:
    return {"marked": services.notification_mark_all_read(user=request.auth)}  # type: ignore[attr-defined]


@router.post("/notifications/{notification_id}/read", response=NotificationOut)
def notifications_read(request: HttpRequest, notification_id: str) -> Any:
    notification = services.notification_mark_read(
        user=request.auth,  # type: ignore[attr-defined]
        notification_id=notification_id,
    )
    return _out(notification)
