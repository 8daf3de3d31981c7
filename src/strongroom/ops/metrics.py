"""Prometheus metrics at ``/metrics`` (docs/operations.md, "Metrics").

Off by default (404). With ``STRONGROOM_METRICS=true`` a scrape needs
``Authorization: Bearer <STRONGROOM_METRICS_TOKEN>`` (compared in constant time).

- Request latency: a histogram observed by :class:`RequestLatencyMiddleware`, labelled by
  method, URL pattern name and status class. It lives in each process's memory, so behind
  gunicorn with several processes one scrape sees one process's share. For one view of all
  of them set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (e.g. under the data
  directory, emptied at each start) before the web server starts: prometheus_client then
  keeps the values in files there and the view aggregates them.
- Everything else is read from the database (and the queue) at each scrape by
  :class:`StrongroomCollector`, so any process answers with the whole installation's
  figures: sync jobs by state, queue depth, the age of the oldest queued job, and the sync
  lag of kept copies.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_REQUESTS = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "strongroom_http_request_duration_seconds",
    "Time from the request reaching Django to the response leaving it.",
    ["method", "view", "status"],
    registry=_REQUESTS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestLatencyMiddleware:
    """Observes every request's duration (only when metrics are enabled)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.METRICS_ENABLED:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # Pattern names, never paths: paths carry IDs and would grow the series forever.
        view = (match.view_name or "unnamed") if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUEST_LATENCY.labels(method, view, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response


class StrongroomCollector(Collector):
    """Figures read from the database and the queue at each scrape."""

    def collect(self) -> Iterator[Metric]:
        from strongroom.sync.models import AutoState, JobState, SyncCopy, SyncJob

        now = timezone.now()
        by_state = dict(
            SyncJob.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n")
        )
        jobs = GaugeMetricFamily(
            "strongroom_sync_jobs", "Sync jobs in the database by state.", labels=["state"]
        )
        for state in JobState.values:
            jobs.add_metric([state], by_state.get(state, 0))
        yield jobs

        oldest = SyncJob.objects.filter(state=JobState.QUEUED).aggregate(m=Min("created_at"))["m"]
        yield GaugeMetricFamily(
            "strongroom_sync_oldest_queued_job_age_seconds",
            "Age of the oldest sync job waiting for a worker (0 when none waits).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )

        depth, up = _queue_depth()
        yield GaugeMetricFamily(
            "strongroom_queue_up", "1 when the task queue answered this scrape.", value=up
        )
        yield GaugeMetricFamily(
            "strongroom_queue_depth",
            "Tasks waiting in the Huey queue (-1 when the queue did not answer).",
            value=depth,
        )

        threshold = float(settings.METRICS_SYNC_LAG_THRESHOLD)
        kept = SyncCopy.objects.filter(keep_in_sync=True, auto_state=AutoState.ACTIVE).values_list(
            "change_seq", "built_seq", "last_job__state", "last_synced_at", "created_at"
        )
        lags = [_lag(now, *row) for row in kept]
        yield GaugeMetricFamily(
            "strongroom_sync_kept_copies", "Copies kept in sync automatically.", value=len(lags)
        )
        yield GaugeMetricFamily(
            "strongroom_sync_copy_lag_seconds_max",
            "Largest sync lag of a kept copy: seconds since its last successful upload, for "
            "copies not current (changes not yet uploaded, or the last upload not done).",
            value=max(lags, default=0.0),
        )
        over = GaugeMetricFamily(
            "strongroom_sync_copies_lagging",
            "Kept copies whose sync lag exceeds the threshold (seconds, a label).",
            labels=["threshold"],
        )
        over.add_metric([f"{threshold:g}"], sum(1 for lag in lags if lag > threshold))
        yield over


def _lag(
    now: Any, change_seq: int, built_seq: int, job_state: str | None, synced: Any, created: Any
) -> float:
    from strongroom.sync.models import JobState

    if built_seq >= change_seq and job_state == JobState.SUCCEEDED:
        return 0.0
    since = synced or created
    return max(0.0, (now - since).total_seconds())


def _queue_depth() -> tuple[float, float]:
    from huey.contrib.djhuey import HUEY

    try:
        return float(HUEY.pending_count()), 1.0
    except Exception as exc:  # noqa: BLE001 - any storage failure (Redis down, SQLite locked) is "no answer"
        logger.warning("metrics: the queue did not answer: %s", type(exc).__name__)
        return -1.0, 0.0


def _authorised(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_RequestsCollector())
    registry.register(StrongroomCollector())
    return registry


class _RequestsCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _REQUESTS.collect()


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        raise Http404("not found")
    if not _authorised(request):
        response = HttpResponse("a valid metrics token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE)
