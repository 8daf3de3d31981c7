"""The export policy, enforced by the services: who may export (global switch, user, user
group and role rules, with their precedence), the passphrase rules, the mandatory reason,
plain text, PBKDF2 iterations and the advisory expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from factories import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    group_make,
    resource_make,
    user_make,
)
from strongroom.accounts import services as people
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import PermissionDenied, ValidationFailed
from strongroom.exports import policy as export_policy
from strongroom.exports import services
from strongroom.exports.models import ExportRule
from strongroom.exports.offline_file import offline_file_header, offline_file_open
from strongroom.exports.policy import ExportRefused

from .helpers import admin, policy_set, rule_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def cheap():
    policy_set(kdf_iterations=TEST_ITERATIONS)


def html(user, **kw):
    return services.export_offline_html(actor=user, passphrase=PASSPHRASE, **kw)


def failures(action="export.html"):
    return list(AuditEvent.objects.filter(action=action, outcome="failure").order_by("seq"))


def test_defaults():
    current = export_policy.policy_get()
    assert current.as_dict() == {
        "export_enabled": True,
        "plain_text_allowed": False,
        "reason_required": False,
        "passphrase_min_length": 12,
        "passphrase_min_score": 3,
        "kdf_iterations": 600_000,
        "max_age_days": 30,
        "offline_formats": ["html", "kdbx"],
        "kdbx_memory_mib": 64,
        "kdbx_iterations": 3,
        "kdbx_parallelism": 2,
        "html_attachment_max_bytes": 1_048_576,
        "html_attachments_total_bytes": 16_777_216,
    }


def test_export_refused_when_turned_off_globally_and_the_refusal_is_audited(cheap):
    user = user_make()
    policy_set(export_enabled=False)
    with pytest.raises(ExportRefused) as caught:
        html(user, reason="site visit")
    assert caught.value.status == 403
    assert "turned off for everyone" in caught.value.message
    [event] = failures()
    assert event.actor_id == user.pk
    assert event.reason == "site visit"
    assert event.details["refusal"] == "export_disabled"
    assert event.details["format"] == "html"
    assert PASSPHRASE not in str(event.details) + event.reason + event.object_name
    for fmt in ("csv", "xlsx"):
        with pytest.raises(ExportRefused):
            services.export_spreadsheet(actor=user, fmt=fmt)
    assert len(failures("export.spreadsheet")) == 2


@pytest.mark.parametrize(
    ("global_on", "role_rule", "group_rules", "user_rule", "allowed", "source"),
    [
        (True, None, [], None, True, "global"),
        (False, None, [], None, False, "global"),
        (False, True, [], None, True, "role"),
        (True, False, [], None, False, "role"),
        (False, True, [False], None, False, "user_group"),
        (True, False, [True], None, True, "user_group"),
        # One refusing group is never outvoted by another group's allowance.
        (True, True, [True, False], None, False, "user_group"),
        (False, False, [False], True, True, "user"),
        (True, True, [True], False, False, "user"),
    ],
)
def test_rule_precedence_user_beats_groups_beats_role_beats_global(
    cheap, global_on, role_rule, group_rules, user_rule, allowed, source
):
    user = user_make("password_user")
    bystander = user_make("password_user")  # same role, no group or user rule
    policy_set(export_enabled=global_on)
    if role_rule is not None:
        rule_set(role_rule, role="password_user")
    for i, group_allowed in enumerate(group_rules):
        group = group_make(user, name=f"group-{i}")
        rule_set(group_allowed, user_group_id=group.pk)
    if user_rule is not None:
        rule_set(user_rule, user_id=user.pk)

    decision = export_policy.export_decision(user=user)
    assert (decision.allowed, decision.source) == (allowed, source)
    if allowed:
        assert html(user).entry_count == 0
    else:
        with pytest.raises(ExportRefused) as caught:
            html(user)
        assert caught.value.details["source"] == source
    # The rules for a group or a user touch nobody else.
    other = export_policy.export_decision(user=bystander)
    expected_other = role_rule if role_rule is not None else global_on
    assert other.allowed == expected_other


def test_leaving_a_refused_group_restores_export(cheap):
    user = user_make()
    group = group_make(user)
    rule_set(False, user_group_id=group.pk)
    assert not export_policy.export_decision(user=user).allowed
    people.user_group_remove_member(actor=admin(), group=group, user=user)
    assert export_policy.export_decision(user=user).allowed


def test_inactive_users_never_export(cheap):
    user = user_make()
    rule_set(True, user_id=user.pk)
    people.user_deactivate(actor=admin(), user=user)
    user.refresh_from_db()
    assert export_policy.export_decision(user=user).source == "inactive"
    with pytest.raises(ExportRefused):
        html(user)


@pytest.mark.parametrize(
    ("passphrase", "codes", "words"),
    [
        ("", ["required"], "passphrase is required"),
        ("Zq8#vLm2@Kp", ["too_short"], "11 characters long; the export policy needs at least 12"),
        ("passwordpassword", ["too_weak"], "too easy to guess"),
        ("aaaaaaaaaaaaaaaaaaaa", ["too_weak"], "too easy to guess"),
        ("abc123", ["too_short", "too_weak"], "at least 12"),
        (LOGIN_PASSWORD, ["login_password"], "must not be your sign-in password"),
        ("x" * 1025, ["too_long"], "at most 1024 characters"),
    ],
)
def test_weak_passphrases_are_refused_with_the_reason(cheap, passphrase, codes, words):
    user = user_make()
    with pytest.raises(ValidationFailed) as caught:
        services.export_offline_html(actor=user, passphrase=passphrase)
    exc = caught.value
    assert exc.status == 400
    assert exc.details["field"] == "passphrase"
    if passphrase:
        assert exc.code == "passphrase_refused"
        assert exc.details["problem_codes"] == codes
    assert words in exc.message
    [event] = failures()
    assert event.details["refusal"] in ("passphrase_refused", "invalid")
    if passphrase:
        assert passphrase not in str(event.details) + event.reason + exc.message


def test_passphrase_containing_the_username_is_weaker(cheap):
    user = user_make(username="margaretha")
    strength = export_policy.passphrase_strength("margaretha2024!", user_inputs=["margaretha"])
    assert strength.score < export_policy.passphrase_strength("margaretha2024!").score
    with pytest.raises(ValidationFailed):
        services.export_offline_html(actor=user, passphrase="margaretha2024!")


def test_passphrase_policy_is_the_administrators_to_set(cheap):
    user = user_make()
    policy_set(passphrase_min_length=40, passphrase_min_score=4)
    with pytest.raises(ValidationFailed, match="needs at least 40"):
        html(user)
    policy_set(passphrase_min_length=8, passphrase_min_score=0)
    assert services.export_offline_html(actor=user, passphrase="letmein!").entry_count == 0


def test_mandatory_reason(cheap):
    user = user_make()
    policy_set(reason_required=True)
    for reason in ("", "   ", None):
        with pytest.raises(ValidationFailed) as caught:
            html(user, reason=reason)
        assert caught.value.code == "reason_required"
        assert caught.value.details["field"] == "reason"
    assert [e.details["refusal"] for e in failures()] == ["reason_required"] * 3
    result = html(user, reason="  DMZ maintenance window CHG-981 ")
    event = AuditEvent.objects.get(action="export.html", outcome="success")
    assert event.reason == "DMZ maintenance window CHG-981"
    assert event.details["sha256"] == result.sha256
    with pytest.raises(ValidationFailed):
        services.export_spreadsheet(actor=user, fmt="csv")
    assert services.export_spreadsheet(actor=user, fmt="csv", reason="inventory").entry_count == 0


def test_plain_text_refused_unless_allowed(cheap):
    owner = user_make("password_admin")
    account_make(owner, resource_make(owner, "db-01"), "sa", "Pl41n-t3xt")
    for fmt in ("csv", "xlsx"):
        with pytest.raises(ExportRefused) as caught:
            services.export_spreadsheet(actor=owner, fmt=fmt, with_passwords=True)
        assert caught.value.details["refusal"] == "plain_text_not_allowed"
        # Without passwords it is an inventory, allowed by default: and really has none.
        result = services.export_spreadsheet(actor=owner, fmt=fmt)
        assert result.entry_count == 1
        if fmt == "csv":
            assert b"Pl41n-t3xt" not in result.content
            assert b"Password" not in result.content
    assert [e.details["refusal"] for e in failures("export.spreadsheet")] == [
        "plain_text_not_allowed",
        "plain_text_not_allowed",
    ]
    policy_set(plain_text_allowed=True)
    result = services.export_spreadsheet(actor=owner, fmt="csv", with_passwords=True)
    assert b"Pl41n-t3xt" in result.content


def test_unknown_spreadsheet_format_is_refused(cheap):
    with pytest.raises(ValidationFailed, match="csv or xlsx"):
        services.export_spreadsheet(actor=user_make(), fmt="ods")


def test_iterations_never_below_600000_in_production(settings):
    del settings.STRONGROOM_EXPORT_MIN_ITERATIONS  # as in production: no such setting
    assert export_policy.iterations_minimum() == 600_000
    with pytest.raises(ValidationFailed) as caught:
        policy_set(kdf_iterations=599_999)
    assert caught.value.details["fields"] == [
        {"field": "kdf_iterations", "problem": "must be between 600,000 and 20,000,000"}
    ]
    policy_set(kdf_iterations=650_000)
    assert export_policy.policy_get().kdf_iterations == 650_000


def test_a_stored_value_below_the_minimum_is_raised_not_honoured(settings):
    policy_set(kdf_iterations=TEST_ITERATIONS)  # allowed while the test minimum is in force
    del settings.STRONGROOM_EXPORT_MIN_ITERATIONS
    assert export_policy.policy_get().kdf_iterations == 600_000


def test_real_600000_iterations_file_opens_with_the_passphrase(settings):
    del settings.STRONGROOM_EXPORT_MIN_ITERATIONS
    owner = user_make("password_admin")
    account_make(owner, resource_make(owner, "vpn-gw"), "admin", "gw-secret")
    result = html(owner)
    header = offline_file_header(result.content)
    assert header["kdf_iterations"] == 600_000
    payload = offline_file_open(html=result.content, passphrase=PASSPHRASE)
    assert [(e.name, e.password) for e in payload.entries] == [("vpn-gw", "gw-secret")]


def test_advisory_expiry_follows_the_maximum_age(cheap):
    user = user_make()
    policy_set(max_age_days=7)
    payload = offline_file_open(html=html(user).content, passphrase=PASSPHRASE)
    assert payload.expires_at - payload.generated_at == timedelta(days=7)
    policy_set(max_age_days=0)
    payload = offline_file_open(html=html(user).content, passphrase=PASSPHRASE)
    assert payload.expires_at is None


def test_policy_changes_are_for_administrators_and_audited():
    for role in ("password_admin", "password_user", "auditor"):
        with pytest.raises(PermissionDenied):
            services.export_policy_update(actor=user_make(role), values={"reason_required": True})
        with pytest.raises(PermissionDenied):
            services.export_rule_set(actor=user_make(role), allowed=False, role="auditor")
    boss = admin()
    services.export_policy_update(
        actor=boss, values={"reason_required": True, "max_age_days": 3}, client_ip="192.0.2.4"
    )
    event = AuditEvent.objects.get(action="export_policy.update")
    assert event.actor_id == boss.pk and event.client_ip == "192.0.2.4"
    assert event.details["changes"] == {
        "reason_required": {"old": False, "new": True},
        "max_age_days": {"old": 30, "new": 3},
    }
    # Saving the same values again changes nothing and writes nothing.
    services.export_policy_update(actor=boss, values={"reason_required": True})
    assert AuditEvent.objects.filter(action="export_policy.update").count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"export_enabled": "yes"}, "export_enabled"),
        ({"passphrase_min_length": 4}, "passphrase_min_length"),
        ({"passphrase_min_score": 5}, "passphrase_min_score"),
        ({"max_age_days": -1}, "max_age_days"),
        ({"kdf_iterations": 30_000_000}, "kdf_iterations"),
        ({"kdf_iterations": 1.5}, "kdf_iterations"),
    ],
)
def test_invalid_policy_values_change_nothing(values, field):
    before = export_policy.policy_get()
    with pytest.raises(ValidationFailed) as caught:
        policy_set(**values)
    assert caught.value.details["field"] == field
    assert export_policy.policy_get() == before
    with pytest.raises(ValidationFailed, match="unknown policy field"):
        policy_set(surprise=True)


def test_rules_replace_and_delete_audited():
    user = user_make()
    boss = admin()
    rule = services.export_rule_set(actor=boss, allowed=False, user_id=user.pk)
    again = services.export_rule_set(actor=boss, allowed=True, user_id=user.pk)
    assert again.pk == rule.pk and ExportRule.objects.count() == 1
    services.export_rule_delete(actor=boss, rule_id=rule.pk)
    assert not ExportRule.objects.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="export_rule")
        .order_by("seq")
        .values_list("action", "object_name", "details")
    )
    assert actions == [
        (
            "export_rule.set",
            user.username,
            {"subject_type": "user", "allowed": False, "previous": None},
        ),
        (
            "export_rule.set",
            user.username,
            {"subject_type": "user", "allowed": True, "previous": False},
        ),
        ("export_rule.delete", user.username, {"subject_type": "user", "allowed": True}),
    ]
    with pytest.raises(ValidationFailed):
        services.export_rule_set(actor=boss, allowed=True, role="emperor")
    with pytest.raises(ValidationFailed):
        services.export_rule_set(actor=boss, allowed=True, role="auditor", user_id=user.pk)


def test_bad_reasons_are_refused_and_the_refusal_record_stays_small(cheap):
    user = user_make()
    with pytest.raises(ValidationFailed) as caught:
        html(user, reason="r" * 3000)
    assert caught.value.details["field"] == "reason"
    with pytest.raises(ValidationFailed):
        html(user, reason="nul\x00byte")
    long_refusal, nul_refusal = failures()
    assert long_refusal.reason == "r" * 2000
    assert nul_refusal.reason == ""


def test_refused_passphrases_are_throttled_so_the_login_password_cannot_be_guessed_here(cheap):
    from strongroom.core.errors import Throttled

    user = user_make()
    other = user_make()
    for _ in range(10):
        with pytest.raises(ValidationFailed):
            services.export_offline_html(actor=user, passphrase="guess-1234")
    with pytest.raises(Throttled) as caught:
        services.export_offline_html(actor=user, passphrase=LOGIN_PASSWORD)
    assert caught.value.status == 429
    # Not even the right answer gets through, and others are not affected.
    with pytest.raises(Throttled):
        html(user)
    assert html(other).entry_count == 0
    assert failures()[-1].details["refusal"] == "throttled"


@pytest.mark.parametrize(
    "passphrase",
    [
        "orbit lantern\nquietly seventy",  # a line break: no reader can take it
        "orbit lantern\rquietly seventy",
        "orbit lantern\x1b quietly seventy",
        # A character this server's Unicode database does not know: a newer browser's NFC
        # might compose it differently, and the file would not open there.
        "orbit lantern \U000e01f0 quietly seventy",
    ],
    ids=["lf", "cr", "escape", "unassigned"],
)
def test_passphrases_no_reader_can_take_are_refused(passphrase):
    from strongroom.exports.policy import passphrase_problems, policy_get

    user = user_make("password_user")
    problems = passphrase_problems(user=user, passphrase=passphrase, policy=policy_get())
    assert [p["code"] for p in problems] == ["invalid"]
    assert "line breaks, control characters" in problems[0]["message"]
