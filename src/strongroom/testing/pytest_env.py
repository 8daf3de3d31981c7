"""pytest plugin (loaded with ``-p`` from pyproject.toml) that prepares the environment.

It must run before pytest-django imports the settings, which happens before any conftest
is loaded: a private data directory per run, the cheap Argon2id hasher, Huey immediate mode.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("STRONGROOM_DATA_DIR", tempfile.mkdtemp(prefix="strongroom-test-"))
os.environ.setdefault("STRONGROOM_ARGON2_FAST", "1")
os.environ.setdefault("STRONGROOM_HUEY_IMMEDIATE", "1")
