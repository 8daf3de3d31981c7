"""Typed application errors. Services raise these; the API and CLI render them.

Every error has a stable machine-readable ``code``, a human ``message`` and an HTTP
``status``. ``details`` carries structured context (a field name, a CSV row number) and
must never hold secret values.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(AppError):
    code = "invalid"
    status = 400


class AuthenticationFailed(AppError):
    code = "unauthenticated"
    status = 401


class PermissionDenied(AppError):
    code = "forbidden"
    status = 403


class NotFound(AppError):
    code = "not_found"
    status = 404


class Conflict(AppError):
    code = "conflict"
    status = 409


class Throttled(AppError):
    code = "throttled"
    status = 429


class AuditUnavailable(AppError):
    """The audit record could not be written, so the audited action is refused."""

    code = "audit_unavailable"
    status = 503


class KeyError_(AppError):
    """Master key missing, wrong or unreadable. Fatal at start-up."""

    code = "master_key"
    status = 500
