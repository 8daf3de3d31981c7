"""The API token scope each endpoint needs: one table, checked in one place (api.auth).

``read``: lists and details, never a password. ``retrieve``: anything that hands over a
stored secret (a password, an earlier password, an account's TOTP code, an export, a synced
copy the caller sets the passphrase of). ``write``: changes. ``admin``: the administrators'
endpoints (users, user groups, settings, export policy, storage settings), reads included.
``None``: any valid token (signing out, re-authenticating).

A scope only narrows: the owner's role and shares still decide as for the web session.
An endpoint missing from this table refuses every token (tests/api/test_api_scopes.py
fails until it is added), so a new endpoint can never be reached by a token by accident.
Web sessions are not scoped.
"""

from __future__ import annotations

import re
from typing import Any

from strongroom.accounts.models import Scope

READ, RETRIEVE, WRITE, ADMIN = Scope.READ, Scope.RETRIEVE, Scope.WRITE, Scope.ADMIN

# "METHOD path" (the path below /api/v1, as in the OpenAPI schema) -> scope.
OPERATION_SCOPES: dict[str, Scope | None] = {
    # people
    "POST /auth/logout": None,
    "POST /auth/reauth": None,
    "GET /me": READ,
    "POST /me/password": WRITE,
    "POST /me/totp/enrol": WRITE,
    "POST /me/totp/confirm": WRITE,
    "POST /me/totp/disable": WRITE,
    "POST /me/totp/recovery-codes": WRITE,
    "GET /me/tokens": READ,
    "POST /me/tokens": WRITE,
    "DELETE /me/tokens/{token_id}": WRITE,
    "GET /users": READ,
    "POST /users": ADMIN,
    "GET /users/{user_id}": READ,
    "PATCH /users/{user_id}": ADMIN,
    "DELETE /users/{user_id}": ADMIN,
    "POST /users/{user_id}/deactivate": ADMIN,
    "POST /users/{user_id}/activate": ADMIN,
    "POST /users/{user_id}/reset-password": ADMIN,
    "POST /users/{user_id}/reset-totp": ADMIN,
    "GET /user-groups": READ,
    "POST /user-groups": ADMIN,
    "GET /user-groups/{group_id}": READ,
    "PATCH /user-groups/{group_id}": ADMIN,
    "DELETE /user-groups/{group_id}": ADMIN,
    "GET /user-groups/{group_id}/members": READ,
    "POST /user-groups/{group_id}/members": ADMIN,
    "DELETE /user-groups/{group_id}/members/{user_id}": ADMIN,
    # vault
    "GET /resources": READ,
    "POST /resources": WRITE,
    "GET /resources/{resource_id}": READ,
    "PATCH /resources/{resource_id}": WRITE,
    "DELETE /resources/{resource_id}": WRITE,
    "GET /resources/{resource_id}/access": READ,
    "POST /resources/bulk": WRITE,
    "GET /favourites": READ,
    "PUT /favourites/{resource_id}": WRITE,
    "DELETE /favourites/{resource_id}": WRITE,
    "GET /recent": READ,
    "GET /resources/{resource_id}/accounts": READ,
    "POST /resources/{resource_id}/accounts": WRITE,
    "GET /accounts/{account_id}": READ,
    "PATCH /accounts/{account_id}": WRITE,
    "DELETE /accounts/{account_id}": WRITE,
    "POST /accounts/{account_id}/password": RETRIEVE,
    "GET /accounts/{account_id}/history": READ,
    "POST /accounts/{account_id}/history/{history_id}/password": RETRIEVE,
    "POST /accounts/{account_id}/totp": RETRIEVE,
    "GET /accounts/{account_id}/attachments": READ,
    "POST /accounts/{account_id}/attachments": WRITE,
    "POST /accounts/{account_id}/attachments/{attachment_id}/download": RETRIEVE,
    "DELETE /accounts/{account_id}/attachments/{attachment_id}": WRITE,
    # the exposure register (never a password)
    "GET /accounts/{account_id}/exposure": READ,
    "GET /exposure/builds": READ,
    "GET /exposure/incidents": READ,
    "POST /exposure/incidents": WRITE,
    "GET /exposure/incidents/{incident_id}": READ,
    # the password health report (findings, never a password)
    "GET /password-health": READ,
    "POST /password-health/refresh": WRITE,
    "GET /password-health/breached-list": ADMIN,
    "POST /password-health/breached-list": ADMIN,
    "DELETE /password-health/breached-list": ADMIN,
    "GET /resource-groups": READ,
    "POST /resource-groups": WRITE,
    "GET /resource-groups/{group_id}": READ,
    "PATCH /resource-groups/{group_id}": WRITE,
    "DELETE /resource-groups/{group_id}": WRITE,
    "GET /resource-groups/{group_id}/resources": READ,
    "POST /resource-groups/{group_id}/resources": WRITE,
    "DELETE /resource-groups/{group_id}/resources/{resource_id}": WRITE,
    "GET /shares": READ,
    "POST /shares": WRITE,
    "GET /shares/{share_id}": READ,
    "DELETE /shares/{share_id}": WRITE,
    "POST /import": WRITE,
    # audit (auditors read it; it is not an administrators' endpoint)
    "GET /audit": READ,
    "GET /audit/verify": READ,
    # settings
    "GET /settings": ADMIN,
    "GET /sso/providers": ADMIN,
    "POST /sso/providers": ADMIN,
    "GET /sso/providers/{slug}": ADMIN,
    "PATCH /sso/providers/{slug}": ADMIN,
    "DELETE /sso/providers/{slug}": ADMIN,
    "POST /sso/providers/{slug}/test": ADMIN,
    "PUT /settings": ADMIN,
    # directory (LDAP / Active Directory sign-in)
    "GET /directory": ADMIN,
    "PUT /directory": ADMIN,
    "GET /directory/mappings": ADMIN,
    "POST /directory/mappings": ADMIN,
    "DELETE /directory/mappings/{mapping_id}": ADMIN,
    "POST /directory/test": ADMIN,
    "POST /directory/sync": ADMIN,
    "POST /directory/users": ADMIN,
    # notifications
    "GET /notifications": READ,
    "POST /notifications/read-all": WRITE,
    "POST /notifications/{notification_id}/read": WRITE,
    "GET /notifications/email-preferences": READ,
    "PUT /notifications/email-preferences": WRITE,
    "GET /email/settings": ADMIN,
    "PUT /email/settings": ADMIN,
    "POST /email/settings/test": ADMIN,
    # exports: every export holds the passwords
    "GET /exports": READ,
    "POST /exports/html": RETRIEVE,
    "POST /exports/offline": RETRIEVE,
    "POST /exports/spreadsheet": RETRIEVE,
    "GET /export-policy": ADMIN,
    "PUT /export-policy": ADMIN,
    "POST /export-policy/rules": ADMIN,
    "DELETE /export-policy/rules/{rule_id}": ADMIN,
    # storage
    "GET /storage/settings": ADMIN,
    "PUT /storage/settings": ADMIN,
    "POST /storage/providers/{name}/test": ADMIN,
    "POST /storage/providers/{name}/host-key": WRITE,
    "GET /storage/connections": READ,
    "POST /storage/connections": WRITE,
    "POST /storage/oauth/{provider}/start": WRITE,
    "POST /storage/oauth/{provider}/complete": WRITE,
    "DELETE /storage/connections/{connection_id}": WRITE,
    # sync: starting a copy or choosing its passphrase hands the caller every password in it
    "POST /sync": RETRIEVE,
    "GET /sync/jobs": READ,
    "GET /sync/jobs/{job_id}": READ,
    "POST /sync/jobs/{job_id}/cancel": WRITE,
    "GET /sync/copies": READ,
    "GET /sync/copies/{copy_id}": READ,
    "POST /sync/copies/{copy_id}/stop": WRITE,
    "POST /sync/copies/{copy_id}/keep": WRITE,
    "POST /sync/copies/{copy_id}/resync": WRITE,
    "POST /sync/copies/{copy_id}/passphrase": RETRIEVE,
}

# Endpoints whose service asks for a fresh re-authentication (always, or when an
# administrator acts on their own account): documented in the OpenAPI schema.
REAUTH_OPERATIONS = frozenset(
    {
        "POST /me/password",
        "POST /me/totp/enrol",
        "POST /me/totp/confirm",
        "POST /me/totp/recovery-codes",
        "POST /me/tokens",
        "PATCH /users/{user_id}",
        "POST /users/{user_id}/activate",
        "POST /users/{user_id}/deactivate",
        "POST /users/{user_id}/reset-password",
        "POST /users/{user_id}/reset-totp",
    }
)

_API_ROOT = "api/v1/"
_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")
UNDECLARED = object()


def operation_key(request: Any) -> str | None:
    """``"METHOD /path"`` of the endpoint Django routed this request to."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not route or not route.startswith(_API_ROOT):
        return None
    path = "/" + _CONVERTER.sub(r"{\1}", route[len(_API_ROOT) :]).rstrip("/")
    return f"{request.method} {path}"


def required_scope(request: Any) -> Scope | object | None:
    """The scope this request's endpoint needs, or UNDECLARED."""
    key = operation_key(request)
    if key is None:
        return UNDECLARED
    return OPERATION_SCOPES.get(key, UNDECLARED)


def openapi_document(schema: dict[str, Any], prefix: str = "/api/v1") -> None:
    """Write each operation's scope (``x-strongroom-token-scope`` and a line of its
    description) and, where it applies, the re-authentication header and 403 answer."""
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path.removeprefix(prefix)}"
            if key not in OPERATION_SCOPES:
                continue
            scope = OPERATION_SCOPES[key]
            operation["x-strongroom-token-scope"] = scope.value if scope is not None else None
            line = (
                f"API token scope: `{scope.value}`."
                if scope is not None
                else "Any valid API token (no scope needed)."
            )
            if key in REAUTH_OPERATIONS:
                operation["x-strongroom-reauth"] = True
                line += (
                    " Needs a fresh re-authentication (POST /api/v1/auth/reauth): with a "
                    "token, send the secret it returned in `X-Strongroom-Reauth`; without it "
                    "the answer is 403 `reauth_required`."
                )
                operation.setdefault("parameters", []).append(
                    {
                        "in": "header",
                        "name": "X-Strongroom-Reauth",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "The secret from POST /api/v1/auth/reauth "
                        "(API tokens; a web session keeps its proof itself).",
                    }
                )
            description = operation.get("description") or ""
            operation["description"] = (description + "\n\n" + line).strip()
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "403",
                {
                    "description": "Forbidden: `insufficient_scope` (the token lacks the "
                    "scope), `reauth_required`, or the role/share does not allow it. Body: "
                    "the standard error shape.",
                },
            )
