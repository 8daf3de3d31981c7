"""Object and folder name rules shared by providers (no path tricks, unicode allowed)."""

from __future__ import annotations

import unicodedata

from strongroom.storage.base import StoragePermanentError

MAX_NAME_BYTES = 200


def check_object_name(name: str) -> str:
    """An object name is one path component: no separators, no '.'/'..', no control
    characters; normalised to NFC so the same name always maps to the same object."""
    if not isinstance(name, str):
        raise StoragePermanentError("the object name must be text")
    name = unicodedata.normalize("NFC", name)
    if not name or name in {".", ".."} or name.strip() != name:
        raise StoragePermanentError(f"invalid object name {name!r}")
    if "/" in name or "\\" in name or "\x00" in name:
        raise StoragePermanentError(f"invalid object name {name!r}: no path separators")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise StoragePermanentError(f"invalid object name {name!r}: control characters")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise StoragePermanentError(f"object name longer than {MAX_NAME_BYTES} bytes")
    return name
