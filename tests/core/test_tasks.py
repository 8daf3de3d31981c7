"""Housekeeping tasks. The run through a real consumer on Redis is in
tests/cli/test_cli_servers.py; here the work itself and the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from strongroom.accounts import tasks
from strongroom.accounts.models import LoginAttempt

pytestmark = pytest.mark.db_specific


def _attempt(username: str, age: timedelta) -> None:
    attempt = LoginAttempt.objects.create(username=username, succeeded=False)
    LoginAttempt.objects.filter(pk=attempt.pk).update(at=timezone.now() - age)


@pytest.mark.django_db
def test_purge_deletes_only_attempts_older_than_thirty_days():
    _attempt("ancient", timedelta(days=400))
    _attempt("old", timedelta(days=30, minutes=1))
    _attempt("recent", timedelta(days=29, hours=23))
    _attempt("now", timedelta(0))
    assert tasks.login_attempts_purge() == 2
    assert sorted(LoginAttempt.objects.values_list("username", flat=True)) == ["now", "recent"]
    assert tasks.login_attempts_purge() == 0


def test_the_purge_is_scheduled_daily_at_0317_utc():
    schedule = tasks.purge_login_attempts_daily.task_class().validate_datetime
    day = datetime(2026, 3, 1, tzinfo=UTC)
    due = [
        day + timedelta(minutes=m)
        for m in range(24 * 60)
        if schedule((day + timedelta(minutes=m)).replace(tzinfo=None))
    ]
    assert due == [datetime(2026, 3, 1, 3, 17, tzinfo=UTC)]
