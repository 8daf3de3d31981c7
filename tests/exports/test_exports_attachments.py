"""Attachments in offline copies of a user's scope: the KeePass copy carries exactly the
attachments of the accounts the user may see (read back by keepassxc-cli and pykeepass);
the HTML copy (format version 4) carries them within the export policy's caps and lists
the others."""

from __future__ import annotations

import pytest
from pykeepass import PyKeePass

from factories import (
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    api_for,
    resource_make,
    user_make,
)
from kdbx.test_attachments import keepassxc_attachment
from strongroom.audit.models import AuditEvent
from strongroom.exports import offline_file
from strongroom.vault import attachments, services

from .helpers import admin, policy_set


@pytest.mark.django_db
def test_a_users_kdbx_export_carries_the_attachments_they_may_download(tmp_path):
    policy_set(
        kdf_iterations=TEST_ITERATIONS, kdbx_memory_mib=8, kdbx_iterations=1, kdbx_parallelism=1
    )
    owner = user_make("password_admin")
    reader = user_make("password_user")
    shared = resource_make(owner, "shared-srv")
    private = resource_make(owner, "private-srv")
    shared_account = account_make(owner, shared, "svc")
    private_account = account_make(owner, private, "root")
    services.share_grant(actor=owner, resource_id=shared.pk, user_id=reader.pk, level="view")
    attachments.attachment_upload(
        actor=owner, account_id=shared_account.pk, name="ca.pem", data=b"SHARED-CA"
    )
    attachments.attachment_upload(
        actor=owner, account_id=private_account.pk, name="secret.key", data=b"PRIVATE-KEY"
    )

    response = api_for(reader).post(
        "/exports/offline", {"format": "kdbx", "passphrase": PASSPHRASE}
    )
    assert response.status_code == 200, response.content
    path = tmp_path / "reader.kdbx"
    path.write_bytes(response.content)
    db = PyKeePass(str(path), password=PASSPHRASE)
    found = {(e.title, a.filename, a.data) for e in db.entries for a in e.attachments}
    assert found == {("shared-srv", "ca.pem", b"SHARED-CA")}
    assert keepassxc_attachment(path, "shared-srv", "ca.pem") == b"SHARED-CA"
    event = AuditEvent.objects.get(action="export.kdbx", actor=reader)
    assert event.details["attachment_count"] == 1 and event.details["entry_count"] == 1

    # The owner's copy has both; the HTML copy builds too (encrypted: no plain bytes in it).
    owner_api = api_for(owner)
    mine = owner_api.post("/exports/offline", {"format": "kdbx", "passphrase": PASSPHRASE})
    (tmp_path / "owner.kdbx").write_bytes(mine.content)
    db = PyKeePass(str(tmp_path / "owner.kdbx"), password=PASSPHRASE)
    assert {a.filename for e in db.entries for a in e.attachments} == {"ca.pem", "secret.key"}
    html = owner_api.post("/exports/offline", {"passphrase": PASSPHRASE})
    assert html.status_code == 200
    assert b"PRIVATE-KEY" not in html.content


@pytest.mark.django_db
def test_a_users_html_copy_carries_their_scopes_attachments_within_the_policys_caps():
    """Format 4: the encrypted HTML copy holds the attachments of exactly the accounts the
    user may see; files over the per-file cap, or past the total cap in list order, are
    listed by name and size but not carried; the audit record counts both."""
    policy_set(
        kdf_iterations=TEST_ITERATIONS,
        html_attachment_max_bytes=100,
        html_attachments_total_bytes=12,
    )
    owner = user_make("password_admin")
    reader = user_make("password_user")
    shared = resource_make(owner, "shared-srv")
    private = resource_make(owner, "private-srv")
    shared_account = account_make(owner, shared, "svc")
    private_account = account_make(owner, private, "root")
    services.share_grant(actor=owner, resource_id=shared.pk, user_id=reader.pk, level="view")
    for name, data in (
        ("a-ca.pem", b"SHARED-CA"),
        ("b-note.txt", b"NOTE!"),
        ("big.bin", b"B" * 200),
    ):
        attachments.attachment_upload(
            actor=owner, account_id=shared_account.pk, name=name, data=data
        )
    attachments.attachment_upload(
        actor=owner, account_id=private_account.pk, name="secret.key", data=b"PRIVATE-KEY"
    )

    response = api_for(reader).post("/exports/offline", {"passphrase": PASSPHRASE})
    assert response.status_code == 200, response.content
    opened = offline_file.offline_file_open(html=response.content, passphrase=PASSPHRASE)
    assert opened.version == 4
    found = {
        (entry.name, item.name): (item.size, item.data)
        for entry in opened.entries
        for item in entry.attachments
    }
    assert found == {
        ("shared-srv", "a-ca.pem"): (9, b"SHARED-CA"),  # carried: 9 of the 12 total
        ("shared-srv", "b-note.txt"): (5, None),  # within 100 but past the total: listed
        ("shared-srv", "big.bin"): (200, None),  # over the per-file cap: listed
    }
    event = AuditEvent.objects.get(action="export.html", actor=reader)
    assert event.details["attachment_count"] == 1
    assert event.details["attachments_listed_only"] == 2

    # The owner's copy holds both accounts' files (secret.key only there); a cap of 0
    # carries none and lists all.
    policy_set(html_attachment_max_bytes=0)
    mine = api_for(owner).post("/exports/offline", {"passphrase": PASSPHRASE})
    opened = offline_file.offline_file_open(html=mine.content, passphrase=PASSPHRASE)
    listed = {(e.name, a.name, a.included) for e in opened.entries for a in e.attachments}
    assert ("private-srv", "secret.key", False) in listed and len(listed) == 4
    assert not any(included for _, _, included in listed)


@pytest.mark.django_db
def test_the_html_attachment_caps_are_set_through_the_api_with_clear_errors():
    api = api_for(admin())
    got = api.get("/export-policy").json()
    assert (got["html_attachment_max_bytes"], got["html_attachments_total_bytes"]) == (
        1_048_576,
        16_777_216,
    )
    put = api.put(
        "/export-policy",
        {"html_attachment_max_bytes": 2_000_000, "html_attachments_total_bytes": 50_000_000},
    )
    assert put.status_code == 200, put.content
    assert put.json()["html_attachment_max_bytes"] == 2_000_000
    for field, value in (
        ("html_attachment_max_bytes", 26_214_401),
        ("html_attachments_total_bytes", -1),
        ("html_attachments_total_bytes", "16MiB"),
    ):
        bad = api.put("/export-policy", {field: value})
        assert bad.status_code == 400
        assert bad.json()["error"]["details"]["fields"][0]["field"] == field
    # Nothing changed by the refused requests; the change was audited with old and new.
    current = api.get("/export-policy").json()
    assert (current["html_attachment_max_bytes"], current["html_attachments_total_bytes"]) == (
        2_000_000,
        50_000_000,
    )
    event = AuditEvent.objects.filter(action="export_policy.update").latest("at")
    assert "html_attachment_max_bytes" in str(event.details)
