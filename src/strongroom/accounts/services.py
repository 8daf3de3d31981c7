"""People: users, groups, login, TOTP, API tokens. (Filled in by the accounts work.)"""

from __future__ import annotations

from typing import Any


def api_token_authenticate(*, raw_token: str) -> Any:
    return None
