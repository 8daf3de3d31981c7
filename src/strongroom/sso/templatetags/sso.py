from __future__ import annotations

from typing import Any

from django import template

from strongroom.sso.models import OidcProvider

register = template.Library()


@register.inclusion_tag("sso/_login_buttons.html")
def sso_login_buttons(next_url: str = "/") -> dict[str, Any]:
    """The "Sign in with <provider>" buttons for the login page (enabled providers only)."""
    return {"providers": list(OidcProvider.objects.filter(enabled=True)), "next": next_url}
