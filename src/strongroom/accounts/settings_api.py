"""Administrator settings API: read all settings, change several at once."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Body, Router, Schema

from strongroom.accounts import settings as settings_service
from strongroom.accounts.permissions import Perm, require_perm
from strongroom.core import settings_store
from strongroom.core.request import client_ip

router = Router(tags=["settings"])


class SettingOut(Schema):
    key: str
    value: Any
    default: Any
    description: str


class GeneralSettingsOut(Schema):
    settings: list[SettingOut]


def _settings_out(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "settings": [
            {
                "key": key,
                "value": values[key],
                "default": spec.default,
                "description": spec.description,
            }
            for key, spec in settings_store.SETTINGS.items()
        ]
    }


# The operation ids of the schema are what they were when this router lived in core/api.py:
# generated clients keep their method names.
@router.get(
    "/settings", response=GeneralSettingsOut, operation_id="strongroom_core_api_settings_get"
)
def settings_get(request: HttpRequest) -> Any:
    require_perm(request.auth, Perm.SETTINGS_MANAGE)  # type: ignore[attr-defined]
    return _settings_out(settings_store.setting_all())


@router.put(
    "/settings", response=GeneralSettingsOut, operation_id="strongroom_core_api_settings_put"
)
def settings_put(request: HttpRequest, values: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
    """Change the given settings (others keep their values). All or nothing: an unknown key
    or an invalid value refuses the whole request and names the culprits."""
    updated = settings_service.settings_update(
        actor=request.auth,  # type: ignore[attr-defined]
        values=values,
        client_ip=client_ip(request),
    )
    return _settings_out(updated)
