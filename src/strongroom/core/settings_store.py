"""Administrator settings kept in the database (so every node sees the same values).

Known settings, their defaults and validators live in SETTINGS; reading an unknown key is a
programming error. Values are plain JSON: nothing secret belongs here (provider secrets
live in sealed columns of their own app), because settings are shown to administrators
and their old and new values are written to the audit trail.

This module is the registry and the reads; the audited, permission-checked writes
(``settings_update``, ``setting_set``) are accounts' (``strongroom.accounts.settings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number from {low} to {high}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}")
        return value

    return check


ATTACHMENT_MAX_BYTES_DEFAULT = 10 * 1024 * 1024
#: The largest attachment limit an administrator may set: attachments live sealed in the
#: database, and every download, export and key rotation holds one in memory.
ATTACHMENT_MAX_BYTES_CEILING = 100 * 1024 * 1024


def _attachment_limit(value: Any) -> int:
    if type(value) is not int:
        raise ValueError("must be a whole number of bytes")
    if not 1 <= value <= ATTACHMENT_MAX_BYTES_CEILING:
        raise ValueError(f"must be between 1 and {ATTACHMENT_MAX_BYTES_CEILING:,} bytes")
    return value


SETTINGS: dict[str, SettingSpec] = {
    "retrieval_reason_required": SettingSpec(
        False, "Users must give a reason to retrieve a password.", _bool
    ),
    # The password health report (docs/health.md).
    "password_max_age_days": SettingSpec(
        365,
        "Password health: a password not changed for this many days is old (0: never).",
        _int_between(0, 36500),
    ),
    "password_min_score": SettingSpec(
        3,
        "Password health: a password whose zxcvbn score (0-4) is below this is weak.",
        _int_between(1, 4),
    ),
    "attachment_max_bytes": SettingSpec(
        ATTACHMENT_MAX_BYTES_DEFAULT,
        "Largest file (in bytes) that may be attached to an account.",
        _attachment_limit,
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
