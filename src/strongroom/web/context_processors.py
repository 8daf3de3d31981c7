"""Template context every page gets: navigation for the signed-in user's role, the URLs the
layout needs, and the settings the page's scripts read from ``data-*`` attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from strongroom.accounts.permissions import Perm, has_perm

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
TOAST_FADE_MS = 6000


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    perm: Perm | None = None


# Entries whose URL name does not resolve are left out, so a page another app adds later
# (the vault pages, the export settings) appears here as soon as its URL exists.
MAIN_NAV: tuple[NavEntry, ...] = (
    NavEntry("Home", "home"),
    NavEntry("Resources", "vault:resource_list"),
    NavEntry("Resource groups", "vault:resource_group_list"),
    NavEntry("Import", "vault:import", Perm.IMPORT),
    NavEntry("Export", "exports:menu"),
    NavEntry("Health", "health:index"),
    NavEntry("Cloud storage", "storage:connections"),
)
ADMIN_NAV: tuple[NavEntry, ...] = (
    NavEntry("Users", "accounts:user_list", Perm.USERS_MANAGE),
    NavEntry("User groups", "accounts:group_list", Perm.GROUPS_MANAGE),
    NavEntry("Roles", "accounts:roles", Perm.USERS_MANAGE),
    NavEntry("General settings", "accounts:settings", Perm.SETTINGS_MANAGE),
    NavEntry("Directory", "directory:admin", Perm.SETTINGS_MANAGE),
    # Slot for the export / offline-access policy page of the exports app.
    NavEntry("Export / Offline Access", "exports:settings", Perm.SETTINGS_MANAGE),
    NavEntry("Cloud Storage", "storage:admin", Perm.SETTINGS_MANAGE),
    NavEntry("Email", "notifications:email_settings", Perm.SETTINGS_MANAGE),
    NavEntry("Offline exposure", "exposure:index", Perm.USERS_MANAGE),
    NavEntry("Audit trail", "audit:list", Perm.AUDIT_READ),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _is_active(path: str, url: str) -> bool:
    return path == url if url == "/" else path.startswith(url)


def nav_items(request: HttpRequest, entries: tuple[NavEntry, ...]) -> list[NavItem]:
    items = []
    for entry in entries:
        if entry.perm is not None and not has_perm(request.user, entry.perm):
            continue
        url = _url(entry.url_name)
        if url is not None:
            items.append(NavItem(entry.label, url, _is_active(request.path, url)))
    return items


def navigation(request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {
        "session_seconds": settings.SESSION_COOKIE_AGE,
        "login_url": reverse("accounts:login"),
    }
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return context
    main = nav_items(request, MAIN_NAV)
    admin = nav_items(request, ADMIN_NAV)
    in_admin = any(item.active for item in admin)
    if len(admin) == 1:
        main.append(admin[0])  # an auditor's only admin page: the audit trail
    elif admin:
        # One "Admin" entry in the top bar; the admin pages list the rest as tabs.
        main.append(NavItem("Admin", admin[0].url, in_admin))
    context.update(
        nav_items=main,
        admin_nav_items=admin,
        in_admin=in_admin,
        account_url=reverse("accounts:account"),
        logout_url=reverse("accounts:logout"),
        notifications_url=reverse("notifications:list"),
        notifications_feed_url=reverse("notifications:feed"),
        notifications_read_all_url=reverse("notifications:read_all"),
        # The page script puts a notification's ID in place of the zero UUID.
        notifications_read_url=reverse("notifications:read", args=[ZERO_UUID]),
        # How long a success or info toast stays before it fades into the bell (web-ui.md).
        toast_fade_ms=int(getattr(settings, "STRONGROOM_TOAST_FADE_MS", TOAST_FADE_MS)),
    )
    return context
