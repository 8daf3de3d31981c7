"""Favourites, the recently used list and bulk actions (share, add to group, move, delete,
export of a selection), built and checked through the real services and the REST API.

What is pinned: per role, none of them shows or acts on a resource the user cannot reach
(not even an administrator's); losing access hides favourites and recent entries; every
bulk action writes one audit record per resource it changes and is all or nothing on a
mixed selection (the error names each refused resource, by ID only when the actor cannot
see it); hostile input (other people's IDs, malformed IDs, a selection over the limit).
"""

from __future__ import annotations

import uuid

import pytest

from factories import (
    ROLES,
    account_make,
    api_for,
    error,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.accounts.models import Scope
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.exports import services as exports
from strongroom.vault import bulk, favourites, services
from strongroom.vault.bulk import MAX_SELECTION, BulkRefused
from strongroom.vault.models import Favourite, Resource, ResourceGroup, Share

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

SECRET_NAME = "payroll-db-do-not-reveal"


def _records(action: str, since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, seq__gt=since).order_by("seq"))


def _head() -> int:
    last = AuditEvent.objects.order_by("-seq").first()
    return last.seq if last else 0


@pytest.fixture
def world():
    """An owner with three resources, a stranger with a hidden one, and a user to share with."""
    owner = user_make("password_admin")
    mine = [resource_make(owner, f"srv-{i}") for i in range(3)]
    for r in mine:
        account_make(owner, r, "root", f"pw-{r.name}")
    stranger = user_make("password_admin")
    hidden = resource_make(stranger, SECRET_NAME)
    account_make(stranger, hidden, "sa", "hidden-pw")
    return {"owner": owner, "mine": mine, "stranger": stranger, "hidden": hidden}


# --------------------------------------------------------------------------- favourites


@pytest.mark.parametrize("role", ROLES)
def test_no_role_can_favourite_a_resource_it_cannot_see(world, role):
    user = user_make(role)
    with pytest.raises(NotFound) as caught:
        favourites.favourite_add(actor=user, resource_id=world["hidden"].pk)
    assert caught.value.message == "resource not found"
    assert not Favourite.objects.filter(user=user).exists()
    api = api_for(user)
    refused = api.put(f"/favourites/{world['hidden'].pk}")
    missing = api.put(f"/favourites/{uuid.uuid4()}")
    # The same answer as for a resource that does not exist: nothing to probe.
    assert refused.status_code == missing.status_code == 404
    assert error(refused)["message"] == error(missing)["message"]
    assert api.get("/favourites").json() == []


def test_losing_access_hides_a_favourite_and_regaining_it_shows_it_again(world):
    owner, user = world["owner"], user_make("password_user")
    target = world["mine"][0]
    share = services.share_grant(actor=owner, resource_id=target.pk, user_id=user.pk, level=1)
    api = api_for(user)
    assert api.put(f"/favourites/{target.pk}").status_code == 204
    assert api.put(f"/favourites/{target.pk}").status_code == 204  # again: no change
    assert [r["name"] for r in api.get("/favourites").json()] == [target.name]

    services.share_revoke(actor=owner, share_id=share.pk)
    assert api.get("/favourites").json() == []
    assert list(favourites.favourites_list(user=user)) == []

    services.share_grant(actor=owner, resource_id=target.pk, user_id=user.pk, level=1)
    assert [r["name"] for r in api.get("/favourites").json()] == [target.name]

    # Removing needs no access and tells nothing: the same 204 for any ID.
    assert api.delete(f"/favourites/{target.pk}").status_code == 204
    assert api.delete(f"/favourites/{world['hidden'].pk}").status_code == 204
    assert api.get("/favourites").json() == []
    favourites.favourite_remove(actor=user, resource_id="<script>")  # malformed: nothing


def test_favourites_are_per_user_and_limited(world, monkeypatch):
    owner, other = world["owner"], user_make("password_admin")
    for r in world["mine"]:
        services.share_grant(actor=owner, resource_id=r.pk, user_id=other.pk, level=1)
    favourites.favourite_add(actor=owner, resource_id=world["mine"][0].pk)
    assert list(favourites.favourites_list(user=other)) == []
    monkeypatch.setattr(favourites, "MAX_FAVOURITES", 2)
    favourites.favourite_add(actor=owner, resource_id=world["mine"][1].pk)
    with pytest.raises(ValidationFailed, match="at most 2 favourites"):
        favourites.favourite_add(actor=owner, resource_id=world["mine"][2].pk)
    assert Favourite.objects.filter(user=owner).count() == 2


def test_an_inactive_user_has_no_favourites_or_recent(world):
    from factories import deactivate

    owner = world["owner"]
    account = world["mine"][0].accounts.get()
    services.password_retrieve(actor=owner, account_id=account.pk, reason="x")
    favourites.favourite_add(actor=owner, resource_id=world["mine"][0].pk)
    deactivate(owner)
    owner.refresh_from_db()
    assert favourites.recent_list(user=owner) == []
    assert list(favourites.favourites_list(user=owner)) == []


def test_favourites_write_no_audit_record(world):
    before = _head()
    favourites.favourite_add(actor=world["owner"], resource_id=world["mine"][0].pk)
    favourites.favourite_remove(actor=world["owner"], resource_id=world["mine"][0].pk)
    assert _head() == before


# --------------------------------------------------------------------------- recently used


def test_recent_lists_own_retrievals_newest_first_once_each(world):
    owner = world["owner"]
    a, b = (r.accounts.get() for r in world["mine"][:2])
    for account in (a, b, a):
        services.password_retrieve(actor=owner, account_id=account.pk, reason="check")
    uses = favourites.recent_list(user=owner)
    assert [u.account.pk for u in uses] == [a.pk, b.pk]
    body = api_for(owner).get("/recent").json()
    assert [(r["resource_name"], r["username"]) for r in body] == [
        ("srv-0", "root"),
        ("srv-1", "root"),
    ]
    assert "password" not in str(body).lower().replace("password.retrieve", "")
    # Somebody else's retrievals are not mine.
    assert favourites.recent_list(user=world["stranger"]) == []


@pytest.mark.parametrize("role", ROLES)
def test_recent_never_shows_what_the_user_can_no_longer_see(world, role):
    owner, user = world["owner"], user_make(role)
    target = world["mine"][0]
    account = target.accounts.get()
    team = group_make(user)
    share = services.share_grant(actor=owner, resource_id=target.pk, user_group_id=team.pk, level=1)
    services.password_retrieve(actor=user, account_id=account.pk, reason="x")
    favourites.favourite_add(actor=user, resource_id=target.pk)
    api = api_for(user)
    assert [u.account.pk for u in favourites.recent_list(user=user)] == [account.pk]
    assert [r["account_id"] for r in api.get("/recent").json()] == [str(account.pk)]
    services.share_revoke(actor=owner, share_id=share.pk)
    assert favourites.recent_list(user=user) == []
    assert api.get("/recent").json() == []
    assert api.get("/favourites").json() == []
    # A deleted account leaves the owner's list too.
    services.password_retrieve(actor=owner, account_id=account.pk, reason="x")
    services.account_delete(actor=owner, account_id=account.pk)
    assert favourites.recent_list(user=owner) == []


def test_recent_limit_is_capped(world):
    owner = world["owner"]
    for r in world["mine"]:
        services.password_retrieve(actor=owner, account_id=r.accounts.get().pk, reason="x")
    assert len(favourites.recent_list(user=owner, limit=2)) == 2
    assert len(api_for(owner).get("/recent", {"limit": 100000}).json()) == 3


# --------------------------------------------------------------------------- bulk: delete


@pytest.mark.parametrize("role", ROLES)
def test_no_role_can_bulk_act_on_a_resource_it_cannot_see(world, role):
    """Every action, every role (administrator included): a selection holding somebody
    else's hidden resource changes nothing and names it by its ID only."""
    actor = user_make(role)
    own = resource_make(actor, "own") if role in {"admin", "password_admin"} else None
    if own is None:  # roles that cannot create get a resource shared at manage level
        own = world["mine"][0]
        services.share_grant(actor=world["owner"], resource_id=own.pk, user_id=actor.pk, level=3)
    target_group = None
    if role in {"admin", "password_admin"}:
        target_group = rgroup_make(actor)
    selection = [str(own.pk), str(world["hidden"].pk)]
    before = _head()
    calls = [
        lambda: bulk.resources_bulk_delete(actor=actor, resource_ids=selection),
        lambda: bulk.resources_bulk_share(
            actor=actor, resource_ids=selection, user_id=world["owner"].pk, level="view"
        ),
    ]
    if target_group is not None:
        calls += [
            lambda: bulk.resources_bulk_group_add(
                actor=actor, resource_ids=selection, resource_group_id=target_group.pk
            ),
            lambda: bulk.resources_bulk_move(
                actor=actor, resource_ids=selection, resource_group_id=target_group.pk
            ),
        ]
    for call in calls:
        with pytest.raises(BulkRefused) as caught:
            call()
        assert caught.value.details["refused"] == [
            {"id": str(world["hidden"].pk), "name": "", "problem": "not found"}
        ]
        assert SECRET_NAME not in caught.value.message
    with pytest.raises(BulkRefused):
        exports.export_spreadsheet(actor=actor, fmt="csv", resource_ids=selection)
    assert Resource.objects.filter(pk__in=[own.pk, world["hidden"].pk]).count() == 2
    assert not Share.objects.filter(resource=world["hidden"]).exists()
    assert not ResourceGroup.resources.through.objects.filter(
        resource_id=world["hidden"].pk
    ).exists()
    # Only the refused export attempt is recorded (outcome failure); nothing else.
    recorded = list(AuditEvent.objects.filter(seq__gt=before))
    assert [(e.action, e.outcome) for e in recorded] == [("export.spreadsheet", "failure")]
    assert SECRET_NAME not in str(recorded[0].details)


def test_bulk_delete_writes_one_record_per_resource(world):
    owner, mine = world["owner"], world["mine"]
    api = api_for(owner)
    before = _head()
    response = api.post(
        "/resources/bulk", {"action": "delete", "resource_ids": [str(r.pk) for r in mine]}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["selected"] == 3 and sorted(body["changed"]) == sorted(str(r.pk) for r in mine)
    records = _records("resource.delete", before)
    assert sorted(e.object_id for e in records) == sorted(str(r.pk) for r in mine)
    assert all(e.details["bulk"] == 3 and e.actor_id == owner.pk for e in records)
    assert not Resource.objects.filter(pk__in=[r.pk for r in mine]).exists()


def test_mixed_selection_is_all_or_nothing_and_names_each_refused(world):
    owner, user = world["owner"], user_make("password_admin")
    own = resource_make(user, "users-own")
    view_only = world["mine"][0]
    services.share_grant(actor=owner, resource_id=view_only.pk, user_id=user.pk, level="view")
    api = api_for(user)
    before = _head()
    response = api.post(
        "/resources/bulk",
        {
            "action": "delete",
            "resource_ids": [str(own.pk), str(view_only.pk), str(world["hidden"].pk), "nope"],
        },
    )
    assert response.status_code == 403
    problem = error(response)
    assert problem["code"] == "bulk_refused"
    assert problem["details"]["refused"] == [
        {"id": "nope", "name": "", "problem": "not found"},
        {
            "id": str(view_only.pk),
            "name": "srv-0",
            "problem": "you have view access; this needs manage",
        },
        {"id": str(world["hidden"].pk), "name": "", "problem": "not found"},
    ]
    assert problem["message"].startswith("nothing was deleted: 3 of the 4 selected resources")
    assert SECRET_NAME not in response.content.decode()
    assert Resource.objects.filter(pk=own.pk).exists()
    assert _head() == before


def test_selection_limits_and_shapes(world):
    owner = world["owner"]
    too_many = [str(uuid.uuid4()) for _ in range(MAX_SELECTION + 1)]
    with pytest.raises(ValidationFailed, match=f"at most {MAX_SELECTION} resources"):
        bulk.resources_bulk_delete(actor=owner, resource_ids=too_many)
    with pytest.raises(ValidationFailed, match="at least one"):
        bulk.resources_bulk_delete(actor=owner, resource_ids=[])
    with pytest.raises(ValidationFailed, match="must be a list"):
        bulk.resources_bulk_delete(actor=owner, resource_ids=str(world["mine"][0].pk))
    api = api_for(owner)
    response = api.post("/resources/bulk", {"action": "delete", "resource_ids": too_many})
    assert response.status_code == 400 and error(response)["details"]["limit"] == MAX_SELECTION
    hostile = "=cmd|'/c calc'!A1<script>" + "x" * 5000
    response = api.post("/resources/bulk", {"action": "delete", "resource_ids": [hostile]})
    assert response.status_code == 403
    assert error(response)["details"]["refused"][0]["id"] == hostile[:64]
    response = api.post(
        "/resources/bulk", {"action": "explode", "resource_ids": [str(world["mine"][0].pk)]}
    )
    assert response.status_code == 400 and error(response)["details"]["field"] == "action"
    # Duplicates count once.
    done = bulk.resources_bulk_delete(
        actor=owner, resource_ids=[world["mine"][0].pk, str(world["mine"][0].pk)]
    )
    assert done.selected == 1 and done.changed == [world["mine"][0].pk]
    assert Resource.objects.count() == 3


def test_a_read_only_token_cannot_bulk_act(world):
    api = api_for(world["owner"], scopes=[Scope.READ])
    response = api.post(
        "/resources/bulk", {"action": "delete", "resource_ids": [str(world["mine"][0].pk)]}
    )
    assert response.status_code == 403 and error(response)["code"] == "insufficient_scope"
    assert Resource.objects.filter(pk=world["mine"][0].pk).exists()


# --------------------------------------------------------------------------- bulk: share


def test_bulk_share_grants_each_and_records_each(world):
    owner, mine = world["owner"], world["mine"]
    bob = user_make("password_user")
    team = group_make(bob)
    services.share_grant(actor=owner, resource_id=mine[0].pk, user_id=bob.pk, level="view")
    before = _head()
    result = bulk.resources_bulk_share(
        actor=owner, resource_ids=[r.pk for r in mine], user_id=str(bob.pk), level="view"
    )
    assert result.changed == [mine[1].pk, mine[2].pk]
    assert result.unchanged == [
        {"id": str(mine[0].pk), "name": "srv-0", "problem": "already shared at that level"}
    ]
    records = _records("share.grant", before)
    assert [e.object_id for e in records] == [str(mine[1].pk), str(mine[2].pk)]
    assert all(e.details["username"] == bob.username for e in records)
    assert bob.notifications.filter(title__contains="shared 2 resources").count() == 1

    api = api_for(owner)
    response = api.post(
        "/resources/bulk",
        {
            "action": "share",
            "resource_ids": [str(r.pk) for r in mine],
            "user_group_id": str(team.pk),
            "level": "modify",
        },
    )
    assert response.status_code == 200 and len(response.json()["changed"]) == 3
    assert Share.objects.filter(user_group=team, level=2).count() == 3
    # Sharing with the owner: unchanged, not an error.
    result = bulk.resources_bulk_share(
        actor=owner, resource_ids=[mine[0].pk], user_id=owner.pk, level="view"
    )
    assert result.changed == [] and result.unchanged[0]["problem"] == "owned by that user"
    for body, field in [
        ({"level": "view"}, "user_id"),
        ({"level": "god", "user_id": str(bob.pk)}, "level"),
        ({"level": "view", "user_id": str(uuid.uuid4())}, "user_id"),
    ]:
        response = api.post(
            "/resources/bulk", {"action": "share", "resource_ids": [str(mine[0].pk)], **body}
        )
        assert response.status_code in (400, 404), body
        assert error(response)["details"]["field"] == field


# --------------------------------------------------------------------------- bulk: groups


def test_bulk_add_to_group_and_move(world):
    owner, mine = world["owner"], world["mine"]
    first, second = rgroup_make(owner, mine[0], name="First"), rgroup_make(owner, name="Second")
    before = _head()
    added = bulk.resources_bulk_group_add(
        actor=owner, resource_ids=[r.pk for r in mine], resource_group_id=first.pk
    )
    assert added.changed == [mine[1].pk, mine[2].pk] and len(added.unchanged) == 1
    records = _records("resource_group.add_resource", before)
    assert [e.details["resource_id"] for e in records] == [str(mine[1].pk), str(mine[2].pk)]
    assert set(first.resources.all()) == set(mine)

    before = _head()
    response = api_for(owner).post(
        "/resources/bulk",
        {
            "action": "move",
            "resource_ids": [str(mine[0].pk), str(mine[1].pk)],
            "resource_group_id": str(second.pk),
        },
    )
    assert response.status_code == 200, response.json()
    assert set(first.resources.all()) == {mine[2]}
    assert set(second.resources.all()) == {mine[0], mine[1]}
    moves = _records("resource.move", before)
    assert [e.object_id for e in moves] == [str(mine[0].pk), str(mine[1].pk)]
    assert moves[0].details["from"] == [{"id": str(first.pk), "name": "First"}]
    assert moves[0].details["to"] == {"id": str(second.pk), "name": "Second"}
    # Moving again: unchanged, no record.
    again = bulk.resources_bulk_move(
        actor=owner, resource_ids=[mine[0].pk], resource_group_id=second.pk
    )
    assert again.changed == [] and _records("resource.move", moves[-1].seq) == []


def test_move_refuses_a_group_the_actor_cannot_manage_and_keeps_groups_it_cannot_see(world):
    owner, mine = world["owner"], world["mine"]
    mover = user_make("password_admin")
    for r in mine[:2]:
        services.share_grant(actor=owner, resource_id=r.pk, user_id=mover.pk, level="manage")
    seen = rgroup_make(owner, mine[0], name="Seen but view only")
    services.share_grant(actor=owner, resource_group_id=seen.pk, user_id=mover.pk, level="view")
    unseen = rgroup_make(owner, mine[1], name="Owner's private group")
    target = rgroup_make(mover, name="Mover's")
    before = _head()
    with pytest.raises(BulkRefused) as caught:
        bulk.resources_bulk_move(
            actor=mover, resource_ids=[mine[0].pk, mine[1].pk], resource_group_id=target.pk
        )
    assert "Seen but view only" in caught.value.message
    assert _head() == before and not target.resources.exists()

    done = bulk.resources_bulk_move(
        actor=mover, resource_ids=[mine[1].pk], resource_group_id=target.pk
    )
    assert done.changed == [mine[1].pk]
    assert set(unseen.resources.all()) == {mine[1]}  # a group the mover cannot see keeps it
    record = _records("resource.move", before)[0]
    assert record.details["from"] == [] and "Owner's private group" not in str(record.details)

    # A target group the actor cannot manage (or see) is refused before anything.
    with pytest.raises(PermissionDenied):
        bulk.resources_bulk_group_add(
            actor=mover, resource_ids=[mine[1].pk], resource_group_id=seen.pk
        )
    with pytest.raises(NotFound) as missing:
        bulk.resources_bulk_group_add(
            actor=mover, resource_ids=[mine[1].pk], resource_group_id=unseen.pk
        )
    assert missing.value.details["field"] == "resource_group_id"


# --------------------------------------------------------------------------- export a selection


def test_export_of_a_selection_holds_only_it_and_records_each(world):
    from exports.helpers import csv_rows

    owner, mine = world["owner"], world["mine"]
    before = _head()
    result = exports.export_spreadsheet(
        actor=owner,
        fmt="csv",
        with_passwords=False,
        resource_ids=[str(mine[2].pk), str(mine[0].pk)],
    )
    rows = csv_rows(result.content)
    assert result.entry_count == 2 and len(rows) == 2
    assert sorted(row["Resource"] for row in rows) == ["srv-0", "srv-2"]
    per_resource = _records("resource.export", before)
    assert sorted(e.object_id for e in per_resource) == sorted([str(mine[0].pk), str(mine[2].pk)])
    assert all(e.details["sha256"] == result.sha256 for e in per_resource)
    file_record = _records("export.spreadsheet", before)[0]
    assert file_record.details["scope"] == "resources"

    api = api_for(owner)
    response = api.post(
        "/exports/spreadsheet",
        {"format": "csv", "resource_ids": [str(mine[1].pk), str(world["hidden"].pk)]},
    )
    assert response.status_code == 403 and error(response)["code"] == "bulk_refused"
    response = api.post(
        "/exports/spreadsheet",
        {
            "format": "csv",
            "resource_ids": [str(mine[1].pk)],
            "resource_group_ids": [str(uuid.uuid4())],
        },
    )
    assert response.status_code == 400 and "not both" in error(response)["message"]


# --------------------------------------------------------------------------- the audit chain


def test_bulk_records_chain_and_fail_closed(world):
    """The per-resource records go in as one batch under one head lock: the chain still
    verifies record by record; if they cannot be written, nothing changes."""
    from exports.helpers import audit_trail_broken
    from strongroom.audit.services import audit_verify
    from strongroom.core.errors import AuditUnavailable

    owner, mine = world["owner"], world["mine"]
    group = rgroup_make(owner, name="Target")
    with audit_trail_broken():
        for call in (
            lambda: bulk.resources_bulk_delete(actor=owner, resource_ids=[r.pk for r in mine]),
            lambda: bulk.resources_bulk_move(
                actor=owner, resource_ids=[r.pk for r in mine], resource_group_id=group.pk
            ),
        ):
            with pytest.raises(AuditUnavailable):
                call()
    assert Resource.objects.filter(owner=owner).count() == 3 and not group.resources.exists()
    before = _head()
    bulk.resources_bulk_move(
        actor=owner, resource_ids=[r.pk for r in mine], resource_group_id=group.pk
    )
    bulk.resources_bulk_delete(actor=owner, resource_ids=[r.pk for r in mine])
    seqs = list(
        AuditEvent.objects.filter(seq__gt=before).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(before + 1, before + 7))
    report = audit_verify()
    assert report.ok, report
