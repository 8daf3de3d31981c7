"""Administrator settings kept in the database (so every node sees the same values).

Known settings, their defaults and validators live in SETTINGS; reading an unknown key is a
programming error. Values are plain JSON: nothing secret belongs here (provider secrets
live in sealed columns of their own app), because settings are shown to administrators
and their old and new values are written to the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from strongroom.core.errors import ValidationFailed
from strongroom.core.models import Setting


@dataclass(frozen=True)
class SettingSpec:
    default: Any
    description: str
    validate: Callable[[Any], Any]


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


SETTINGS: dict[str, SettingSpec] = {
    "retrieval_reason_required": SettingSpec(
        False, "Users must give a reason to retrieve a password.", _bool
    ),
}


def setting_get(key: str) -> Any:
    spec = SETTINGS[key]
    row = Setting.objects.filter(key=key).first()
    return spec.default if row is None else row.value


def setting_all() -> dict[str, Any]:
    """Every known setting's current value (defaults for the ones never set)."""
    stored = dict(Setting.objects.filter(key__in=list(SETTINGS)).values_list("key", "value"))
    return {key: stored.get(key, spec.default) for key, spec in SETTINGS.items()}


def settings_update(
    *, actor: Any | None, values: Mapping[str, Any], client_ip: str | None = None
) -> dict[str, Any]:
    """Validate and store several settings at once; all or nothing, one audit record.

    ``actor=None`` means the system (CLI, demo seeding). Returns every setting's value.
    """
    # Imported here: accounts and audit import core, so core must not import them at load.
    from strongroom.accounts.permissions import Perm, require_perm
    from strongroom.audit.services import audit_record

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
                action="settings.update",
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
