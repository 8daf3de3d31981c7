"""The notification area's JSON feed (polled by web/static/web/app.js), dismissing, and the
page listing past notifications."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from strongroom.notifications import selectors, services
from strongroom.notifications.models import Notification
from strongroom.web.helpers import paginate
from strongroom.web.middleware import allowed_before_password_change, passive


def notification_json(notification: Notification) -> dict[str, Any]:
    return {
        "id": str(notification.pk),
        "level": notification.level,
        "title": notification.title,
        "body": notification.body,
        "link": notification.link,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_GET
@passive
@allowed_before_password_change
def notification_feed_view(request: HttpRequest) -> JsonResponse:
    """Unread notifications, newest first. Answers 200 even when signed out (with
    ``signed_in: false``) so the page script can tell a timed-out session from an error."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False, "login_url": reverse("accounts:login")})
    items, unread = selectors.notification_feed(user=request.user)
    return JsonResponse(
        {"signed_in": True, "unread": unread, "items": [notification_json(n) for n in items]}
    )


@login_required
def notification_list_view(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("show") == "unread"
    notifications = selectors.notification_list(user=request.user, unread_only=unread_only)
    return render(
        request,
        "notifications/list.html",
        {
            "page": paginate(request, notifications, per_page=25),
            "unread_only": unread_only,
            "unread": selectors.notification_unread_count(user=request.user),
        },
    )


@login_required
@require_POST
def notification_read_view(request: HttpRequest, notification_id: str) -> HttpResponse:
    notification = services.notification_mark_read(
        user=request.user, notification_id=notification_id
    )
    if _wants_json(request):
        unread = selectors.notification_unread_count(user=request.user)
        return JsonResponse({"notification": notification_json(notification), "unread": unread})
    return redirect("notifications:list")


@login_required
@require_POST
def notification_read_all_view(request: HttpRequest) -> HttpResponse:
    count = services.notification_mark_all_read(user=request.user)
    if _wants_json(request):
        return JsonResponse({"marked": count, "unread": 0})
    messages.success(request, "All notifications are marked as read.")
    return redirect("notifications:list")
