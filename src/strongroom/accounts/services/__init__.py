"""People: users, user groups, login, two-factor, API tokens — one module per noun.

Import from the module that owns the noun (``accounts.services.users``, ``.groups``,
``.login``, ``.two_factor``, ``.tokens``, ``.reauth``); this package re-exports their
public names so ``from strongroom.accounts import services`` keeps working.
"""

from __future__ import annotations

from strongroom.accounts.services._common import (
    API_TOKEN_DISPLAY_LENGTH,
    API_TOKEN_PREFIX,
    LAST_USED_RESOLUTION,
    RECOVERY_CODE_COUNT,
    TOTP_ISSUER,
)
from strongroom.accounts.services.groups import (
    user_group_add_member,
    user_group_create,
    user_group_delete,
    user_group_remove_member,
    user_group_update,
)
from strongroom.accounts.services.login import (
    login_authenticate,
    login_external_complete,
    user_logout,
)
from strongroom.accounts.services.reauth import (
    REAUTH_TRUSTED,
    Reauth,
    ReauthArg,
    ReauthRequired,
    reauth_is_fresh,
    reauth_max_age,
    reauth_require,
    reauth_verify,
)
from strongroom.accounts.services.tokens import (
    ALL_SCOPES,
    IssuedToken,
    TokenReauth,
    api_token_authenticate,
    api_token_create,
    api_token_reauth,
    api_token_reauth_proof,
    api_token_resolve,
    api_token_revoke,
    scopes_normalise,
)
from strongroom.accounts.services.two_factor import (
    TotpEnrolment,
    user_recovery_codes_regenerate,
    user_totp_confirm,
    user_totp_disable,
    user_totp_enrol,
)
from strongroom.accounts.services.users import (
    PasswordReset,
    user_activate,
    user_create,
    user_deactivate,
    user_delete,
    user_password_change,
    user_password_reset,
    user_totp_reset,
    user_update,
)

__all__ = [
    "ALL_SCOPES",
    "API_TOKEN_DISPLAY_LENGTH",
    "API_TOKEN_PREFIX",
    "LAST_USED_RESOLUTION",
    "REAUTH_TRUSTED",
    "RECOVERY_CODE_COUNT",
    "TOTP_ISSUER",
    "IssuedToken",
    "PasswordReset",
    "Reauth",
    "ReauthArg",
    "ReauthRequired",
    "TokenReauth",
    "TotpEnrolment",
    "api_token_authenticate",
    "api_token_create",
    "api_token_reauth",
    "api_token_reauth_proof",
    "api_token_resolve",
    "api_token_revoke",
    "login_authenticate",
    "login_external_complete",
    "reauth_is_fresh",
    "reauth_max_age",
    "reauth_require",
    "reauth_verify",
    "scopes_normalise",
    "user_activate",
    "user_create",
    "user_deactivate",
    "user_delete",
    "user_group_add_member",
    "user_group_create",
    "user_group_delete",
    "user_group_remove_member",
    "user_group_update",
    "user_logout",
    "user_password_change",
    "user_password_reset",
    "user_recovery_codes_regenerate",
    "user_totp_confirm",
    "user_totp_disable",
    "user_totp_enrol",
    "user_totp_reset",
    "user_update",
]
