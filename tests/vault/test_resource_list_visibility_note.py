"""The resource list says why it shows what it shows (issue 17, point 9): the demo
administrator saw "5 resources you can see" of ~30 with nothing explaining it. Other
people's resources are listed only when shared, for administrators too (as in Passbolt)."""

from __future__ import annotations

import re

import pytest

from factories import resource_make, user_make
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]  # the access-gate selectors


def _note(client, user) -> tuple[str, str]:
    client.force_login(user)
    page = client.get("/resources/")
    assert page.status_code == 200
    html = page.content.decode()
    count = re.search(r"(\d+) resources? you can see", html)
    note = re.search(r"<p [^>]*data-visibility-note>(.*?)</p>", html, re.S)
    assert count is not None and note is not None
    return count.group(1), " ".join(note.group(1).split())


def test_admin_is_told_others_resources_are_private_until_shared(admin, client) -> None:
    owner = user_make("password_admin")
    shared = resource_make(owner, name="Shared router")
    resource_make(owner, name="Private payroll")
    resource_make(admin, name="Admin's own")
    vault.share_grant(actor=owner, resource_id=shared.pk, user_id=admin.pk, level=AccessLevel.VIEW)
    count, note = _note(client, admin)
    assert count == "2"  # own + shared, not the private one
    assert "what you own and what is shared with you" in note
    assert "Other people's resources stay private until they share them" in note
    assert "even from administrators (as in Passbolt)" in note


def test_other_roles_get_the_note_without_the_admin_clause(client) -> None:
    user = user_make("password_user")
    count, note = _note(client, user)
    assert count == "0"
    assert "Other people's resources stay private until they share them." in note
    assert "administrators" not in note
