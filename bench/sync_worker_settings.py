"""Strongroom's real settings for the worker processes of ``bench/sync.py --workers``, with
the bench-only cheap KDF minimum the in-process run sets (see bench/sync.py)."""

from strongroom.config.settings import *  # noqa: F403

STRONGROOM_EXPORT_MIN_ITERATIONS = 10_000
