"""Typed application errors. Services raise these; the API and CLI render them.

Every error has a stable machine-readable ``code``, a human ``message`` and an HTTP
``status``. ``details`` carries structured context (a field name, a CSV row number) and
must never hold secret values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every stable error code an ``AppError`` (and the API's error bodies) may carry.

    A StrEnum: members are their string values, so JSON bodies, logs and comparisons are
    unchanged. Add a code here and use the member (``code=ErrorCode.X``); never reuse a code
    for another meaning: clients match on it. Members are kept sorted.
    """

    # enumify: begin
    ANCHOR_SOURCE = "anchor_source"
    ATTACHMENT_TOO_LARGE = "attachment_too_large"
    AUDIT_UNAVAILABLE = "audit_unavailable"
    BACKUP_FAILED = "backup_failed"
    BAD_OTP = "bad_otp"
    BAD_PASSWORD = "bad_password"
    BAD_REQUEST = "bad_request"
    BULK_REFUSED = "bulk_refused"
    CONFLICT = "conflict"
    CONNECTION_NEEDS_REAUTH = "connection_needs_reauth"
    DAMAGED = "damaged"
    DATABASE_UNAVAILABLE = "database_unavailable"
    DIRECTORY_UNAVAILABLE = "directory_unavailable"
    ERROR = "error"
    EXPORT_REFUSED = "export_refused"
    EXPORT_WRITE_FAILED = "export_write_failed"
    FORBIDDEN = "forbidden"
    FOREIGN_VIEWER = "foreign_viewer"
    IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IMPORT_REJECTED = "import_rejected"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    INTERNAL = "internal"
    INVALID = "invalid"
    INVALID_CREDENTIALS = "invalid_credentials"
    KEY_ROTATION = "key_rotation"
    MASTER_KEY = "master_key"
    MUST_CHANGE_PASSWORD = "must_change_password"
    NOT_FOUND = "not_found"
    NO_TOTP = "no_totp"
    OFFLINE_ERROR = "offline_error"
    OTP_REQUIRED = "otp_required"
    PASSPHRASE_REFUSED = "passphrase_refused"
    PROVIDER_DISABLED = "provider_disabled"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    REASON_REQUIRED = "reason_required"
    REAUTH_REQUIRED = "reauth_required"
    RESTORE_TARGET_NOT_EMPTY = "restore_target_not_empty"
    SCOPE_EXCEEDED = "scope_exceeded"
    SEALED_VALUE_DAMAGED = "sealed_value_damaged"
    SFTP_HOST_KEY_CHANGED = "sftp_host_key_changed"
    SFTP_HOST_KEY_UNCONFIRMED = "sftp_host_key_unconfirmed"
    SSO_REFUSED = "sso_refused"
    STORAGE_AUTH = "storage_auth"
    STORAGE_CHECK_FAILED = "storage_check_failed"
    STORAGE_NOT_FOUND = "storage_not_found"
    STORAGE_PERMANENT = "storage_permanent"
    STORAGE_PERMISSION = "storage_permission"
    STORAGE_TRANSIENT = "storage_transient"
    THROTTLED = "throttled"
    UNAUTHENTICATED = "unauthenticated"
    UNSUPPORTED = "unsupported"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    WORKER_LOST = "worker_lost"
    WRONG_PASSPHRASE = "wrong_passphrase"
    # enumify: end


class AppError(Exception):
    # An ErrorCode member; a plain string only where the code is not ours to choose (an
    # OAuth provider's error passed through) or is built elsewhere as a constant.
    code: ErrorCode | str = ErrorCode.ERROR
    status = 400

    def __init__(
        self, message: str, *, code: ErrorCode | str | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(AppError):
    code = ErrorCode.INVALID
    status = 400


class AuthenticationFailed(AppError):
    code = ErrorCode.UNAUTHENTICATED
    status = 401


class PermissionDenied(AppError):
    code = ErrorCode.FORBIDDEN
    status = 403


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND
    status = 404


class Conflict(AppError):
    code = ErrorCode.CONFLICT
    status = 409


class Throttled(AppError):
    code = ErrorCode.THROTTLED
    status = 429


class AuditUnavailable(AppError):
    """The audit record could not be written, so the audited action is refused."""

    code = ErrorCode.AUDIT_UNAVAILABLE
    status = 503


class KeyError_(AppError):
    """Master key missing, wrong or unreadable. Fatal at start-up."""

    code = ErrorCode.MASTER_KEY
    status = 500
