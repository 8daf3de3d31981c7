"""Small helpers for messages people read."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 problem``, ``2 problems``, ``0 entries`` (``many`` for irregular plurals)."""
    if count == 1:
        return f"1 {word}"
    return f"{count:,} {many if many is not None else word + 's'}"
