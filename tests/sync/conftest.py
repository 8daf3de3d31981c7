"""Sync test fixtures: cheap KDF and password hashing (as the export tests), the local
folder provider enabled on a private directory, the Huey task queue inspected."""

from __future__ import annotations

import pytest

from .helpers import TEST_ITERATIONS, local_enable, policy_set


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def _cheap_kdf(settings):
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


@pytest.fixture
def cheap_policy(db):
    policy_set(kdf_iterations=TEST_ITERATIONS)


@pytest.fixture
def sync_dir(tmp_path, db):
    base = tmp_path / "sync-root"
    base.mkdir()
    local_enable(base)
    return base


@pytest.fixture
def enqueued():
    """Every task Huey is asked to run or schedule: (name, args, kwargs, serialised)."""
    from huey import signals
    from huey.contrib.djhuey import HUEY

    seen: list[tuple[str, tuple, dict]] = []

    def record(signal, task, *args, **kwargs):
        # The serialised message is exactly what a Redis or SQLite queue would store.
        seen.append(
            (task.name, tuple(task.args), dict(task.kwargs or {}), HUEY.serialize_task(task))
        )

    HUEY.flush()
    HUEY.signal(signals.SIGNAL_ENQUEUED)(record)
    try:
        yield seen
    finally:
        HUEY.disconnect_signal(record, signals.SIGNAL_ENQUEUED)
        HUEY.flush()
