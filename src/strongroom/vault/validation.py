"""Validation of vault input, shared by the services and the CSV importers.

Rules (the same for the API, the CLI and imports):

- Text is stored exactly as given: no trimming, no escaping, no normalisation. Markup,
  spreadsheet formula prefixes (``=cmd|' /C calc'!A0``), right-to-left overrides and emoji
  are ordinary text here; whoever renders or exports a value escapes it for its medium.
- NUL characters (U+0000) are rejected with a message naming the field. PostgreSQL cannot
  store them in text, and they are far more often an attack or a corrupt file than data.
- Unpaired surrogates (text that is not valid Unicode) are rejected the same way.
- Lengths are counted in characters and limited to what the column allows (see the
  ``MAX_*`` constants); a value that is too long is refused, never truncated.
- Custom fields are a flat object of text to text.
- A TOTP seed is a base32 secret (spaces and case are ignored) or an ``otpauth://totp/``
  URI; it must produce a code, so a bad seed is refused when it is saved, not when it is
  first used.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyotp

from strongroom.core.errors import ValidationFailed
from strongroom.core.validation import text_clean

# Column limits (characters). CharField limits come from vault.models; TextField and sealed
# values have no column limit, so these are the product's limits.
MAX_RESOURCE_NAME = 500
MAX_RESOURCE_TYPE = 100
MAX_HOST = 1000
MAX_URL = 2000
MAX_DEPARTMENT = 300
MAX_LOCATION = 300
MAX_DESCRIPTION = 65_536
MAX_USERNAME = 500
MAX_PASSWORD = 16_384
MAX_NOTES = 65_536
MAX_GROUP_NAME = 300
MAX_GROUP_DESCRIPTION = 65_536
MAX_REASON = 2_000
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_FIELD_NAME = 200
MAX_CUSTOM_FIELD_VALUE = 16_384
MAX_TOTP_SEED = 2_000

_BASE32_RE = re.compile(r"^[A-Z2-7]+=*$")


def custom_fields_clean(value: Any, *, field: str = "custom_fields") -> dict[str, str]:
    """A flat mapping of text names to text values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(
            f"{field} must be an object of text names to text values", field=field
        )
    if len(value) > MAX_CUSTOM_FIELDS:
        raise ValidationFailed(
            f"{field} has {len(value)} entries; at most {MAX_CUSTOM_FIELDS} are allowed",
            field=field,
            problem="too_many",
        )
    cleaned: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(item, str):
            raise ValidationFailed(
                f"{field} values must be text (nested objects, lists and numbers are not allowed)",
                field=field,
                problem="not_text",
            )
        text_clean(f"{field} name", name, max_length=MAX_CUSTOM_FIELD_NAME, required=True)
        text_clean(f"{field} value", item, max_length=MAX_CUSTOM_FIELD_VALUE)
        cleaned[name] = item
    return cleaned


class _StoredTotp(pyotp.TOTP):
    """TOTP for seeds issued by other services. pyotp's 112-bit minimum is a rule for
    *issuing* secrets; many services issue 80-bit ones, and we must still produce their
    codes."""

    min_secret_length_bits = 80


_DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def totp_from_seed(seed: str) -> pyotp.TOTP:
    """The TOTP generator for a stored seed (already cleaned by :func:`totp_seed_clean`).
    Raises ValueError for a seed that cannot produce codes."""
    if not seed.startswith("otpauth://"):
        return _StoredTotp(seed)
    parts = urlsplit(seed)
    if parts.netloc.lower() != "totp":
        raise ValueError("not a TOTP URI")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        key = key.lower()
        if key in params:
            raise ValueError(f"the URI repeats the {key} parameter")
        params[key] = value
    if params.get("encoder"):
        raise ValueError("unsupported encoder")
    digest = _DIGESTS.get(params.get("algorithm", "SHA1").upper())
    if digest is None:
        raise ValueError("unsupported algorithm")
    secret = re.sub(r"[\s-]", "", params.get("secret", "")).upper()
    if not secret:
        raise ValueError("the URI has no secret")
    return _StoredTotp(
        secret,
        digits=int(params.get("digits") or 6),
        digest=digest,
        interval=int(params.get("period") or 30),
    )


def totp_seed_clean(value: Any, *, field: str = "totp_seed") -> str | None:
    """Normalise a TOTP seed; ``None`` or blank means "no TOTP"."""
    if value is None:
        return None
    text_clean(field, value, max_length=MAX_TOTP_SEED)
    seed = value.strip()
    if not seed:
        return None
    lowered = seed.lower()
    if lowered.startswith("steam://"):
        raise ValidationFailed(
            f"{field}: Steam Guard codes are not supported", field=field, problem="unsupported"
        )
    if lowered.startswith("otpauth://"):
        if not lowered.startswith("otpauth://totp/"):
            raise ValidationFailed(
                f"{field}: only time-based (otpauth://totp/) codes are supported",
                field=field,
                problem="unsupported",
            )
        seed = "otpauth://" + seed[len("otpauth://") :]
    else:
        seed = re.sub(r"[\s-]", "", seed).upper()
        if not _BASE32_RE.match(seed):
            raise ValidationFailed(
                f"{field} must be a base32 secret (letters A-Z and digits 2-7) or an "
                "otpauth://totp/ URI",
                field=field,
                problem="format",
            )
    try:
        totp_from_seed(seed).now()
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationFailed(
            f"{field} is not a usable TOTP seed (the secret or the URI's parameters are invalid)",
            field=field,
            problem="format",
        ) from exc
    return seed


def reason_clean(value: Any, *, required: bool) -> str:
    reason = text_clean("reason", value if value is not None else "", max_length=MAX_REASON)
    if required and not reason.strip():
        raise ValidationFailed(
            "a reason is required to retrieve this secret (the administrator made it mandatory)",
            field="reason",
            problem="required",
        )
    return reason


__all__ = ["text_clean"]  # re-exported: vault code calls v.text_clean
