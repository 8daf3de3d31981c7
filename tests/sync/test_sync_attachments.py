"""Attachments and kept copies: attaching or deleting a file is a change of the scope of
everyone who can see the account (their kept copies are marked for a rebuild, a
bystander's are not)."""

from __future__ import annotations

import pytest

from strongroom.sync.models import SyncCopy
from strongroom.vault import attachments
from strongroom.vault import services as vault

from .helpers import account_make, kept_copy, local_connect, resource_make, user_make

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
