"""A user never gets an entry they may not view: the exact set of entries in the encrypted
file (opened with offline_file_open), the CSV and the XLSX equals what the vault lets them
view, for owners, direct shares, shares to user groups, shared resource groups, nobody; and
chosen resource groups narrow it, never widen it."""

from __future__ import annotations

import pytest

from factories import (
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import NotFound
from strongroom.exports import services
from strongroom.exports.offline_file import offline_file_open
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .helpers import csv_rows, policy_set, xlsx_rows

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


@pytest.fixture
def world():
    """alice owns everything; bob has a direct share on r1; carol reaches r2 through her user
    group; dave reaches r2 and r3 through the shared resource group "ops"; erin owns r4 in a
    group of her own; frank has nothing."""
    policy_set(kdf_iterations=TEST_ITERATIONS, plain_text_allowed=True)
    alice = user_make("password_admin", "alice")
    erin = user_make("password_admin", "erin")
    bob, carol, dave, frank = (
        user_make("password_user", n) for n in ("bob", "carol", "dave", "frank")
    )
    r1 = resource_make(alice, "web-01", host="web-01.corp.example", department="IT")
    account_make(alice, r1, "root", "r1-root-pw", notes="rack 4", totp_seed="JBSWY3DPEHPK3PXP")
    account_make(alice, r1, "deploy", "r1-deploy-pw")
    r2 = resource_make(alice, "db-01")
    account_make(alice, r2, "postgres", "r2-pg-pw")
    r3 = resource_make(alice, "fw-01")
    account_make(alice, r3, "admin", "r3-admin-pw")
    hidden = resource_make(alice, "hr-payroll")
    account_make(alice, hidden, "payroll", "never-exported-pw")
    r4 = resource_make(erin, "erin-lab")
    account_make(erin, r4, "lab", "r4-lab-pw")
    ops = rgroup_make(alice, r2, r3, name="ops")
    secret_group = rgroup_make(alice, hidden, name="board only")
    lab = rgroup_make(erin, r4, name="lab")
    vault.share_grant(actor=alice, resource_id=r1.pk, user_id=bob.pk, level=AccessLevel.VIEW)
    team = group_make(carol, name="dba")
    vault.share_grant(actor=alice, resource_id=r2.pk, user_group_id=team.pk, level=AccessLevel.VIEW)
    vault.share_grant(
        actor=alice, resource_group_id=ops.pk, user_id=dave.pk, level=AccessLevel.VIEW
    )
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "dave": dave,
        "erin": erin,
        "frank": frank,
        "ops": ops,
        "secret_group": secret_group,
        "lab": lab,
    }


EXPECTED = {
    "alice": {
        ("db-01", "postgres", "r2-pg-pw", "ops"),
        ("fw-01", "admin", "r3-admin-pw", "ops"),
        ("hr-payroll", "payroll", "never-exported-pw", "board only"),
        ("web-01", "deploy", "r1-deploy-pw", ""),
        ("web-01", "root", "r1-root-pw", ""),
    },
    "bob": {("web-01", "deploy", "r1-deploy-pw", ""), ("web-01", "root", "r1-root-pw", "")},
    # carol cannot see the group "ops" that holds db-01: its name must not reach her file.
    "carol": {("db-01", "postgres", "r2-pg-pw", "")},
    "dave": {("db-01", "postgres", "r2-pg-pw", "ops"), ("fw-01", "admin", "r3-admin-pw", "ops")},
    "erin": {("erin-lab", "lab", "r4-lab-pw", "lab")},
    "frank": set(),
}


def _html_set(user, **kw):
    result = services.export_offline_html(actor=user, passphrase=PASSPHRASE, **kw)
    payload = offline_file_open(html=result.content, passphrase=PASSPHRASE)
    assert result.entry_count == len(payload.entries)
    return {(e.name, e.username, e.password, e.folder) for e in payload.entries}


def _sheet_set(user, fmt, **kw):
    result = services.export_spreadsheet(actor=user, fmt=fmt, with_passwords=True, **kw)
    rows = csv_rows(result.content) if fmt == "csv" else xlsx_rows(result.content)
    assert result.entry_count == len(rows)
    return {(r["Resource"], r["Username"], r["Password"], r["Resource groups"]) for r in rows}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_each_format_holds_exactly_the_entries_the_user_can_view(world, who):
    user = world[who]
    assert _html_set(user) == EXPECTED[who]
    assert _sheet_set(user, "csv") == EXPECTED[who]
    assert _sheet_set(user, "xlsx") == EXPECTED[who]


def test_every_field_of_an_entry_reaches_the_file(world):
    payload = offline_file_open(
        html=services.export_offline_html(actor=world["bob"], passphrase=PASSPHRASE).content,
        passphrase=PASSPHRASE,
    )
    root = next(e for e in payload.entries if e.username == "root")
    assert (root.host, root.department, root.notes, root.totp_seed) == (
        "web-01.corp.example",
        "IT",
        "rack 4",
        "JBSWY3DPEHPK3PXP",
    )
    assert payload.owner == "bob"
    # Ordered by resource name, then username.
    assert [(e.name, e.username) for e in payload.entries] == [
        ("web-01", "deploy"),
        ("web-01", "root"),
    ]


def test_chosen_groups_narrow_the_scope(world):
    alice, dave = world["alice"], world["dave"]
    ops = world["ops"]
    assert _html_set(alice, resource_group_ids=[ops.pk]) == EXPECTED["dave"]
    assert _html_set(dave, resource_group_ids=[str(ops.pk)]) == EXPECTED["dave"]
    assert _sheet_set(dave, "csv", resource_group_ids=[ops.pk]) == EXPECTED["dave"]
    both = [ops.pk, world["secret_group"].pk]
    assert _html_set(alice, resource_group_ids=both) == EXPECTED["alice"] - {
        ("web-01", "deploy", "r1-deploy-pw", ""),
        ("web-01", "root", "r1-root-pw", ""),
    }
    event = AuditEvent.objects.filter(action="export.html", outcome="success").latest("seq")
    assert event.details["scope"] == "resource_groups"
    assert sorted(event.details["resource_group_ids"]) == sorted(str(g) for g in both)
    assert event.details["resource_group_names"] == ["board only", "ops"]


@pytest.mark.parametrize(
    ("who", "group"),
    [("bob", "ops"), ("carol", "ops"), ("dave", "secret_group"), ("alice", "lab")],
)
def test_a_group_the_user_cannot_see_is_not_found_and_audited(world, who, group):
    user = world[who]
    for call in (
        lambda: services.export_offline_html(
            actor=user, passphrase=PASSPHRASE, resource_group_ids=[world[group].pk]
        ),
        lambda: services.export_spreadsheet(
            actor=user, fmt="csv", resource_group_ids=[world[group].pk]
        ),
    ):
        with pytest.raises(NotFound, match="resource group not found"):
            call()
    refusals = AuditEvent.objects.filter(actor_id=user.pk, outcome="failure")
    assert refusals.count() == 2
    assert all(e.details["refusal"] == "not_found" for e in refusals)


def test_malformed_group_ids_are_not_found(world):
    with pytest.raises(NotFound):
        services.export_spreadsheet(actor=world["alice"], fmt="csv", resource_group_ids=["nope"])


def test_losing_a_share_removes_the_entries_from_the_next_export(world):
    bob, alice = world["bob"], world["alice"]
    assert len(_html_set(bob)) == 2
    share = bob.shares.get()
    vault.share_revoke(actor=alice, share_id=share.pk)
    assert _html_set(bob) == set()


def test_the_query_count_does_not_grow_with_the_vault(world, django_assert_max_num_queries):
    alice = world["alice"]
    many = resource_make(alice, "bulk")
    for i in range(30):
        account_make(alice, many, f"user{i:02d}", f"pw{i}")
    # Policy, rules, scope, folders, accounts, audit: a fixed number of queries.
    with django_assert_max_num_queries(25):
        result = services.export_spreadsheet(actor=alice, fmt="csv", with_passwords=True)
    assert result.entry_count == 35


def test_entries_carry_each_resource_description_and_custom_fields_and_no_others():
    """Only resources with a description or custom fields are read for them (the others
    skip the JSON decoding); each entry still gets exactly its own resource's details."""
    from strongroom.exports import selectors

    owner = user_make("password_admin")
    plain = resource_make(owner, "a-plain")
    described = resource_make(owner, "b-described", description="DMZ <proxy>")
    custom = resource_make(owner, "c-custom", custom_fields={"rack": "R12", "asset": "A-9"})
    both = resource_make(owner, "d-both", description="core", custom_fields={"zone": "b"})
    for resource in (plain, described, custom, both):
        account_make(owner, resource, "root")
    entries = selectors.export_entries(
        user=owner, scope=selectors.ExportScope(), with_secrets=False
    )
    assert [(e.name, e.description, e.custom_fields) for e in entries] == [
        ("a-plain", "", ()),
        ("b-described", "DMZ <proxy>", ()),
        ("c-custom", "", (("asset", "A-9"), ("rack", "R12"))),
        ("d-both", "core", (("zone", "b"),)),
    ]
