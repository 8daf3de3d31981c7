"""Sync test fixtures: cheap KDF (as the export tests), the local folder provider enabled on
a private directory, the Huey task queue inspected. Password hashing is at test cost for the
whole suite (strongroom.testing.pytest_env)."""

from __future__ import annotations

import pytest

from factories import TEST_ITERATIONS

from .helpers import local_enable, policy_set


@pytest.fixture(autouse=True)
def _cheap_kdf(settings):
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


@pytest.fixture
def cheap_policy(db):
    policy_set(kdf_iterations=TEST_ITERATIONS)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a callable with its on-commit work (triggers, enqueued jobs) done."""

    def go(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return go


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


# The storage engineer's S3 fixtures: moto's server mode on 127.0.0.1 (credential checking
# on) and a fault-injecting proxy in front of it.
from storage.conftest import (  # noqa: E402, F401
    _fault_proxy_session,
    moto_server,
)
from storage.conftest import fault_proxy as fault_proxy  # noqa: E402
from storage.conftest import moto as moto  # noqa: E402
from storage.conftest import s3_credentials as s3_credentials  # noqa: E402


@pytest.fixture
def s3_enabled(db, fault_proxy):
    """S3 enabled with the fault proxy (in front of moto) as the one allowed endpoint."""
    from strongroom.storage import services as storage

    from .helpers import admin

    storage.provider_settings_update(
        actor=admin(), provider="s3", enabled=True, config={"endpoints": [fault_proxy.url]}
    )
    return fault_proxy


@pytest.fixture
def s3_connect(s3_enabled, moto, s3_credentials):
    """connect(user) -> (connection, bucket): a fresh bucket per user, through the proxy."""
    import uuid

    from strongroom.storage import services as storage

    def connect(user, bucket=None):
        bucket = bucket or moto.new_bucket(f"sync-{uuid.uuid4().hex[:12]}")
        conn = storage.storage_connection_save(
            actor=user,
            provider="s3",
            config={"bucket": bucket, "region": "us-east-1", "endpoint": s3_enabled.url},
            credentials={
                "access_key_id": s3_credentials.access_key_id,
                "secret_access_key": s3_credentials.secret_access_key,
            },
        )
        return conn, bucket

    return connect


# The provider-parametrised suites (test_sync_providers.py, test_sync_worker_kill.py): one
# parameter per module in tests/sync/targets/ (a provider joins by adding its module).
from .targets import module as _target_module  # noqa: E402
from .targets import names as _target_names  # noqa: E402


@pytest.fixture(params=_target_names())
def sync_target(request, db):
    return _target_module(request.param).sync_target(request)


@pytest.fixture(params=_target_names())
def kill_target(request):
    # What a worker kill tests splits in two: the job claim, lease and sweep (the database's
    # part: the same for every provider) and the provider's upload left half-done (the same on
    # every database). So every provider runs on PostgreSQL, the multi-worker deployment, and
    # SQLite runs the claim path once, with the local folder. (Each run starts two workers and
    # a private installation: about 20 s.)
    from cli.helpers import outer_postgres_url

    if outer_postgres_url() is None and request.param != "local":
        pytest.skip(
            "on SQLite the kill test runs with the local folder; every provider on PostgreSQL"
        )
    return _target_module(request.param).kill_target(request)
