"""Logging redaction and a secret wrapper whose repr never shows the value."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter


class Secret:
    """Holds a secret string. ``str()``/``repr()`` are masked; use ``.reveal()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# Keys whose values are masked wherever they appear as key=value or "key": "value".
SENSITIVE_KEYS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "totp",
    "seed",
    "master_key",
    "recovery_code",
    "otp",
    "code_verifier",
    "refresh",
)
_KEY_RE = "|".join(SENSITIVE_KEYS)
_PATTERNS = [
    # key=value, "key": "value", 'key': b'value' (headers logged as bytes by SDKs)
    re.compile(r"(?i)((?:" + _KEY_RE + r")\w*[\"']?\s*[:=]\s*b?[\"']?)([^\s\"'&,}]+)"),
    re.compile(r"(?i)(bearer\s+)(\S+)"),
    # AWS Signature V4 parts (Authorization header, presigned URLs)
    re.compile(r"(?i)((?:credential|signature|x-amz-credential|x-amz-signature)=)([^\s,&\"']+)"),
    re.compile(r"(sr_[A-Za-z0-9_-]{6})[A-Za-z0-9_-]+"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "********", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secret-looking values in every record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class SecretMaskingReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|SEED|TOTP", flags=re.IGNORECASE
    )

    def get_post_parameters(self, request: Any) -> Any:
        params = super().get_post_parameters(request)
        if params:
            params = params.copy()
            for key in list(params.keys()):
                if re.search(_KEY_RE, key, re.IGNORECASE):
                    params[key] = self.cleansed_substitute
        return params
