"""/metrics: off by default, a bearer token when on, and figures that match a seeded
installation (jobs by state, queue depth, oldest queued job, sync lag of kept copies,
request latency)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from factories import user_make
from strongroom.sync.models import AutoState, JobState, SyncCopy, SyncJob
from sync.helpers import local_connect, local_enable

pytestmark = pytest.mark.db_specific

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_SYNC_LAG_THRESHOLD = 600


def _scrape(client: Client, token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", **headers)


def _value(text: str, name: str, labels: str = "", default: float | None = None) -> float:
    pattern = re.escape(name + (("{" + labels + "}") if labels else "")) + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    if found is None and default is not None:
        return default
    assert found, f"{name}{{{labels}}} not in\n{text}"
    return float(found.group(1))


@pytest.mark.django_db
def test_metrics_are_off_by_default():
    response = _scrape(Client())
    assert response.status_code == 404
    assert b"strongroom_" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
)
def test_a_missing_or_wrong_token_is_refused(metrics_on, header):
    client = Client()
    response = client.get("/metrics", **({"HTTP_AUTHORIZATION": header} if header else {}))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"strongroom_" not in response.content


@pytest.mark.django_db
def test_enabled_without_a_configured_token_refuses_everyone(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    assert _scrape(Client(), token="").status_code == 401


def _job(user, state: str, age_s: float, **kw):
    now = timezone.now()
    return SyncJob.objects.create(
        user=user,
        provider="local",
        state=state,
        copy_keys={},
        object_name="Strongroom.html",
        created_at=now - timedelta(seconds=age_s),
        **kw,
    )


@pytest.mark.django_db
def test_the_figures_match_a_seeded_installation(metrics_on, tmp_path):
    from huey.contrib.djhuey import HUEY

    from strongroom.accounts.tasks import purge_login_attempts

    (tmp_path / "sync-root").mkdir()
    local_enable(tmp_path / "sync-root")
    users = [user_make(username=f"metrics-user-{i}") for i in range(4)]
    conns = [local_connect(u) for u in users]
    # Jobs: 3 queued (oldest 900 s), 1 running, 2 retry_wait, 4 succeeded, 1 failed.
    for age in (900, 300, 5):
        _job(users[0], JobState.QUEUED, age)
    _job(users[0], JobState.RUNNING, 60)
    for _ in range(2):
        _job(users[1], JobState.RETRY_WAIT, 2000)
    done = [_job(users[2], JobState.SUCCEEDED, 50) for _ in range(4)]
    _job(users[3], JobState.FAILED, 4000)

    now = timezone.now()
    running = SyncJob.objects.get(state=JobState.RUNNING)

    def copy(i: int, **kw):
        return SyncCopy.objects.create(
            user=users[i],
            connection=conns[i],
            object_name="Strongroom.html",
            copy_keys={},
            keep_in_sync=True,
            auto_state=AutoState.ACTIVE,
            **kw,
        )

    # Current (0 lag); changed since the last upload 1800 s ago; rebuilding, last good
    # upload 300 s ago; and a stopped copy (not kept: ignored even though it lags).
    copy(0, change_seq=3, built_seq=3, last_job=done[0], last_synced_at=now - timedelta(hours=5))
    copy(
        1, change_seq=4, built_seq=3, last_job=done[1], last_synced_at=now - timedelta(seconds=1800)
    )
    copy(
        2, change_seq=5, built_seq=5, last_job=running, last_synced_at=now - timedelta(seconds=300)
    )
    stopped = copy(3, change_seq=9, built_seq=1, last_synced_at=now - timedelta(days=3))
    SyncCopy.objects.filter(pk=stopped.pk).update(auto_state=AutoState.STOPPED)

    HUEY.flush()
    for _ in range(3):
        HUEY.storage.enqueue(HUEY.serialize_task(purge_login_attempts.s()))

    client = Client()
    login_series = (
        "strongroom_http_request_duration_seconds_count",
        'method="GET",status="2xx",view="accounts:login"',
    )
    before = _value(_scrape(client).content.decode(), *login_series, default=0.0)
    client.get("/login/")
    client.get("/login/")
    response = _scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()

    expected_jobs = {
        "queued": 3,
        "running": 1,
        "retry_wait": 2,
        "succeeded": 4,
        "failed": 1,
        "cancelled": 0,
    }
    for state, count in expected_jobs.items():
        assert _value(text, "strongroom_sync_jobs", f'state="{state}"') == count
    assert 900 <= _value(text, "strongroom_sync_oldest_queued_job_age_seconds") < 960
    assert _value(text, "strongroom_queue_up") == 1
    assert _value(text, "strongroom_queue_depth") == 3
    assert _value(text, "strongroom_sync_kept_copies") == 3
    assert 1800 <= _value(text, "strongroom_sync_copy_lag_seconds_max") < 1860
    assert _value(text, "strongroom_sync_copies_lagging", 'threshold="600"') == 1

    assert _value(text, *login_series) == before + 2
    HUEY.flush()


@pytest.mark.django_db
def test_a_queue_that_does_not_answer_is_reported_not_a_failed_scrape(metrics_on, monkeypatch):
    """The queue's storage is a third-party object: make its count fail as Redis would."""
    from huey.contrib.djhuey import HUEY

    def down() -> int:
        raise ConnectionError("queue down")

    monkeypatch.setattr(HUEY.storage, "queue_size", down)
    response = _scrape(Client())
    assert response.status_code == 200
    text = response.content.decode()
    assert _value(text, "strongroom_queue_up") == 0
    assert _value(text, "strongroom_queue_depth") == -1
    assert _value(text, "strongroom_sync_jobs", 'state="queued"') == 0
