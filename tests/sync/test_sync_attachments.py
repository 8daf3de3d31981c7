"""Attachments and kept copies: attaching or deleting a file is a change of the scope of
everyone who can see the account (their kept copies are marked for a rebuild, a
bystander's are not)."""

from __future__ import annotations

import pytest

from strongroom.audit.models import AuditEvent
from strongroom.exports import offline_file
from strongroom.sync.models import JobState, SyncCopy
from strongroom.vault import attachments
from strongroom.vault import services as vault

from .helpers import (
    PASSPHRASE,
    account_make,
    kept_copy,
    local_connect,
    local_folder,
    policy_set,
    resource_make,
    sync_start,
    user_make,
)

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def test_attach_and_delete_mark_exactly_the_copies_of_users_who_see_the_account(
    sync_dir, cheap_policy, run
):
    owner = user_make("password_admin")
    viewer = user_make("password_user")
    bystander = user_make("password_user")
    resource = resource_make(owner, name="r1")
    account = account_make(owner, resource, username="u", password="p")
    run(vault.share_grant, actor=owner, resource_id=resource.pk, user_id=viewer.pk, level=1)
    kept = {u.pk: kept_copy(u, local_connect(u), run) for u in (owner, viewer, bystander)}

    def marked(action) -> set:
        before = {pk: SyncCopy.objects.get(pk=c.pk).change_seq for pk, c in kept.items()}
        result = run(action)
        after = {pk: SyncCopy.objects.get(pk=c.pk).change_seq for pk, c in kept.items()}
        marked.result = result
        return {pk for pk in after if after[pk] != before[pk]}

    assert marked(
        lambda: attachments.attachment_upload(
            actor=owner, account_id=account.pk, name="ca.pem", data=b"CA"
        )
    ) == {owner.pk, viewer.pk}
    attachment = marked.result
    assert marked(
        lambda: attachments.attachment_delete(
            actor=owner, account_id=account.pk, attachment_id=attachment.pk
        )
    ) == {owner.pk, viewer.pk}


def test_a_synced_html_copy_carries_the_attachments_and_its_audit_record_counts_them(
    sync_dir, cheap_policy, run
):
    """Format 4 on the sync path: the uploaded web page holds the account's files within
    the policy's caps (the rest listed), and the sync.upload record counts both."""
    policy_set(html_attachment_max_bytes=10)
    owner = user_make("password_admin")
    resource = resource_make(owner, name="r1")
    account = account_make(owner, resource, username="u", password="p")
    attachments.attachment_upload(actor=owner, account_id=account.pk, name="ca.pem", data=b"CA")
    attachments.attachment_upload(
        actor=owner, account_id=account.pk, name="big.bin", data=b"B" * 11
    )
    conn = local_connect(owner)
    job = run(sync_start, owner, conn)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.last_error
    [path] = local_folder(sync_dir, conn).glob("*.html")
    payload = offline_file.offline_file_open(html=path.read_bytes(), passphrase=PASSPHRASE)
    assert payload.version == 4
    [entry] = payload.entries
    assert [(a.name, a.size, a.data) for a in entry.attachments] == [
        ("big.bin", 11, None),
        ("ca.pem", 2, b"CA"),
    ]
    event = AuditEvent.objects.get(action="sync.upload", actor=owner)
    assert event.details["attachment_count"] == 1
    assert event.details["attachments_listed_only"] == 1
