"""The favourites, recently used and bulk-action pages through Django's test client, as plain
form posts (what a browser sends before or without the page script): the star, the action
bar, the confirmation step, the export of a selection, hostile ``next`` targets and IDs; and
the ``strongroom favourite`` command in-process.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from factories import (
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.audit.models import AuditEvent
from strongroom.exports.offline_file import offline_file_open
from strongroom.vault import favourites, services
from strongroom.vault.models import Favourite, Resource

pytestmark = pytest.mark.django_db

HOSTILE = "<img src=x onerror=alert(1)>"


def web(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def owner():
    user = user_make("password_admin")
    for name in ("alpha", HOSTILE, "gamma"):
        account_make(user, resource_make(user, name), "root", f"pw-{name}")
    return user


def _ids(user: Any) -> dict[str, str]:
    return {r.name: str(r.pk) for r in Resource.objects.filter(owner=user)}


def test_the_list_has_a_checkbox_and_a_star_per_row_and_the_action_bar(owner):
    page = web(owner).get(reverse("vault:resource_list")).content.decode()
    assert page.count('type="checkbox" name="resource"') == 3
    assert page.count('name="favourite" value="add"') == 3
    for action in ("share", "add_to_group", "move", "delete"):
        assert f'name="action" value="{action}"' in page
    assert 'formaction="/export/selection/"' in page
    assert HOSTILE not in page and "&lt;img src=x" in page


def test_star_and_unstar_by_plain_post_and_come_back(owner):
    client = web(owner)
    alpha = _ids(owner)["alpha"]
    url = reverse("vault:favourite_toggle", args=[alpha])
    back = "/resources/?q=alp"
    response = client.post(url, {"favourite": "add", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert [r.name for r in favourites.favourites_list(user=owner)] == ["alpha"]
    page = client.get(reverse("vault:favourite_list")).content.decode()
    assert "alpha" in page and 'value="remove"' in page
    listing = client.get(reverse("vault:resource_list")).content.decode()
    assert listing.count('value="remove"') == 1
    # Another site is never a target: back to the list.
    for hostile in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        response = client.post(url, {"favourite": "remove", "next": hostile})
        assert response["Location"] == "/resources/"
    assert not Favourite.objects.filter(user=owner).exists()


def test_someone_elses_resource_cannot_be_starred_from_the_page(owner):
    stranger = user_make("password_user")
    response = web(stranger).post(
        reverse("vault:favourite_toggle", args=[_ids(owner)["alpha"]]), {"favourite": "add"}
    )
    assert response.status_code == 404
    assert not Favourite.objects.filter(user=stranger).exists()


def test_recent_page_lists_own_retrievals(owner):
    client = web(owner)
    assert "Nothing used yet" in client.get(reverse("vault:recent_list")).content.decode()
    account = Resource.objects.get(name="gamma").accounts.get()
    services.password_retrieve(actor=owner, account_id=account.pk, reason="x")
    page = client.get(reverse("vault:recent_list")).content.decode()
    assert "gamma" in page and "pw-gamma" not in page
    assert client.get(reverse("vault:recent_list"))["Cache-Control"] == "no-store"


def test_bulk_delete_asks_then_deletes_with_one_record_each(owner):
    client = web(owner, csrf=False)
    ids = _ids(owner)
    chosen = [ids["alpha"], ids[HOSTILE]]
    url = reverse("vault:bulk_action")
    confirm = client.post(url, {"action": "delete", "resource": chosen, "next": "/resources/"})
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Delete 2 resources" in page and "&lt;img src=x" in page and HOSTILE not in page
    assert Resource.objects.filter(owner=owner).count() == 3  # nothing yet
    done = client.post(
        url, {"action": "delete", "resource": chosen, "confirm": "1", "next": "/resources/"}
    )
    assert done.status_code == 302
    assert set(Resource.objects.filter(owner=owner).values_list("name", flat=True)) == {"gamma"}
    assert AuditEvent.objects.filter(action="resource.delete", object_id__in=chosen).count() == 2
    listing = client.get(done["Location"]).content.decode()
    assert "Deleted 2 resources." in listing


def test_bulk_needs_csrf(owner):
    client = web(owner, csrf=True)
    response = client.post(
        reverse("vault:bulk_action"),
        {"action": "delete", "resource": list(_ids(owner).values()), "confirm": "1"},
    )
    assert response.status_code == 403
    assert Resource.objects.filter(owner=owner).count() == 3


def test_a_mixed_selection_shows_what_is_refused_and_changes_nothing(owner):
    stranger = user_make("password_admin")
    hidden = resource_make(stranger, "stranger-secret-name")
    client = web(owner)
    before = AuditEvent.objects.count()
    response = client.post(
        reverse("vault:bulk_action"),
        {"action": "delete", "resource": [_ids(owner)["alpha"], str(hidden.pk)], "confirm": "1"},
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert str(hidden.pk) in page and "stranger-secret-name" not in page
    assert "nothing was changed" in page.lower()
    assert Resource.objects.filter(owner=owner).count() == 3
    assert AuditEvent.objects.count() == before


def test_bulk_move_and_share_through_the_pages(owner):
    client = web(owner)
    ids = _ids(owner)
    old, new = rgroup_make(owner, name="Old"), rgroup_make(owner, name="New")
    services.resource_group_add_resource(
        actor=owner, resource_group_id=old.pk, resource_id=ids["alpha"]
    )
    url = reverse("vault:bulk_action")
    page = client.post(url, {"action": "move", "resource": [ids["alpha"]]}).content.decode()
    assert f'<option value="{new.pk}">New</option>' in page
    missing = client.post(url, {"action": "move", "resource": [ids["alpha"]], "confirm": "1"})
    assert (
        missing.status_code == 400 and "choose a resource group" in missing.content.decode().lower()
    )
    done = client.post(
        url,
        {
            "action": "move",
            "resource": [ids["alpha"]],
            "confirm": "1",
            "resource_group": str(new.pk),
        },
    )
    assert done.status_code == 302
    assert list(new.resources.values_list("name", flat=True)) == ["alpha"]
    assert not old.resources.exists()

    bob = user_make("password_user")
    page = client.post(url, {"action": "share", "resource": [ids["gamma"]]}).content.decode()
    assert f"user:{bob.pk}" in page
    assert "errorlist" not in page  # the first step asks; it does not complain
    no_grantee = client.post(url, {"action": "share", "resource": [ids["gamma"]], "confirm": "1"})
    assert no_grantee.status_code == 400 and "errorlist" in no_grantee.content.decode()
    done = client.post(
        url,
        {
            "action": "share",
            "resource": [ids["gamma"], ids["alpha"]],
            "confirm": "1",
            "grantee": f"user:{bob.pk}",
            "level": "1",
        },
    )
    assert done.status_code == 302
    assert (
        AuditEvent.objects.filter(action="share.grant", details__username=bob.username).count() == 2
    )
    unknown = client.post(url, {"action": "explode", "resource": [ids["gamma"]]})
    assert unknown.status_code == 400
    huge = client.post(url, {"action": "delete", "resource": [str(uuid.uuid4())] * 501})
    assert huge.status_code == 400 and "at most 500 resources" in huge.content.decode()
    assert Resource.objects.filter(owner=owner).count() == 3


def test_export_a_selection_from_the_list(owner, settings):
    from exports.helpers import policy_set

    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS
    policy_set(kdf_iterations=TEST_ITERATIONS)
    client = web(owner)
    ids = _ids(owner)
    url = reverse("exports:selection")
    page = client.post(url, {"resource": [ids["alpha"], ids["gamma"]]}).content.decode()
    assert "2 resources, 2 entries" in page
    response = client.post(
        url,
        {
            "kind": "html",
            "scope": "all",
            "resource": [ids["alpha"], ids["gamma"]],
            "passphrase": PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
            "format": "html",
        },
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    opened = offline_file_open(html=response.content, passphrase=PASSPHRASE)
    assert sorted(e.name for e in opened.entries) == ["alpha", "gamma"]
    assert AuditEvent.objects.filter(action="resource.export").count() == 2
    # Nothing ticked: refused, never the whole vault.
    empty = client.post(url, {"kind": "sheet", "scope": "all", "format": "csv"})
    assert empty.status_code == 400
    assert "select at least one resource" in empty.content.decode().lower()
    assert not empty.has_header("Content-Disposition")
    # Somebody else's resource in the selection: the page names it by ID, exports nothing.
    hidden = resource_make(user_make("password_admin"), "not-yours")
    refused = client.post(url, {"resource": [ids["alpha"], str(hidden.pk)]})
    assert refused.status_code == 403 and "not-yours" not in refused.content.decode()
    assert str(hidden.pk) in refused.content.decode()


def test_cli_favourite_add_list_remove(owner, capsys):
    from strongroom.cli.main import main

    name = owner.username
    assert main(["favourite", "add", "alpha", "--user", name]) == 0
    assert main(["favourite", "add", _ids(owner)["gamma"], "--user", name]) == 0
    capsys.readouterr()
    assert main(["favourite", "list", "--user", name]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("  ", 1)[1] for line in listed] == ["alpha", "gamma"]
    assert main(["favourite", "remove", "alpha", "--user", name]) == 0
    hidden = resource_make(user_make("password_admin"), "theirs")
    assert main(["favourite", "add", str(hidden.pk), "--user", name]) == 1
    assert "resource not found" in capsys.readouterr().err
    assert main(["favourite", "add", "theirs", "--user", name]) == 1
    assert "cannot see a resource named 'theirs'" in capsys.readouterr().err
    assert main(["favourite", "add", "--user", name]) == 2
    assert [r.name for r in favourites.favourites_list(user=owner)] == ["gamma"]
    assert main(["favourite", "add", str(uuid.uuid4()), "--user", "ghost"]) == 1


def test_cli_export_of_named_resources(owner, capsys, tmp_path):
    from exports.helpers import csv_rows
    from strongroom.cli.main import main

    out = tmp_path / "two.csv"
    args = ["export", "--user", owner.username, "--format", "csv", "--out", str(out)]
    assert main([*args, "--resource", "alpha", "--resource", _ids(owner)["gamma"]]) == 0
    assert sorted(row["Resource"] for row in csv_rows(out.read_bytes())) == ["alpha", "gamma"]
    assert AuditEvent.objects.filter(action="resource.export").count() == 2
    capsys.readouterr()
    hidden = resource_make(user_make("password_admin"), "not-theirs")
    assert main([*args, "--resource", str(hidden.pk)]) == 1
    assert "resource not found" in capsys.readouterr().err
    assert main([*args, "--resource", "alpha", "--group", "x"]) == 2
