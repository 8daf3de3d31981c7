"""Attachments in offline copies of a user's scope: the KeePass copy carries exactly the
attachments of the accounts the user may see (read back by keepassxc-cli and pykeepass);
the HTML copy (format version 3) carries none."""

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
from strongroom.vault import attachments, services

from .helpers import policy_set


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

    # The owner's copy has both; the HTML copy still builds (it carries no attachments).
    owner_api = api_for(owner)
    mine = owner_api.post("/exports/offline", {"format": "kdbx", "passphrase": PASSPHRASE})
    (tmp_path / "owner.kdbx").write_bytes(mine.content)
    db = PyKeePass(str(tmp_path / "owner.kdbx"), password=PASSPHRASE)
    assert {a.filename for e in db.entries for a in e.attachments} == {"ca.pem", "secret.key"}
    html = owner_api.post("/exports/offline", {"passphrase": PASSPHRASE})
    assert html.status_code == 200
    assert b"PRIVATE-KEY" not in html.content
