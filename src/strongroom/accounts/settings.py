"""Changing administrator settings: validated, permission-checked, audited.

The registry of known settings and the reads live in ``strongroom.core.settings_store``
(every app may read a setting); writing one is an administrator's action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from strongroom.accounts.permissions import Perm, require_perm
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import ValidationFailed
from strongroom.core.models import Setting
from strongroom.core.settings_store import SETTINGS, setting_all


def settings_update(
    *, actor: Any | None, values: Mapping[str, Any], client_ip: str | None = None
) -> dict[str, Any]:
    """Validate and store several settings at once; all or nothing, one audit record.

    ``actor=None`` means the system (CLI, demo seeding). Returns every setting's value.
    """
    if actor is not None:
        require_perm(actor, Perm.SETTINGS_MANAGE)
    unknown = sorted(key for key in values if key not in SETTINGS)
    if unknown:
        raise ValidationFailed(
            "unknown setting(s): " + ", ".join(unknown),
            unknown=unknown,
            known=sorted(SETTINGS),
        )
    cleaned: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for key, value in values.items():
        try:
            cleaned[key] = SETTINGS[key].validate(value)
        except (ValueError, TypeError) as exc:
            problems.append({"field": key, "problem": str(exc)})
    if problems:
        raise ValidationFailed(
            "invalid value for " + ", ".join(p["field"] for p in problems), fields=problems
        )
    with transaction.atomic():
        current = setting_all()
        changes = {
            key: {"old": current[key], "new": new}
            for key, new in cleaned.items()
            if current[key] != new
        }
        if changes:
            audit_record(
                actor=actor,
                action=AuditAction.SETTINGS_UPDATE,
                object_type="settings",
                client_ip=client_ip,
                details={"changes": changes},
            )
            for key in changes:
                Setting.objects.update_or_create(key=key, defaults={"value": cleaned[key]})
    return setting_all()


def setting_set(*, actor: Any | None, key: str, value: Any, client_ip: str | None = None) -> Any:
    """Store one setting (validated, audited as ``settings.update``); returns the new value."""
    return settings_update(actor=actor, values={key: value}, client_ip=client_ip)[key]
