"""Bounds of list pages, shared by the API's list endpoints and the web pages.

An offset past what the database driver can bind (SQLite: 64-bit; PostgreSQL: bigint) was
a 500; the API now answers 422 for anything above ``MAX_OFFSET`` and the web pages clamp.
No installation holds a billion rows of one kind, so nothing reachable is cut off.
"""

from __future__ import annotations

MAX_OFFSET = 1_000_000_000
