"""Split one pytest run into lanes that run side by side (scripts/test).

``STRONGROOM_TEST_LANE=k/N`` keeps the k-th of N lanes (1-based) of the tests selected
after ``-m``; every lane computes the same split from the same selection, so the N runs
together run each selected test exactly once. The unit is the test module: a module's
fixtures (servers, browsers) start once, in one lane. Modules are dealt longest first to
the lane with the least time so far, using the times recorded in tests/durations.json
(seconds per module, from a whole run: ``python tests/lanes.py record LOG`` reads the
``--durations=0`` output of one); a module not listed counts its tests at the median time
per test, so a new module joins a lane without any bookkeeping.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")
_LANE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def lane_from_env() -> tuple[int, int] | None:
    raw = os.environ.get("STRONGROOM_TEST_LANE", "")
    if not raw:
        return None
    match = _LANE.match(raw)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise pytest.UsageError(f"STRONGROOM_TEST_LANE must be k/N with 1 <= k <= N, not {raw!r}")
    return int(match[1]), int(match[2])


def split(
    tests_per_module: dict[str, int], seconds: dict[str, float], lanes: int
) -> list[set[str]]:
    """Deal modules to ``lanes`` lanes, longest first, each to the least loaded lane."""
    per_test = [seconds[m] / n for m, n in tests_per_module.items() if m in seconds and n]
    typical = statistics.median(per_test) if per_test else 1.0
    cost = {m: seconds.get(m, n * typical) for m, n in tests_per_module.items()}
    totals = [0.0] * lanes
    chosen: list[set[str]] = [set() for _ in range(lanes)]
    for module in sorted(cost, key=lambda m: (-cost[m], m)):
        lane = min(range(lanes), key=lambda i: (totals[i], i))
        totals[lane] += cost[module]
        chosen[lane].add(module)
    return chosen


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    lane = lane_from_env()
    if lane is None:
        return
    k, n = lane
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[_module(item.nodeid)] += 1
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    keep = split(counts, seconds, n)[k - 1]
    kept = [item for item in items if _module(item.nodeid) in keep]
    dropped = [item for item in items if _module(item.nodeid) not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept


_DURATION_LINE = re.compile(r"^\s*([\d.]+)s\s+(?:call|setup|teardown)\s+(\S+)")


def record(log: Path) -> dict[str, float]:
    """Seconds per module from pytest's ``--durations=0`` output (setup, call, teardown)."""
    seconds: dict[str, float] = defaultdict(float)
    for line in log.read_text(errors="replace").splitlines():
        match = _DURATION_LINE.match(line)
        if match:
            seconds[_module(match[2])] += float(match[1])
    return {m: round(s, 2) for m, s in sorted(seconds.items())}


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "record":
        sys.exit("usage: python tests/lanes.py record PYTEST_LOG [PYTEST_LOG ...]")
    merged: dict[str, float] = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    for path in sys.argv[2:]:
        merged.update(record(Path(path)))
    DURATIONS.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
    print(f"{DURATIONS}: {len(merged)} modules, {sum(merged.values()):.0f} s")
