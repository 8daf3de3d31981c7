"""``{% sync_targets %}``: the Export menu's "Sync with <provider>" entries (one per enabled
provider the user is connected to)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def sync_targets(user: Any) -> list[dict[str, Any]]:
    from strongroom.exports import policy as export_policy
    from strongroom.sync.common import provider_label
    from strongroom.sync.forms import SyncForm
    from strongroom.sync.selectors import sync_targets as targets

    if not getattr(user, "is_authenticated", False):
        return []
    current = export_policy.policy_get()
    return [
        {
            "connection": conn,
            "label": provider_label(conn.provider),
            "form": SyncForm(policy=current, auto_id=f"sync_{conn.provider}_%s"),
        }
        for conn in targets(user=user)
    ]
