"""A real slapd for the whole directory test session (started once, stopped at the end)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .slapd_server import SLAPD, Slapd, slapd_start


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Slapd:
    if not Path(SLAPD).exists() or shutil.which("ldapsearch") is None:
        pytest.fail("slapd and ldap-utils are needed (scripts/test installs them)")
    server = slapd_start(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]
