"""The lanes scripts/test splits the ordinary tests into (tests/lanes.py): together they run
every selected module exactly once, a module never in two lanes, the time dealt evenly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lanes import lane_from_env, record, split

TESTS = Path(__file__).resolve().parents[1]


def test_every_module_goes_to_exactly_one_lane_and_the_lanes_are_even() -> None:
    counts = {f"tests/m{i}.py": 1 + i % 7 for i in range(40)}
    seconds = {f"tests/m{i}.py": float(10 + (i * 37) % 90) for i in range(0, 40, 2)}
    lanes = split(counts, seconds, 3)
    assert set().union(*lanes) == set(counts)
    assert sum(len(lane) for lane in lanes) == len(counts)
    # A module not recorded counts its tests at the median recorded time per test.
    per_test = sorted(seconds[m] / counts[m] for m in seconds)
    typical = (per_test[9] + per_test[10]) / 2
    cost = {m: seconds.get(m, counts[m] * typical) for m in counts}
    totals = [sum(cost[m] for m in lane) for lane in lanes]
    assert max(totals) - min(totals) <= max(cost.values())
    assert split(counts, seconds, 3) == lanes  # every lane computes the same split


def test_record_reads_setup_call_and_teardown_per_module(tmp_path: Path) -> None:
    log = tmp_path / "pytest.log"
    log.write_text(
        "============ slowest durations ============\n"
        "12.50s call     tests/a/test_x.py::test_one[desktop]\n"
        "1.25s setup    tests/a/test_x.py::test_one[desktop]\n"
        "0.25s teardown tests/a/test_x.py::test_two\n"
        "3.00s call     tests/b/test_y.py::Test::test_three\n"
        "(12 durations < 0.005s hidden.)\n"
    )
    assert record(log) == {"tests/a/test_x.py": 14.0, "tests/b/test_y.py": 3.0}


def _collect(lane: str | None) -> subprocess.Popen[str]:
    env = {**os.environ}
    env.pop("STRONGROOM_TEST_LANE", None)
    if lane:
        env["STRONGROOM_TEST_LANE"] = lane
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only"]
    return subprocess.Popen(
        [*command, "tests/core", "tests/crypto"],
        cwd=TESTS.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_lanes_of_a_real_collection_partition_it() -> None:
    runs = [_collect(None), _collect("1/2"), _collect("2/2")]  # side by side
    whole, first, second = (
        {line for line in run.communicate(timeout=300)[0].splitlines() if "::" in line}
        for run in runs
    )
    assert whole and first and second
    assert first | second == whole and not first & second

    def modules(tests: set[str]) -> set[str]:
        return {t.split("::", 1)[0] for t in tests}

    assert not modules(first) & modules(second)


@pytest.mark.parametrize("lane", ["3/2", "0/2", "1", "a/b", "1/2/3"])
def test_a_malformed_lane_is_refused(monkeypatch: pytest.MonkeyPatch, lane: str) -> None:
    monkeypatch.setenv("STRONGROOM_TEST_LANE", lane)
    with pytest.raises(pytest.UsageError, match="STRONGROOM_TEST_LANE must be k/N"):
        lane_from_env()
