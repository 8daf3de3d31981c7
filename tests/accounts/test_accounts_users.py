"""Users over the API: the admin-only endpoints, the directory, passwords, deactivation."""

from __future__ import annotations

import uuid

import pytest

from factories import PASSWORD, Api, api_for, error_code, user_make
from strongroom.accounts import services
from strongroom.accounts.models import Role, User
from strongroom.audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

NEW_PASSWORD = "Another-long-passphrase-42"
DIRECTORY_FIELDS = {"id", "username", "full_name", "is_active"}


def admin_calls(target: User, group_id: str) -> list[tuple[str, str, dict | None]]:
    """Every administrator-only endpoint of the people and settings API."""
    t, g = target.pk, group_id
    return [
        ("post", "/users", {"username": "newbie", "password": NEW_PASSWORD}),
        ("patch", f"/users/{t}", {"full_name": "Renamed"}),
        ("post", f"/users/{t}/deactivate", None),
        ("post", f"/users/{t}/activate", None),
        ("post", f"/users/{t}/reset-password", {}),
        ("post", f"/users/{t}/reset-totp", None),
        ("post", "/user-groups", {"name": "New group"}),
        ("patch", f"/user-groups/{g}", {"name": "Renamed group"}),
        ("post", f"/user-groups/{g}/members", {"user_id": str(t)}),
        ("delete", f"/user-groups/{g}/members/{t}", None),
        ("delete", f"/user-groups/{g}", None),
        ("delete", f"/users/{t}", None),
        ("get", "/settings", None),
        ("put", "/settings", {"retrieval_reason_required": True}),
    ]


def _call(api: Api, method: str, path: str, body: dict | None):
    if method in {"get", "delete"}:
        return getattr(api, method)(path)
    return getattr(api, method)(path, body)


@pytest.mark.parametrize("role", [Role.PASSWORD_ADMIN, Role.PASSWORD_USER, Role.AUDITOR])
def test_other_roles_get_403_from_every_admin_endpoint(role, admin):
    target = user_make(username="target")
    group = services.user_group_create(actor=admin, name="Ops")
    services.user_group_add_member(actor=admin, group=group, user=target)
    api = api_for(user_make(role))
    before = AuditEvent.objects.count()
    for method, path, body in admin_calls(target, str(group.pk)):
        response = _call(api, method, path, body)
        assert response.status_code == 403, (method, path, response.content)
        assert error_code(response) == "forbidden"
    assert AuditEvent.objects.count() == before
    target.refresh_from_db()
    assert (target.full_name, target.is_active) == ("", True)
    # Unknown IDs get the same 403: a denied caller cannot probe which IDs exist.
    assert api.patch(f"/users/{uuid.uuid4()}", {"full_name": "x"}).status_code == 403


def test_admin_can_use_every_admin_endpoint(admin_api, admin):
    target = user_make(username="target")
    group = services.user_group_create(actor=admin, name="Ops")
    services.user_group_add_member(actor=admin, group=group, user=target)
    for method, path, body in admin_calls(target, str(group.pk)):
        response = _call(admin_api, method, path, body)
        assert response.status_code in {200, 201, 204}, (method, path, response.content)
    assert not User.objects.filter(pk=target.pk).exists()


def test_directory_view_for_other_roles_and_full_view_for_admins(admin_api, make_user):
    bob = make_user("password_user", username="bob", email="bob@example.test", full_name="Bob")
    for role in (Role.PASSWORD_USER, Role.AUDITOR, Role.PASSWORD_ADMIN):
        api = api_for(make_user(role))
        listed = api.get("/users").json()
        assert all(set(u) == DIRECTORY_FIELDS for u in listed)
        assert {"id": str(bob.pk), "username": "bob", "full_name": "Bob", "is_active": True} in (
            listed
        )
        one = api.get(f"/users/{bob.pk}").json()
        assert set(one) == DIRECTORY_FIELDS
        assert "bob@example.test" not in api.get("/users").content.decode()

    full = admin_api.get(f"/users/{bob.pk}").json()
    assert full["email"] == "bob@example.test"
    assert full["role"] == "password_user"
    assert full["totp_enabled"] is False
    listed = admin_api.get("/users", {"q": "bob"}).json()
    assert [u["username"] for u in listed] == ["bob"]
    assert listed[0]["email"] == "bob@example.test"


@pytest.mark.parametrize("bad_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_unknown_user_ids_are_404(admin_api, bad_id):
    assert admin_api.get(f"/users/{bad_id}").status_code == 404
    for method, path, body in [
        ("patch", f"/users/{bad_id}", {"full_name": "x"}),
        ("post", f"/users/{bad_id}/deactivate", None),
        ("post", f"/users/{bad_id}/activate", None),
        ("post", f"/users/{bad_id}/reset-password", {}),
        ("post", f"/users/{bad_id}/reset-totp", None),
        ("delete", f"/users/{bad_id}", None),
    ]:
        response = _call(admin_api, method, path, body)
        assert response.status_code == 404, (method, path)
        assert error_code(response) == "not_found"


def test_create_user_validates_and_audits(admin_api):
    created = admin_api.post(
        "/users",
        {
            "username": "dana",
            "password": NEW_PASSWORD,
            "role": "auditor",
            "email": "dana@example.test",
            "full_name": "Dana <b>Scully</b> \u202eRTL 😀",
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["role"] == "auditor"
    assert body["full_name"] == "Dana <b>Scully</b> \u202eRTL 😀"
    assert Api().login("dana", NEW_PASSWORD).status_code == 200
    event = AuditEvent.objects.get(action="user.create", object_id=body["id"])
    assert event.details == {"role": "auditor"}

    weak = admin_api.post("/users", {"username": "eve", "password": "short"})
    assert weak.status_code == 400
    assert weak.json()["error"]["details"]["field"] == "password"
    assert weak.json()["error"]["details"]["problems"]
    assert admin_api.post("/users", {"username": "DANA", "password": NEW_PASSWORD}).status_code == (
        409
    )
    bad_email = admin_api.post(
        "/users", {"username": "fred", "password": NEW_PASSWORD, "email": "not an email"}
    )
    assert bad_email.status_code == 400
    bad_role = admin_api.post(
        "/users", {"username": "gus", "password": NEW_PASSWORD, "role": "superuser"}
    )
    assert bad_role.status_code == 422
    assert not User.objects.filter(username__in=["eve", "fred", "gus"]).exists()


def test_update_user_records_old_and_new_values(admin_api, make_user):
    user = make_user(username="hal")
    response = admin_api.patch(
        f"/users/{user.pk}",
        {"email": "hal@example.test", "full_name": "=cmd|' /C calc'!A0", "role": "password_admin"},
    )
    assert response.status_code == 200
    assert response.json()["role"] == "password_admin"
    assert response.json()["full_name"] == "=cmd|' /C calc'!A0"
    event = AuditEvent.objects.get(action="user.update")
    assert event.details["changes"]["role"] == {"old": "password_user", "new": "password_admin"}
    assert event.details["changes"]["email"] == {"old": "", "new": "hal@example.test"}
    before = AuditEvent.objects.count()
    assert admin_api.patch(f"/users/{user.pk}", {"role": "password_admin"}).status_code == 200
    assert AuditEvent.objects.count() == before  # no change, no record


def test_a_user_cannot_escalate_their_own_role(make_user):
    user = make_user(username="ian")
    api = api_for(user)
    assert api.patch(f"/users/{user.pk}", {"role": "admin"}).status_code == 403
    created = api.post("/users", {"username": "ian2", "password": NEW_PASSWORD, "role": "admin"})
    assert created.status_code == 403
    user.refresh_from_db()
    assert user.role == Role.PASSWORD_USER
    assert "users.manage" not in api.get("/me").json()["permissions"]
    assert not User.objects.filter(username="ian2").exists()


def test_the_last_active_admin_cannot_be_removed(admin, admin_api):
    own = f"/users/{admin.pk}"
    assert admin_api.reauth().status_code == 200
    assert admin_api.patch(own, {"role": "auditor"}).status_code == 409
    assert admin_api.post(f"{own}/deactivate").status_code == 409
    assert admin_api.delete(own).status_code == 409
    second = user_make("admin", username="second-admin")
    second_api = api_for(second)
    assert second_api.patch(own, {"role": "auditor"}).status_code == 200
    assert second_api.reauth().status_code == 200
    assert second_api.patch(f"/users/{second.pk}", {"role": "auditor"}).status_code == 409


def test_deactivate_and_activate(admin_api, make_user):
    user = make_user(username="jo")
    off = admin_api.post(f"/users/{user.pk}/deactivate")
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert Api().login("jo").status_code == 401
    on = admin_api.post(f"/users/{user.pk}/activate")
    assert on.status_code == 200 and on.json()["is_active"] is True
    assert Api().login("jo").status_code == 200
    actions = list(
        AuditEvent.objects.filter(object_id=str(user.pk), action__startswith="user.")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["user.create", "user.deactivate", "user.activate"]


def test_admin_password_reset_generated_and_chosen(admin_api, make_user, caplog):
    user = make_user(username="kim")
    reset = admin_api.post(f"/users/{user.pk}/reset-password")
    assert reset.status_code == 200
    temporary = reset.json()["generated_password"]
    assert reset.json()["user"]["must_change_password"] is True
    assert Api().login("kim").status_code == 401  # the old password is gone
    assert Api().login("kim", temporary).json()["must_change_password"] is True

    weak = admin_api.post(f"/users/{user.pk}/reset-password", {"password": "123"})
    assert weak.status_code == 400
    chosen = admin_api.post(f"/users/{user.pk}/reset-password", {"password": NEW_PASSWORD})
    assert chosen.status_code == 200
    assert chosen.json()["generated_password"] is None
    assert Api().login("kim", NEW_PASSWORD).status_code == 200

    events = AuditEvent.objects.filter(action="user.password_reset").order_by("seq")
    assert [e.details for e in events] == [{"generated": True}, {"generated": False}]
    dumped = " ".join(str(v) for e in AuditEvent.objects.values() for v in e.values())
    assert temporary not in dumped and NEW_PASSWORD not in dumped
    assert temporary not in caplog.text and NEW_PASSWORD not in caplog.text


def test_change_own_password(make_user):
    lee = make_user(username="lee")
    api, other_session = Api(), Api()
    assert api.login("lee").status_code == 200
    assert other_session.login("lee").status_code == 200

    wrong = api.post("/me/password", {"current_password": "nope", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 401 and error_code(wrong) == "bad_password"
    weak = api.post("/me/password", {"current_password": PASSWORD, "new_password": "lee12345"})
    assert weak.status_code == 400
    assert weak.json()["error"]["details"]["field"] == "new_password"
    same = api.post("/me/password", {"current_password": PASSWORD, "new_password": PASSWORD})
    assert same.status_code == 400

    ok = api.post("/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert ok.status_code == 204
    assert api.get("/me").status_code == 200
    assert other_session.get("/me").status_code == 401
    assert Api().login("lee", PASSWORD).status_code == 401
    assert Api().login("lee", NEW_PASSWORD).status_code == 200
    actions = AuditEvent.objects.filter(action="user.password_change")
    assert sorted(e.outcome for e in actions) == ["failure", "success"]
    assert {e.actor_id for e in actions} == {lee.pk}


def test_wrong_current_passwords_are_throttled(make_user, settings):
    settings.LOGIN_THROTTLE_FAILURES = 2
    api = api_for(make_user(username="max"))
    body = {"current_password": "guess", "new_password": NEW_PASSWORD}
    assert api.post("/me/password", body).status_code == 401
    assert api.post("/me/password", body).status_code == 401
    throttled = api.post("/me/password", {**body, "current_password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0


def test_delete_user(admin_api, make_user):
    from strongroom.vault import services as vault_services

    user = make_user(username="ned")
    assert admin_api.delete(f"/users/{user.pk}").status_code == 204
    assert admin_api.get(f"/users/{user.pk}").status_code == 404
    assert AuditEvent.objects.filter(action="user.delete", object_id=str(user.pk)).exists()

    owner = make_user("password_admin", username="owner")
    vault_services.resource_create(actor=owner, name="web01")
    refused = admin_api.delete(f"/users/{owner.pk}")
    assert refused.status_code == 409
    assert User.objects.filter(pk=owner.pk).exists()
    assert not AuditEvent.objects.filter(action="user.delete", object_id=str(owner.pk)).exists()
