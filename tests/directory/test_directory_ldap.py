"""LDAP sign-in and sync against a real slapd (tests/directory/slapd_server.py)."""

from __future__ import annotations

import itertools
import logging
import time

import ldap3
import pyotp
import pytest

from factories import user_make
from strongroom.accounts.models import LoginAttempt, Role, User
from strongroom.accounts.services import (
    REAUTH_TRUSTED,
    login_authenticate,
    user_group_create,
    user_totp_confirm,
    user_totp_enrol,
)
from strongroom.audit.models import AuditEvent
from strongroom.core.errors import AuthenticationFailed, NotFound, Throttled
from strongroom.directory import services
from strongroom.directory.ldap import DirectoryUnavailable
from strongroom.directory.models import DirectoryAccount
from strongroom.directory.tasks import directory_sync_periodic

from .slapd_server import (
    ADMINS,
    ENGINEERING,
    GROUPS,
    PASSWORDS,
    PEOPLE,
    ROOT_DN,
    ROOT_PASSWORD,
    SERVICE_DN,
    SERVICE_PASSWORD,
    STAFF,
    USER_FILTER,
    user_dn,
)

pytestmark = pytest.mark.django_db


def configure(admin, slapd, **overrides):
    settings = {
        "enabled": True,
        "server_urls": slapd.ldaps_url,
        "security": "ldaps",
        "ca_bundle": slapd.ca_pem,
        "bind_dn": SERVICE_DN,
        "user_search_base": PEOPLE,
        "user_filter": USER_FILTER,
        "username_attribute": "uid",
        "group_search_base": GROUPS,
        "group_filter": "(objectClass=groupOfNames)",
        "nesting": "walk",
        "allowed_group_dn": STAFF,
        "jit_create": True,
    }
    settings.update(overrides)
    return services.directory_config_update(actor=admin, bind_password=SERVICE_PASSWORD, **settings)


@pytest.fixture
def admin(db):
    return user_make("admin", username="break-glass")


_addresses = itertools.count(1)


def sign_in(username, password, otp_code=None, client_ip="127.0.0.1"):
    return login_authenticate(
        username=username, password=password, otp_code=otp_code, client_ip=client_ip
    )


def refused(username, password):
    # A fresh address each time: the address throttle is not what these tests pin.
    with pytest.raises(AuthenticationFailed) as caught:
        sign_in(username, password, client_ip=f"127.0.1.{next(_addresses) % 250 + 1}")
    assert caught.value.code == "invalid_credentials"


def _root(slapd):
    server = ldap3.Server(
        slapd.ldaps_url, use_ssl=True, tls=ldap3.Tls(ca_certs_data=slapd.ca_pem, validate=2)
    )
    return ldap3.Connection(server, ROOT_DN, ROOT_PASSWORD, auto_bind=True)


def root_add(slapd, dn, attributes):
    with _root(slapd) as conn:
        assert conn.add(dn, attributes=attributes), conn.result


def root_modify(slapd, dn, changes):
    with _root(slapd) as conn:
        if changes is None:
            assert conn.delete(dn), conn.result
        else:
            assert conn.modify(dn, changes), conn.result


def test_nested_group_member_signs_in_and_is_created_just_in_time(slapd, admin):
    configure(admin, slapd)
    engineers = user_group_create(actor=admin, name="Engineers")
    services.group_mapping_create(actor=admin, group_dn=ENGINEERING, user_group=engineers)

    user = sign_in("alice", PASSWORDS["alice"])

    assert user.username == "alice"
    assert user.email == "alice@example.test"
    assert user.role == Role.PASSWORD_USER
    assert not user.has_usable_password()
    assert DirectoryAccount.objects.get(user=user).dn == user_dn("alice")
    assert list(engineers.members.all()) == [user]
    # The second sign-in finds the same user (no duplicate).
    assert sign_in("alice", PASSWORDS["alice"]).pk == user.pk
    assert User.objects.filter(username="alice").count() == 1


def test_group_mapping_gives_the_role_on_creation(slapd, admin):
    configure(admin, slapd)
    services.group_mapping_create(actor=admin, group_dn=ADMINS, role=Role.ADMIN)
    assert sign_in("bob", PASSWORDS["bob"]).role == Role.ADMIN


def test_wrong_password_locked_disabled_and_outsider_are_refused(slapd, admin):
    configure(admin, slapd)
    refused("alice", "not-the-password")
    refused("alice", "")
    refused("carol", PASSWORDS["carol"])  # ppolicy pwdAccountLockedTime: the bind fails
    refused("erin", PASSWORDS["erin"])  # employeeType=disabled: excluded by the user filter
    refused("dave", PASSWORDS["dave"])  # not in staff, directly or nested
    refused("nobody", "whatever")
    assert not User.objects.filter(username__in=["alice", "carol", "erin", "dave"]).exists()
    assert LoginAttempt.objects.filter(succeeded=False).count() == 6


def test_without_jit_the_user_must_be_added_first(slapd, admin):
    configure(admin, slapd, jit_create=False)
    refused("alice", PASSWORDS["alice"])
    assert not User.objects.filter(username="alice").exists()

    added = services.directory_user_add(actor=admin, username="alice")
    assert not added.has_usable_password()
    assert sign_in("alice", PASSWORDS["alice"]).pk == added.pk
    with pytest.raises(NotFound):
        services.directory_user_add(actor=admin, username="*")


def test_local_account_of_the_same_name_is_not_taken_over(slapd, admin):
    configure(admin, slapd)
    user_make(username="bob", password="Local-only-pw-99")
    refused("bob", PASSWORDS["bob"])
    assert sign_in("bob", "Local-only-pw-99").username == "bob"


@pytest.mark.parametrize(
    ("name", "as_sent"),
    [
        ("*", r"\2A"),
        (")(uid=*", r"\29\28uid=\2A"),
        ("alice)(uid=*", r"alice\29\28uid=\2A"),
        ("*)(|(uid=*", r"\2A\29\28|\28uid=\2A"),
        ("al*", r"al\2A"),
        ("\\2a", r"\5C2a"),
    ],
)
def test_filter_injection_in_the_user_name_matches_nobody(slapd, admin, name, as_sent):
    configure(admin, slapd)
    refused(name, PASSWORDS["alice"])
    assert not DirectoryAccount.objects.exists()
    # slapd's own log shows the name arrived as an escaped literal (RFC 4515), no wildcard.
    searches = [
        line
        for line in slapd.log_path.read_text().splitlines()
        if f'SRCH base="{PEOPLE}"' in line and "(uid=" in line
    ]
    assert searches[-1].endswith(f'(uid={as_sent}))"')


def test_sync_deactivates_who_left_the_group_or_the_directory(slapd, admin):
    configure(admin, slapd)
    alice = sign_in("alice", PASSWORDS["alice"])
    frank = sign_in("frank", PASSWORDS["frank"])
    gina = sign_in("gina", PASSWORDS["gina"])
    # frank leaves engineering (so staff, through nesting); gina leaves the company.
    root_modify(slapd, ENGINEERING, {"member": [(ldap3.MODIFY_DELETE, [user_dn("frank")])]})
    root_modify(slapd, STAFF, {"member": [(ldap3.MODIFY_DELETE, [user_dn("gina")])]})
    root_modify(slapd, user_dn("gina"), None)
    refused("frank", PASSWORDS["frank"])

    result = services.directory_sync(actor=None)

    assert (result.checked, result.deactivated, result.kept) == (3, 2, 1)
    for user, active in ((alice, True), (frank, False), (gina, False)):
        user.refresh_from_db()
        assert user.is_active is active
    assert AuditEvent.objects.filter(action="user.deactivate", actor=None).count() == 2
    # A deactivated directory user is refused even with the right password.
    root_modify(slapd, ENGINEERING, {"member": [(ldap3.MODIFY_ADD, [user_dn("frank")])]})
    refused("frank", PASSWORDS["frank"])
    root_add(
        slapd,
        user_dn("gina"),
        {
            "objectClass": ["inetOrgPerson"],
            "uid": "gina",
            "cn": "Gina Example",
            "sn": "Example",
            "mail": "gina@example.test",
            "userPassword": PASSWORDS["gina"],
        },
    )
    root_modify(slapd, STAFF, {"member": [(ldap3.MODIFY_ADD, [user_dn("gina")])]})


def test_starttls_works_and_a_wrong_ca_is_refused(slapd, admin):
    configure(admin, slapd, server_urls=slapd.ldap_url, security="starttls")
    assert sign_in("bob", PASSWORDS["bob"]).username == "bob"
    configure(admin, slapd, ca_bundle=_unrelated_ca())
    with pytest.raises(DirectoryUnavailable):
        sign_in("bob", PASSWORDS["bob"])


def _unrelated_ca():
    import trustme

    return trustme.CA().cert_pem.bytes().decode()


def test_bind_and_user_passwords_never_logged_or_audited(slapd, admin, caplog):
    caplog.set_level(logging.DEBUG)
    configure(admin, slapd)
    sign_in("alice", PASSWORDS["alice"])
    refused("alice", "Wrong-guess-55")
    services.directory_sync(actor=admin)
    services.directory_test(actor=admin, username="alice")
    logged = caplog.text
    audited = " ".join(str(e.details) for e in AuditEvent.objects.all())
    for secret in (SERVICE_PASSWORD, PASSWORDS["alice"], "Wrong-guess-55"):
        assert secret not in logged
        assert secret not in audited
    assert SERVICE_PASSWORD not in repr(services._server(services.directory_config()))
    config = services.directory_config()
    assert SERVICE_PASSWORD.encode() not in bytes(config.bind_password)


def test_directory_test_reports_users_and_nested_groups(slapd, admin):
    configure(admin, slapd)
    out = services.directory_test(actor=admin, username="alice")
    assert out["user_found"] is True
    assert {ENGINEERING.lower(), STAFF.lower()} <= set(out["groups"])
    assert out["users"] == 7  # erin (disabled) does not match the filter


def test_strongroom_two_factor_and_throttling_apply_to_directory_users(slapd, admin):
    configure(admin, slapd)
    bob = sign_in("bob", PASSWORDS["bob"])
    enrolment = user_totp_enrol(user=bob, reauth=REAUTH_TRUSTED)
    user_totp_confirm(
        user=bob, code=pyotp.TOTP(enrolment.secret).at(time.time() - 30), reauth=REAUTH_TRUSTED
    )
    with pytest.raises(AuthenticationFailed) as caught:
        sign_in("bob", PASSWORDS["bob"])
    assert caught.value.code == "otp_required"
    assert sign_in("bob", PASSWORDS["bob"], otp_code=pyotp.TOTP(enrolment.secret).now()) == bob

    # Wrong directory passwords count towards the user name's throttle like local ones:
    # then even the right password is refused until the window passes.
    throttled_after = None
    for attempt in range(50):
        try:
            sign_in("hank", f"wrong-{attempt}", client_ip=f"127.0.2.{attempt + 1}")
        except Throttled:
            throttled_after = attempt
            break
        except AuthenticationFailed:
            continue
    assert throttled_after is not None and throttled_after >= 3
    with pytest.raises(Throttled):
        sign_in("hank", PASSWORDS["hank"], client_ip="127.0.3.1")


def test_the_scheduled_task_deactivates_who_is_outside_the_allowed_group(slapd, admin):
    configure(admin, slapd)
    alice = sign_in("alice", PASSWORDS["alice"])
    bob = sign_in("bob", PASSWORDS["bob"])
    configure(admin, slapd, allowed_group_dn=ADMINS)  # bob is in admins, alice is not

    directory_sync_periodic.call_local()

    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.is_active, bob.is_active) == (False, True)
    assert services.directory_config().last_sync_result == {
        "checked": 2,
        "deactivated": 1,
        "kept": 1,
    }


def test_in_chain_mode_sends_active_directorys_transitive_query(slapd, admin):
    configure(admin, slapd, nesting="in_chain")
    # OpenLDAP does not implement LDAP_MATCHING_RULE_IN_CHAIN: it evaluates the extensible
    # match as undefined (logged as "(?=undefined)"), finds no group, and the sign-in is
    # refused (docs/identity.md, "LDAP / Active Directory": choose "walk" there). Active
    # Directory answers it.
    refused("alice", PASSWORDS["alice"])
    searches = [
        line for line in slapd.log_path.read_text().splitlines() if f'SRCH base="{GROUPS}"' in line
    ]
    assert searches[-1].endswith('filter="(&(objectClass=groupOfNames)(?=undefined))"')
