"""Facts about the HTTP request that services record (client address)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client address. Behind a proxy (production mode) the left-most X-Forwarded-For
    entry is used only when STRONGROOM_TRUST_X_FORWARDED_FOR is on."""
    if getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
