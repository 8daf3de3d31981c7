"""Administrator settings kept in the database (so every node sees the same values).

Known settings, their defaults and validators live in SETTINGS; reading an unknown key is a
programming error.
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


SETTINGS: dict[str, SettingSpec] = {
    "retrieval_reason_required": SettingSpec(
        False, "Users must give a reason to retrieve a password.", _bool
    ),
}


def setting_get(key: str) -> Any:
    spec = SETTINGS[key]
    row = Setting.objects.filter(key=key).first()
    return spec.default if row is None else row.value
