"""The one text validator every service uses for free-text input.

One rule set for all apps (the strictest of what accounts, notifications and the vault
each had): the value must be a ``str``, hold no NUL character, be valid Unicode (no unpaired
surrogate: it must encode as UTF-8), be at most ``max_length`` characters, and, when
``required``, not be blank. ``strip=True`` trims surrounding white space first (names and
titles); without it the value is kept exactly as typed (vault fields are stored as given).
Errors are ``ValidationFailed`` naming the ``field`` and a machine-readable ``problem``.
"""

from __future__ import annotations

from typing import Any

from strongroom.core.errors import ValidationFailed


def text_clean(
    field: str, value: Any, *, max_length: int, required: bool = False, strip: bool = False
) -> str:
    """Return ``value`` (trimmed when ``strip``) if it is acceptable text for ``field``;
    raise ``ValidationFailed`` otherwise."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text", field=field)
    if strip:
        value = value.strip()
    if "\x00" in value:
        raise ValidationFailed(
            f"{field} must not contain NUL characters (U+0000)", field=field, problem="nul"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationFailed(
            f"{field} is not valid Unicode (unpaired surrogate)", field=field, problem="unicode"
        ) from exc
    if len(value) > max_length:
        raise ValidationFailed(
            f"{field} is {len(value)} characters long; at most {max_length} are allowed",
            field=field,
            problem="too_long",
            max_length=max_length,
        )
    if required and not value.strip():
        raise ValidationFailed(f"{field} is required", field=field, problem="required")
    return value
