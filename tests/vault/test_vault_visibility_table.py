"""The visibility table (vault.visibility) always says what the access rules say.

Random graphs of people, user groups, resources, resource groups and shares, changed at
random through the services (as any actor: refused changes are part of the walk); after
every change the table must equal both the rules worked out per object the old way
(``selectors.resource_access_level``: owner, owned group, best share of the user or their
groups, directly or through a resource group) and the rules' SQL form, and every list must
show exactly what the per-object rule allows, at that level. Both databases.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from factories import admin_get, deactivate, resource_make, user_make
from strongroom.accounts import services as people
from strongroom.accounts.models import User, UserGroup
from strongroom.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from strongroom.vault import bulk, selectors, services, visibility
from strongroom.vault.models import AccessLevel, Resource, ResourceGroup, Share, Visibility

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

REFUSED = (Conflict, NotFound, PermissionDenied, ValidationFailed)


def _rule_by_object() -> set[tuple[uuid.UUID, uuid.UUID, int]]:
    """Every (user, resource, level) of active users, from the per-object rule."""
    rows = set()
    for user in User.objects.filter(is_active=True):
        for resource in Resource.objects.all():
            level = selectors.resource_access_level(user=user, resource=resource)
            if level is not None:
                rows.add((user.pk, resource.pk, int(level)))
    return rows


def _check(step: str) -> None:
    table = visibility.table_rows()
    assert table == visibility.expected_rows(), step
    active = set(User.objects.filter(is_active=True).values_list("pk", flat=True))
    by_object = _rule_by_object()
    assert {row[:3] for row in table if row[0] in active} == by_object, step
    menus = dict(Resource.objects.values_list("pk", "resource_type"))
    assert all(menus[row[1]] == row[3] for row in table), step
    for user in User.objects.all():
        listed = {
            (user.pk, r.pk, r.access_level)  # type: ignore[attr-defined]
            for r in selectors.resources_visible(user=user)
        }
        assert listed == {row for row in by_object if row[0] == user.pk}, step
        page = selectors.resources_keyset_page(user=user, limit=1000)
        assert page.total == len(listed), step
        choices = selectors.resource_filter_choices(user=user)
        if user.is_active:
            shown = Resource.objects.filter(pk__in=[row[1] for row in listed])
            assert choices.total == len(listed), step
            assert set(choices.types) == set(shown.values_list("resource_type", flat=True)) - {
                ""
            }, step
            assert set(choices.departments) == set(shown.values_list("department", flat=True)) - {
                ""
            }, step


class Walk:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # test data, not security
        self.admin = admin_get()
        self.people = [user_make("password_admin") for _ in range(4)] + [user_make()]
        self.teams = [
            people.user_group_create(actor=None, name=f"team-{seed}-{i}") for i in range(3)
        ]
        self.steps = 0

    def pick(self, items: Any) -> Any:
        items = list(items)
        return items[self.rng.randrange(len(items))] if items else None

    def person(self) -> User:
        person: User = self.pick(User.objects.filter(pk__in=[p.pk for p in self.people]))
        return person

    def actor_for(self, owner_id: Any) -> User:
        """Mostly the owner of what is changed (who manages it), sometimes anyone (whose
        change may be refused)."""
        if self.rng.random() < 0.8:
            return User.objects.get(pk=owner_id)
        return self.person()

    def level(self) -> int:
        return int(self.pick(list(AccessLevel)))

    def mine(self, owner: User) -> list[Any]:
        """Some of the resources ``owner`` owns."""
        owned = Resource.objects.filter(owner=owner).values_list("pk", flat=True)
        return [pk for pk in owned if self.rng.random() < 0.6]

    # The changes: each one a service call; a refusal is fine.

    def resource_create(self) -> None:
        resource_make(
            self.pick(self.people[:4]),
            resource_type=self.pick(["Linux", "Windows", ""]),
            department=self.pick(["IT", "HR", ""]),
        )

    def resource_update(self) -> None:
        row = self.pick(Resource.objects.values_list("pk", "owner_id"))
        if row:
            services.resource_update(
                actor=self.actor_for(row[1]),
                resource_id=row[0],
                resource_type=self.pick(["Linux", "Firewall", ""]),
                department=self.pick(["IT", "Sales"]),
            )

    def group_create(self) -> None:
        services.resource_group_create(actor=self.pick(self.people[:4]), name="rg")

    def share(self) -> None:
        model: Any = Resource if self.rng.random() < 0.5 else ResourceGroup
        row = self.pick(model.objects.values_list("pk", "owner_id"))
        if row is None:
            return
        target = {"resource_id" if model is Resource else "resource_group_id": row[0]}
        grantee = (
            {"user_id": self.person().pk}
            if self.rng.random() < 0.5
            else {"user_group_id": self.pick(UserGroup.objects.values_list("pk", flat=True))}
        )
        if None in grantee.values():
            return
        services.share_grant(actor=self.actor_for(row[1]), level=self.level(), **target, **grantee)

    def revoke(self) -> None:
        share = self.pick(Share.objects.all())
        if share is not None:
            target = share.resource or share.resource_group
            services.share_revoke(actor=self.actor_for(target.owner_id), share_id=share.pk)

    def group_add(self) -> None:
        group = self.pick(ResourceGroup.objects.all())
        if group is None:
            return
        actor = self.actor_for(group.owner_id)
        resource = self.pick(
            [
                r
                for r in Resource.objects.all()
                if selectors.resource_access_level(user=actor, resource=r) == AccessLevel.MANAGE
            ]
        )
        if resource:
            services.resource_group_add_resource(
                actor=actor, resource_group_id=group.pk, resource_id=resource.pk
            )

    def group_remove(self) -> None:
        link = self.pick(ResourceGroup.resources.through.objects.all())
        if link is not None:
            services.resource_group_remove_resource(
                actor=self.actor_for(link.resourcegroup.owner_id),
                resource_group_id=link.resourcegroup_id,
                resource_id=link.resource_id,
            )

    def group_delete(self) -> None:
        row = self.pick(ResourceGroup.objects.values_list("pk", "owner_id"))
        if row:
            services.resource_group_delete(actor=self.actor_for(row[1]), resource_group_id=row[0])

    def resource_delete(self) -> None:
        row = self.pick(Resource.objects.values_list("pk", "owner_id"))
        if row:
            services.resource_delete(actor=self.actor_for(row[1]), resource_id=row[0])

    def member_add(self) -> None:
        team = self.pick(UserGroup.objects.all())
        if team:
            people.user_group_add_member(actor=self.admin, group=team, user=self.person())

    def member_remove(self) -> None:
        team = self.pick(UserGroup.objects.all())
        member = team and self.pick(team.members.all())
        if member:
            people.user_group_remove_member(actor=self.admin, group=team, user=member)

    def team_replace(self) -> None:
        team = self.pick(UserGroup.objects.all())
        if team:
            people.user_group_delete(actor=self.admin, group=team)
        people.user_group_create(actor=None, name=f"team-{uuid.uuid4().hex[:8]}")

    def bulk_share(self) -> None:
        actor = self.pick(self.people[:4])
        grantee = (
            {"user_id": self.person().pk}
            if self.rng.random() < 0.5
            else {"user_group_id": self.pick(UserGroup.objects.values_list("pk", flat=True))}
        )
        bulk.resources_bulk_share(
            actor=actor, resource_ids=self.mine(actor), level=self.level(), **grantee
        )

    def bulk_move(self) -> None:
        group = self.pick(ResourceGroup.objects.all())
        if group:
            bulk.resources_bulk_move(
                actor=group.owner, resource_ids=self.mine(group.owner), resource_group_id=group.pk
            )

    def bulk_group_add(self) -> None:
        group = self.pick(ResourceGroup.objects.all())
        if group:
            bulk.resources_bulk_group_add(
                actor=group.owner, resource_ids=self.mine(group.owner), resource_group_id=group.pk
            )

    def bulk_delete(self) -> None:
        actor = self.pick(self.people[:4])
        if Resource.objects.count() > 6:
            bulk.resources_bulk_delete(actor=actor, resource_ids=self.mine(actor)[:2])

    def changes(self) -> list[tuple[int, Callable[[], None]]]:
        return [
            (4, self.resource_create),
            (2, self.resource_update),
            (2, self.group_create),
            (10, self.share),
            (3, self.revoke),
            (5, self.group_add),
            (3, self.group_remove),
            (1, self.group_delete),
            (1, self.resource_delete),
            (5, self.member_add),
            (2, self.member_remove),
            (1, self.team_replace),
            (1, self.bulk_share),
            (1, self.bulk_move),
            (1, self.bulk_group_add),
            (1, self.bulk_delete),
        ]

    def step(self) -> str:
        weighted = [change for weight, change in self.changes() for _ in range(weight)]
        change = self.pick(weighted)
        try:
            change()
            outcome = "done"
        except REFUSED as exc:
            outcome = f"refused ({type(exc).__name__})"
        return f"step {self.steps}: {change.__name__} {outcome}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_changes_through_the_services_keep_the_table_equal_to_the_rules(seed):
    walk = Walk(seed)
    for _ in range(6):
        walk.resource_create()
    _check("start")
    done = 0
    for walk.steps in range(60):
        step = walk.step()
        done += "done" in step
        _check(step)
    assert Visibility.objects.exists()
    assert done >= 35, "the walk should change things, not only be refused"


def test_inactive_users_keep_their_rows_but_see_nothing():
    owner = user_make("password_admin")
    reader = user_make()
    resource = resource_make(owner)
    services.share_grant(
        actor=owner, resource_id=resource.pk, user_id=reader.pk, level=AccessLevel.VIEW
    )
    deactivate(reader)
    reader.refresh_from_db()
    assert Visibility.objects.filter(user_id=reader.pk).count() == 1
    assert list(selectors.resources_visible(user=reader)) == []
    assert selectors.resources_keyset_page(user=reader, limit=50).total == 0
    assert selectors.resource_filter_choices(user=reader).total == 0


def test_rebuild_restores_a_table_emptied_or_gone_wrong():
    """What the migration runs on an existing vault: the whole table from the rules."""
    owner = user_make("password_admin")
    reader = user_make()
    team = people.user_group_create(actor=None, name="rebuild team")
    people.user_group_add_member(actor=None, group=team, user=reader)
    group = services.resource_group_create(actor=owner, name="g")
    first, second = resource_make(owner), resource_make(owner)
    services.resource_group_add_resource(
        actor=owner, resource_group_id=group.pk, resource_id=first.pk
    )
    services.share_grant(
        actor=owner, resource_group_id=group.pk, user_group_id=team.pk, level=AccessLevel.MODIFY
    )
    services.share_grant(
        actor=owner, resource_id=first.pk, user_id=reader.pk, level=AccessLevel.VIEW
    )
    expected = visibility.table_rows()
    assert (reader.pk, first.pk, int(AccessLevel.MODIFY)) in {row[:3] for row in expected}
    assert not any(row[1] == second.pk and row[0] == reader.pk for row in expected)
    Visibility.objects.all().delete()
    Visibility.objects.create(user=reader, resource=second, level=AccessLevel.MANAGE)
    visibility.rebuild()
    assert visibility.table_rows() == expected == visibility.expected_rows()
