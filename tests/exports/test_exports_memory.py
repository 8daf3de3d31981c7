"""The cyclic collector's pause around export builds (exports/memory.py)."""

from __future__ import annotations

import gc
import threading

import pytest

from strongroom.exports.memory import gc_paused


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_paused_during_a_build_and_back_after(collector_on):
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_and_overlapping_builds_switch_it_back_on_only_at_the_last_end(collector_on):
    entered, release = threading.Event(), threading.Event()

    def other_build() -> None:
        with gc_paused():
            entered.set()
            release.wait(timeout=10)

    with gc_paused():
        thread = threading.Thread(target=other_build)
        thread.start()
        assert entered.wait(timeout=10)
        with gc_paused():
            pass
        assert not gc.isenabled()  # the nested pause ended, the others did not
    assert not gc.isenabled()  # this build ended, the other thread's has not
    release.set()
    thread.join(timeout=10)
    assert gc.isenabled()


def test_an_error_inside_still_switches_it_back_on(collector_on):
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("build failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
