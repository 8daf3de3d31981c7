"""Exposure register fixtures: offline copies at the test-only PBKDF2 cost (as the export
tests), built through the real export service."""

from __future__ import annotations

import pytest

from factories import TEST_ITERATIONS


@pytest.fixture(autouse=True)
def _cheap_kdf(settings):
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


@pytest.fixture
def cheap_policy(db):
    from exports.helpers import policy_set

    policy_set(kdf_iterations=TEST_ITERATIONS)
