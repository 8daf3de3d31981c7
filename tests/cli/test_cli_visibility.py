"""`strongroom visibility check|rebuild`: the operator's way back when vault rows were written
without the services (a hand edit, a bulk load), which leaves the visibility table behind
the access rules. Run for real in subprocesses against a demo installation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.db_specific  # raw table writes, both databases' SQL for the rules

EXIT_FAILED = 1

# Behind the services' back: one pair the rules give goes missing (a shared reader would no
# longer see the resource in lists), one pair they do not give appears (a resource nobody
# shared with this user would be listed to them).
CORRUPT = """
from strongroom.accounts.models import User
from strongroom.vault import selectors
from strongroom.vault.models import AccessLevel, Resource, Share, Visibility

share = Share.objects.filter(user__isnull=False, resource__isnull=False).first()
Visibility.objects.get(user=share.user, resource=share.resource).delete()
resources = list(Resource.objects.order_by("name"))


def hidden_from(user):
    level = selectors.resource_access_level
    return next((r for r in resources if level(user=user, resource=r) is None), None)


people = User.objects.filter(is_active=True).exclude(pk=share.user.pk).order_by("username")
outsider = next(u for u in people if hidden_from(u) is not None)
hidden = hidden_from(outsider)
Visibility.objects.create(
    user=outsider, resource=hidden, level=AccessLevel.VIEW,
    resource_type=hidden.resource_type, department=hidden.department,
)
listed = {str(r.pk) for r in selectors.resources_visible(user=outsider)}
result = {"outsider": outsider.username, "hidden": str(hidden.pk)}
result["listed_hidden"] = str(hidden.pk) in listed
"""

STATE = """
from strongroom.accounts.models import User
from strongroom.audit.models import AuditEvent
from strongroom.vault import selectors
outsider = User.objects.get(username=OUTSIDER)
listed = [str(r.pk) for r in selectors.resources_visible(user=outsider)]
records = [e.details for e in AuditEvent.objects.filter(action="visibility.rebuild")]
result = {"listed_hidden": HIDDEN in listed, "records": records}
"""


def test_check_finds_a_table_written_around_the_services_and_rebuild_repairs_it(demo):
    ok = demo.ok("visibility", "check")
    assert ok.stdout.startswith("OK: the visibility table matches the access rules (")

    broken = demo.script(CORRUPT)
    assert broken["listed_hidden"]  # the harm: a list shows what its user may not open

    found = demo.run("visibility", "check")
    assert found.returncode == EXIT_FAILED
    assert "1 rows missing" in found.stdout and "1 rows too many" in found.stdout
    assert "run: strongroom visibility rebuild" in found.stdout

    rebuilt = demo.ok("visibility", "rebuild")
    assert "(before: 1 missing, 1 too many); audited" in rebuilt.stdout
    assert demo.ok("visibility", "check").stdout.startswith("OK: ")

    prelude = f"OUTSIDER = {broken['outsider']!r}\nHIDDEN = {broken['hidden']!r}\n"
    after = demo.script(prelude + STATE)
    assert not after["listed_hidden"]
    assert [(r["missing"], r["extra"]) for r in after["records"]] == [(1, 1)]
    assert demo.ok("audit", "verify").stdout.startswith("OK: ")


def test_an_unknown_action_is_a_usage_error_and_changes_nothing(demo):
    done = demo.run("visibility", "drop")
    assert done.returncode == 2
    assert "invalid choice: 'drop'" in done.stderr
    assert demo.ok("visibility", "check").stdout.startswith("OK: ")
