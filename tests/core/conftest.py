"""Fixtures for key tests: each test gets its own master key file location and no key in
the environment, so the providers are exercised with real files, variables and commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from strongroom.core import keys


@pytest.fixture
def key_file(tmp_path: Path, settings, monkeypatch) -> Path:
    path = tmp_path / "keys" / "master.key"
    settings.MASTER_KEY_FILE = str(path)
    settings.MASTER_KEY_COMMAND = ""
    settings.DATA_DIR = tmp_path
    settings.KEY_RECHECK_SECONDS = 0.05
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]
    monkeypatch.delenv("STRONGROOM_MASTER_KEY", raising=False)
    keys.reset()
    yield path
    keys.reset()


@pytest.fixture
def admin(key_file, admin):
    """The shared administrator (tests/shared_fixtures.py), made once the key file is in place."""
    return admin


@pytest.fixture
def vault_account(admin):
    """A resource with one account whose password, notes and TOTP seed are all sealed."""
    from strongroom.vault.services import account_create, resource_create

    resource = resource_create(actor=admin, name="db-01", resource_type="Database")
    return account_create(
        actor=admin,
        resource_id=resource.pk,
        username="postgres",
        password="pw-\u05e9\u05dc\u05d5\u05dd-\U0001f511",
        notes="break glass only",
        totp_seed="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    )
