"""The Export menu and Admin → Export / Offline Access through Django's test client (real
sessions, CSRF, middleware, templates)."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from factories import (
    LOGIN_PASSWORD,
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    group_make,
    resource_make,
    rgroup_make,
    user_make,
)
from strongroom.audit.models import AuditEvent
from strongroom.exports import policy as export_policy
from strongroom.exports.models import ExportRule
from strongroom.exports.offline_file import offline_file_open

from .helpers import admin, csv_rows, policy_set, rule_set

pytestmark = pytest.mark.django_db


def web(user, **kw) -> Client:
    client = Client(**kw)
    client.force_login(user)
    return client


@pytest.fixture
def owner():
    policy_set(kdf_iterations=TEST_ITERATIONS)
    user = user_make("password_admin")
    resource = resource_make(user, "<b>proxy-01</b>")
    account_make(user, resource, "squid", "Pr0xy-pw")
    rgroup_make(user, resource, name="edge <i>")
    return user


def html_post(**overrides):
    data = {
        "scope": "all",
        "passphrase": PASSPHRASE,
        "passphrase_confirm": PASSPHRASE,
        "reason": "",
    }
    data.update(overrides)
    return data


def test_export_menu_shows_the_options_and_escapes_names(owner):
    response = web(owner).get("/export/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "Encrypted offline copy" in page and "Download spreadsheet" in page
    assert "1 entry today" in page
    assert "edge &lt;i&gt;" in page and "edge <i>" not in page
    assert 'href="/export/"' in page  # the Export entry in the navigation
    assert "without passwords (the policy allows no plain-text passwords)" in page
    assert "disabled" in page.split('name="with_passwords"')[1].split(">")[0]


def test_menu_says_so_when_export_is_refused(owner):
    policy_set(export_enabled=False)
    page = web(owner).get("/export/").content.decode()
    assert "You cannot export." in page
    assert "Exports are turned off for everyone" in page


def test_html_download_without_javascript(owner):
    response = web(owner).post("/export/html/", html_post())
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="strongroom-offline-')
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    payload = offline_file_open(html=response.content, passphrase=PASSPHRASE)
    assert [(e.name, e.password, e.folder) for e in payload.entries] == [
        ("<b>proxy-01</b>", "Pr0xy-pw", "edge <i>")
    ]
    event = AuditEvent.objects.get(action="export.html")
    assert event.details["sha256"] == hashlib.sha256(response.content).hexdigest()


def test_html_download_of_chosen_groups(owner):
    other = resource_make(owner, "outside")
    account_make(owner, other, "x", "outside-pw")
    group = owner.owned_resource_groups.get()
    response = web(owner).post(
        "/export/html/", html_post(scope="groups", resource_groups=[str(group.pk)])
    )
    payload = offline_file_open(html=response.content, passphrase=PASSPHRASE)
    assert [e.name for e in payload.entries] == ["<b>proxy-01</b>"]
    assert payload.title == "Strongroom offline copy: edge <i>"


def test_choosing_groups_without_any_is_an_error(owner):
    response = web(owner).post("/export/html/", html_post(scope="groups"))
    assert response.status_code == 200
    assert "Choose at least one resource group." in response.content.decode()


def test_passphrases_that_differ_reopen_the_dialog_with_the_error(owner):
    response = web(owner).post("/export/html/", html_post(passphrase_confirm=PASSPHRASE + "x"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "The two passphrases differ." in page
    assert "data-open-on-load" in page
    assert PASSPHRASE not in page  # never rendered back
    assert not AuditEvent.objects.filter(action="export.html").exists()


def test_weak_passphrase_shows_the_policy_reason(owner):
    weak = "password1234"
    response = web(owner).post("/export/html/", html_post(passphrase=weak, passphrase_confirm=weak))
    page = response.content.decode()
    assert "too easy to guess" in page
    assert weak not in page
    fetched = web(owner).post(
        "/export/html/",
        html_post(passphrase=LOGIN_PASSWORD, passphrase_confirm=LOGIN_PASSWORD),
        headers={"X-Requested-With": "fetch"},
    )
    assert fetched.status_code == 400
    error = fetched.json()["error"]
    assert error["code"] == "passphrase_refused"
    assert error["details"]["fields"] == [
        {"field": "passphrase", "problem": "The passphrase must not be your sign-in password."}
    ]
    assert LOGIN_PASSWORD not in fetched.content.decode()


def test_fetch_form_errors_come_back_as_json(owner):
    policy_set(reason_required=True)
    response = web(owner).post(
        "/export/html/", html_post(passphrase_confirm=""), headers={"X-Requested-With": "fetch"}
    )
    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]
    assert {f["field"] for f in fields} == {"passphrase_confirm", "reason"}


def test_refused_by_policy_answers_403_to_fetch(owner):
    rule_set(False, user_group_id=group_make(owner).pk)
    assert not export_policy.export_decision(user=owner).allowed
    response = web(owner).post("/export/html/", html_post(), headers={"X-Requested-With": "fetch"})
    assert response.status_code == 403
    assert "refuses exports" in response.json()["error"]["message"]


def test_spreadsheet_download(owner):
    policy_set(plain_text_allowed=True)
    client = web(owner)
    response = client.post(
        "/export/spreadsheet/", {"format": "csv", "with_passwords": "on", "scope": "all"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.csv"')
    [row] = csv_rows(response.content)
    assert row["Password"] == "Pr0xy-pw"
    xlsx = client.post("/export/spreadsheet/", {"format": "xlsx", "scope": "all"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_spreadsheet_with_passwords_ignored_when_the_field_is_disabled(owner):
    # The checkbox is disabled while plain text is off: a forged "on" is ignored by the form,
    # and the service would refuse it anyway.
    response = web(owner).post(
        "/export/spreadsheet/", {"format": "csv", "with_passwords": "on", "scope": "all"}
    )
    assert response.status_code == 200
    assert b"Pr0xy-pw" not in response.content


def test_downloads_need_post_sign_in_and_csrf(owner):
    assert web(owner).get("/export/html/").status_code == 405
    anonymous = Client().post("/export/html/", html_post())
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    strict = web(owner, enforce_csrf_checks=True)
    assert strict.post("/export/html/", html_post()).status_code == 403
    assert not AuditEvent.objects.filter(action="export.html").exists()


def test_admin_page_is_for_administrators(owner):
    for role in ("password_admin", "password_user", "auditor"):
        assert web(user_make(role)).get("/admin/export/").status_code == 403
    page = web(admin()).get("/admin/export/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Export / Offline Access" in text
    assert 'aria-current="page"' in text


def test_admin_saves_the_policy_and_rules(owner):
    boss = admin()
    client = web(boss)
    response = client.post(
        "/admin/export/",
        {
            "export_enabled": "",
            "plain_text_allowed": "on",
            "reason_required": "on",
            "passphrase_min_length": "16",
            "passphrase_min_score": "4",
            "kdf_iterations": "700000",
            "max_age_days": "10",
            "offline_formats": ["html"],
            "kdbx_memory_mib": "32",
            "kdbx_iterations": "2",
            "kdbx_parallelism": "1",
            "html_attachment_max_bytes": "500000",
            "html_attachments_total_bytes": "0",
        },
    )
    assert response.status_code == 302
    assert export_policy.policy_get().as_dict() == {
        "export_enabled": False,
        "plain_text_allowed": True,
        "reason_required": True,
        "passphrase_min_length": 16,
        "passphrase_min_score": 4,
        "kdf_iterations": 700_000,
        "max_age_days": 10,
        "offline_formats": ["html"],
        "kdbx_memory_mib": 32,
        "kdbx_iterations": 2,
        "kdbx_parallelism": 1,
        "html_attachment_max_bytes": 500_000,
        "html_attachments_total_bytes": 0,
    }
    bad = client.post(
        "/admin/export/",
        {
            "passphrase_min_length": "4",
            "passphrase_min_score": "3",
            "kdf_iterations": str(TEST_ITERATIONS - 1),
            "max_age_days": "10",
        },
    )
    assert bad.status_code == 200
    assert export_policy.policy_get().passphrase_min_length == 16
    team = group_make(owner, name="field techs")
    added = client.post(
        "/admin/export/rules/",
        {"subject_type": "user_group", "user_group": str(team.pk), "allowed": "allow"},
    )
    assert added.status_code == 302
    rule = ExportRule.objects.get()
    assert rule.user_group_id == team.pk and rule.allowed
    assert export_policy.export_decision(user=owner).allowed
    page = client.get("/admin/export/").content.decode()
    assert "field techs" in page and "Allowed" in page
    missing = client.post("/admin/export/rules/", {"subject_type": "user", "allowed": "refuse"})
    assert missing.status_code == 200 and "Choose one." in missing.content.decode()
    assert client.post(f"/admin/export/rules/{rule.pk}/delete/").status_code == 302
    assert not ExportRule.objects.exists()
