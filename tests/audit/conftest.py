"""Fixtures for the audit API tests (factories in tests/factories.py)."""

from __future__ import annotations

import pytest

from factories import api_for, user_make


@pytest.fixture
def auditor_api(db):
    return api_for(user_make("auditor", username="the-auditor"))
