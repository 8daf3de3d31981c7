import pytest
from django.db import connection

from strongroom.audit.services import audit_record, audit_verify

pytestmark = pytest.mark.db_specific


@pytest.mark.django_db
def test_audit_chain_appends_and_verifies_on_this_database():
    first = audit_record(actor=None, action="harness.check", details={"n": 1})
    second = audit_record(actor=None, action="harness.check", details={"n": 2})
    assert second.prev_hash == first.hash
    report = audit_verify()
    assert report.ok, report.problems
    assert report.checked == 2
    assert connection.vendor in {"sqlite", "postgresql"}
