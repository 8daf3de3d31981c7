"""Fixtures for the command-line tests: a private Strongroom installation per test."""

from __future__ import annotations

import pytest

from cli.helpers import Installation, Snapshots, make_installation


@pytest.fixture
def inst(tmp_path) -> Installation:
    """An empty installation: no database tables, no master key yet."""
    installation, cleanup = make_installation(tmp_path)
    try:
        yield installation
    finally:
        cleanup()


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory) -> Snapshots:
    store = Snapshots(tmp_path_factory.mktemp("snapshots"))
    try:
        yield store
    finally:
        store.close()


def _migrate(inst: Installation) -> None:
    inst.ok("migrate")
    inst.ok("check")  # creates the master key file


def _demo(inst: Installation) -> None:
    _migrate(inst)
    inst.ok("demo")


@pytest.fixture
def migrated(snapshots, tmp_path) -> Installation:
    """Migrated, with a master key file and no users."""
    return snapshots.copy("migrated", _migrate, tmp_path)


@pytest.fixture
def demo(snapshots, tmp_path) -> Installation:
    """Migrated and seeded with the demo vault."""
    return snapshots.copy("demo", _demo, tmp_path)
