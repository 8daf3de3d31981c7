from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from strongroom.accounts import selectors as account_selectors
from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm
from strongroom.audit import selectors as audit_selectors
from strongroom.notifications import selectors as notification_selectors
from strongroom.web.context_processors import MAIN_NAV, nav_items


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: what needs attention, and the way to everything this role may do."""
    user: User = request.user  # type: ignore[assignment]
    context: dict[str, object] = {
        "vault_links": [item for item in nav_items(request, MAIN_NAV) if item.url != "/"],
        "notifications": list(notification_selectors.notification_list(user=user)[:5]),
        "unread": notification_selectors.notification_unread_count(user=user),
    }
    if has_perm(user, Perm.USERS_MANAGE):
        context["people"] = (
            account_selectors.user_list(actor=user)
            .order_by()
            .aggregate(
                active=Count("id", filter=Q(is_active=True)),
                inactive=Count("id", filter=Q(is_active=False)),
                without_2fa=Count("id", filter=Q(is_active=True, totp_enabled=False)),
            )
        )
    if has_perm(user, Perm.AUDIT_READ):
        context["recent_events"] = audit_selectors.audit_event_list(actor=user, limit=6).items
    return render(request, "web/home.html", context)


def livez(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers (no database). Also the benchmark's bare-view floor."""
    return HttpResponse("ok", content_type="text/plain")
