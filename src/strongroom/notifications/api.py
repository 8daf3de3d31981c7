"""Notifications API: the signed-in user's own notifications, which of them also come by
email (``GET/PUT /notifications/email-preferences``), and the administrators' SMTP settings
(``GET/PUT /email/settings``, the password write-only; ``POST /email/settings/test``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from strongroom.core.paging import MAX_OFFSET
from strongroom.core.request import client_ip
from strongroom.notifications import email, selectors, services

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: str
    level: str
    title: str
    body: str
    link: str
    kind: str
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
        "kind": notification.kind,
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


class EmailPreferencesOut(Schema):
    address: str
    kinds: dict[str, bool]


class EmailPreferencesIn(Schema):
    kinds: dict[str, bool]


def _prefs_out(user: Any) -> dict[str, Any]:
    return {"address": user.email, "kinds": email.email_preferences_get(user=user)}


@router.get("/notifications/email-preferences", response=EmailPreferencesOut)
def email_preferences_get(request: HttpRequest) -> Any:
    return _prefs_out(request.auth)  # type: ignore[attr-defined]


@router.put("/notifications/email-preferences", response=EmailPreferencesOut)
def email_preferences_put(request: HttpRequest, payload: EmailPreferencesIn) -> Any:
    user = request.auth  # type: ignore[attr-defined]
    email.email_preferences_set(user=user, choices=payload.kinds)
    return _prefs_out(user)


class EmailSettingsOut(Schema):
    enabled: bool
    host: str
    port: int
    security: str
    username: str
    password_set: bool
    from_address: str


class EmailSettingsIn(Schema):
    enabled: bool
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    security: str = "starttls"
    username: str = ""
    # Write-only: null keeps the stored password, "" removes it.
    password: str | None = None
    from_address: str = ""


class EmailTestIn(Schema):
    to: str = ""


class EmailTestOut(Schema):
    sent_to: str


def _settings_out() -> dict[str, Any]:
    row = email.email_settings_get()
    return {
        "enabled": row.enabled,
        "host": row.host,
        "port": row.port,
        "security": row.security,
        "username": row.username,
        "password_set": row.password is not None,
        "from_address": row.from_address,
    }


@router.get("/email/settings", response=EmailSettingsOut)
def email_settings_get(request: HttpRequest) -> Any:
    email.require_admin(request.auth)  # type: ignore[attr-defined]
    return _settings_out()


@router.put("/email/settings", response=EmailSettingsOut)
def email_settings_put(request: HttpRequest, payload: EmailSettingsIn) -> Any:
    email.email_settings_update(
        actor=request.auth,  # type: ignore[attr-defined]
        client_ip=client_ip(request),
        **payload.dict(),
    )
    return _settings_out()


@router.post("/email/settings/test", response=EmailTestOut)
def email_settings_test(request: HttpRequest, payload: EmailTestIn) -> Any:
    sent_to = email.email_test_send(actor=request.auth, to=payload.to)  # type: ignore[attr-defined]
    return {"sent_to": sent_to}
