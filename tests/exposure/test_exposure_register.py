"""The exposure register, through the real export service and vault services: what a build
records (IDs and password versions, never a secret or a name), set reuse, a build that is
not handed out, and an incident's rotate -> rotated tracking as passwords change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from factories import account_make, resource_make, user_make
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.exports import services as exports
from strongroom.exposure import selectors
from strongroom.exposure.models import (
    BuildState,
    ExposureIncident,
    ExposureSet,
    ExposureSetEntry,
    OfflineBuild,
    version_of,
)
from strongroom.vault import services as vault

from .helpers import PASSPHRASE, download, report

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

CANARIES = ("Canary-Pw-7a1f", "Canary-Pw-93bd")


@pytest.fixture
def owner(cheap_policy):
    user = user_make("password_admin")
    account_make(user, resource_make(user, "mail-canary-01"), "postmaster", CANARIES[0])
    account_make(user, resource_make(user, "db-canary-02"), "dba-login", CANARIES[1])
    return user


def _register_dump() -> str:
    """Every row of the register's tables, as text."""
    tables = [
        m._meta.db_table for m in (OfflineBuild, ExposureSet, ExposureSetEntry, ExposureIncident)
    ]
    rows = []
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (our own table names)
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def _pairs(build: OfflineBuild) -> set[tuple[str, int]]:
    return {
        (str(a), v)
        for a, v in ExposureSetEntry.objects.filter(exposure_set=build.exposure_set).values_list(
            "account_id", "version"
        )
    }


def test_a_download_records_who_what_where_with_ids_and_versions_only(owner):
    result = download(owner)
    build = OfflineBuild.objects.get()
    assert build.user == owner and build.username == owner.username
    assert (build.format, build.destination, build.state) == ("html", "download", "delivered")
    assert build.object_name == result.filename and build.delivered_at is not None
    assert build.entry_count == 2
    accounts = vault.Account.objects.filter(resource__owner=owner)
    assert _pairs(build) == {(str(a.pk), version_of(a.password_changed_at)) for a in accounts}
    assert all(v > 0 for _, v in _pairs(build))
    event = AuditEvent.objects.get(action="export.html")
    assert event.details["build_id"] == str(build.pk)
    dump = _register_dump()
    for secret in (*CANARIES, "mail-canary-01", "db-canary-02", "postmaster", "dba-login"):
        assert secret not in dump


def test_a_kdbx_download_is_recorded_as_kdbx(owner):
    download(owner, fmt="kdbx")
    assert OfflineBuild.objects.get().format == "kdbx"


def test_a_rebuild_with_the_same_passwords_reuses_the_set(owner):
    download(owner)
    download(owner)
    assert OfflineBuild.objects.count() == 2
    assert ExposureSet.objects.count() == 1
    assert ExposureSetEntry.objects.count() == 2
    account = vault.Account.objects.filter(resource__owner=owner).first()
    vault.account_update(actor=owner, account_id=account.pk, username="renamed")
    download(owner)  # a rename changes no password: same set
    assert ExposureSet.objects.count() == 1
    vault.account_update(actor=owner, account_id=account.pk, password="Another-pw-1")
    download(owner)
    assert ExposureSet.objects.count() == 2
    assert ExposureSetEntry.objects.count() == 4


def test_a_download_that_is_not_handed_out_is_recorded_as_built_not_delivered(owner, tmp_path):
    sink = exports.ExportFile(tmp_path / "no-such-directory" / "copy.html")
    with pytest.raises(exports.ExportWriteFailed):
        exports.export_offline(actor=owner, passphrase=PASSPHRASE, sink=sink)
    build = OfflineBuild.objects.get()
    assert build.state == BuildState.NOT_DELIVERED
    assert build.problem == "export_write_failed"


def test_rotate_flips_to_rotated_when_the_password_changes(owner, clock):
    admin = user_make("admin")
    day = clock.now.date()
    download(owner)
    clock.advance(60)
    incident = report(admin, owner, day.isoformat())
    status = selectors.incident_status(actor=owner, incident_id=incident.pk)
    assert (status.counts["rotate"], status.counts["rotated"]) == (2, 0)
    assert {a.status for a in status.accounts} == {"rotate"}
    assert not status.done
    first, second = status.accounts
    # Changing anything but the password does not count.
    clock.advance(60)
    vault.account_update(actor=owner, account_id=first.account_id, username="still-the-same-pw")
    vault.account_update(actor=owner, account_id=first.account_id, notes="a note")
    status = selectors.incident_status(actor=owner, incident_id=incident.pk)
    assert status.counts["rotate"] == 2
    clock.advance(60)
    vault.account_update(actor=owner, account_id=first.account_id, password="New-pw-after-loss")
    status = selectors.incident_status(actor=owner, incident_id=incident.pk)
    by_id = {a.account_id: a.status for a in status.accounts}
    assert by_id == {first.account_id: "rotated", second.account_id: "rotate"}
    assert (status.counts["rotate"], status.counts["rotated"]) == (1, 1)
    # A copy made after the report holds the new password; it is not counted.
    clock.advance(60)
    download(owner)
    status = selectors.incident_status(actor=owner, incident_id=incident.pk)
    assert status.copies_after_report == 1 and len(status.copies) == 1
    assert status.counts["rotated"] == 1
    clock.advance(60)
    vault.account_update(actor=owner, account_id=second.account_id, password="Also-new-pw")
    status = selectors.incident_status(actor=owner, incident_id=incident.pk)
    assert status.done and status.counts["rotated"] == 2


def test_a_password_changed_between_the_copy_and_the_report_is_already_rotated(owner, clock):
    day = clock.now.date()
    download(owner)
    account = vault.Account.objects.filter(resource__owner=owner).first()
    clock.advance(60)
    vault.account_update(actor=owner, account_id=account.pk, password="Changed-before-report")
    clock.advance(60)
    incident = report(owner, owner, day)
    status = selectors.incident_status(actor=owner, incident_id=incident.pk)
    assert {a.account_id: a.status for a in status.accounts}[account.pk] == "rotated"


def test_copies_before_since_do_not_count_and_deleted_accounts_are_flagged(owner, clock):
    download(owner)
    clock.advance(3 * 86400)
    since = clock.now.date()
    assert (
        selectors.incident_status(actor=owner, incident_id=report(owner, owner, since).pk).total
        == 0
    )
    download(owner)
    account = vault.Account.objects.filter(resource__owner=owner).first()
    vault.account_delete(actor=owner, account_id=account.pk)
    clock.advance(60)
    status = selectors.incident_status(actor=owner, incident_id=report(owner, owner, since).pk)
    assert (status.counts["deleted"], status.counts["rotate"]) == (1, 1)
    assert [a.status for a in status.accounts] == ["rotate"]  # the deleted one has no name
    assert status.hidden["deleted"] == 1


def test_reporting_is_audited_and_bad_input_changes_nothing(owner, clock):
    admin = user_make("admin")
    other = user_make("password_user")
    download(owner)
    now = clock.now
    bad = [
        ({"since": "=cmd|' /C calc'!A0"}, ValidationFailed),
        ({"since": "2026-13-45"}, ValidationFailed),
        ({"since": (now + timedelta(days=2)).date().isoformat()}, ValidationFailed),
        ({"since": "2026-01-01\x00"}, ValidationFailed),
        ({"since": None}, ValidationFailed),
        ({"note": "x" * 1001}, ValidationFailed),
        ({"note": "bad\x00note"}, ValidationFailed),
        ({"user_id": "not-a-uuid"}, ValidationFailed),
        ({"user_id": "00000000-0000-0000-0000-000000000000"}, NotFound),
    ]
    for change, error in bad:
        args = {"user_id": owner.pk, "since": now.date().isoformat(), "note": "", **change}
        with pytest.raises(error):
            from strongroom.exposure.services import incident_report

            incident_report(actor=admin, **args)
    # Only administrators report for someone else.
    with pytest.raises(PermissionDenied):
        report(other, owner, now.date())
    assert ExposureIncident.objects.count() == 0
    assert not AuditEvent.objects.filter(action="exposure.incident_report").exists()
    hostile = '<img src=x onerror=alert(1)> =HYPERLINK("x") ünïcødé 🔑'
    from strongroom.exposure.services import incident_report

    incident = incident_report(actor=admin, user_id=owner.pk, since=now.date(), note=hostile)
    assert incident.note == hostile
    event = AuditEvent.objects.get(action="exposure.incident_report")
    assert event.object_id == str(incident.pk) and event.details["copies"] == 1
    assert event.details["user_id"] == str(owner.pk)


def test_an_unconfirmed_build_counts_and_a_not_delivered_one_does_not(owner, clock):
    """A build never marked either way (a worker killed mid-upload) may have landed: it
    counts. One whose delivery failed never left the server: it does not."""
    from strongroom.exposure.services import BuildDestination, build_not_delivered, build_record

    day = clock.now.date()
    accounts = list(vault.Account.objects.filter(resource__owner=owner))
    versions = [(str(a.pk), version_of(a.password_changed_at)) for a in accounts]
    upload = BuildDestination(kind="storage", provider="s3", object_name="copy.html")
    build_record(user=owner, fmt="html", built_at=clock.now, destination=upload, versions=versions)
    failed = build_record(
        user=owner, fmt="html", built_at=clock.now, destination=upload, versions=versions[:1]
    )
    build_not_delivered(build_id=failed.pk, problem="storage_transient")
    clock.advance(60)
    status = selectors.incident_status(actor=owner, incident_id=report(owner, owner, day).pk)
    assert [b.state for b in status.copies] == ["built"]
    assert status.total == 2 and status.not_delivered == 1
