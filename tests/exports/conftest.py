"""Export test fixtures. Factories (people and vault objects made through the real services,
the API client) are in tests/factories.py; export helpers in tests/exports/helpers.py."""

from __future__ import annotations

import pytest

from factories import TEST_ITERATIONS


@pytest.fixture(autouse=True)
def _cheap_kdf(settings):
    """The test-only path to cheap PBKDF2: the Django setting STRONGROOM_EXPORT_MIN_ITERATIONS
    (production has no such setting, so its minimum is 600,000). Tests that need the cheap
    cost set the policy's iterations with ``policy_set(kdf_iterations=TEST_ITERATIONS)``;
    the policy's default stays the real 600,000."""
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS
