"""What the password health report finds and how it is run: weak (zxcvbn), reused, old (by
the policy's maximum age, with an injected clock), breached (a small list in the Pwned
Passwords format); results tied to the password version; the refresh flow through the API
and the worker task; the breached list's load with bad input; the CLI (docs/health.md)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.test import Client

from factories import PASSWORD, account_make, api_for, error_code, resource_make, user_make
from strongroom.accounts.settings import setting_set
from strongroom.audit.models import AuditEvent
from strongroom.health import selectors, services
from strongroom.health.models import AccountHealth, BreachedHash, BreachedList, HealthRun
from strongroom.vault import services as vault

from .helpers import breached_file, run_check, sha1_line

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

STRONG = "violet-Kettle-Orbit-8812-ramp"


def _by_user(actor):
    return {a.username: a for a in selectors.health_report(actor=actor).accounts}


def test_weak_reused_and_breached_are_found_and_tied_to_the_password_version(admin):
    owner = user_make("password_admin")
    server = resource_make(owner, "db-01")
    weak = account_make(owner, server, "weak", "qwerty123")
    # The username as the password: zxcvbn is told the account's username and resource.
    named = account_make(owner, server, "Zebulon-Marchetti", "Zebulon-Marchetti")
    account_make(owner, server, "one", STRONG)
    account_make(owner, resource_make(owner, "db-02"), "two", STRONG)
    breached = account_make(owner, server, "pwned", "Sunflower-Trellis-77")
    no_password = account_make(owner, server, "keyonly", "")
    services.breached_list_load(
        actor=admin, source=io.BytesIO(breached_file("Sunflower-Trellis-77")), name="list"
    )
    run = run_check()
    assert run.state == "done" and run.breached_checked and run.account_count == 6
    found = _by_user(owner)
    assert found["weak"].weak and found["weak"].score <= 1
    assert found["Zebulon-Marchetti"].weak
    assert found["one"].reused_with == 1 and found["two"].reused_with == 1
    assert not found["one"].weak and not found["one"].breached
    assert found["pwned"].breached and found["pwned"].breached_count == 10
    assert "keyonly" not in found or not found["keyonly"].findings
    # Both reused accounts carry the same random label; nothing else links them.
    rows = AccountHealth.objects.filter(run=run, reuse_group__isnull=False)
    assert rows.count() == 2 and len({r.reuse_group for r in rows}) == 1
    assert AccountHealth.objects.get(account=no_password).score is None

    # A password changed after the run: the result is stale, not a finding.
    vault.account_update(actor=owner, account_id=weak.pk, password=STRONG)
    stale = _by_user(owner)["weak"]
    assert stale.stale and not stale.weak and stale.findings == []
    # A new account has no result until the next run.
    account_make(owner, server, "newcomer", "abc")
    assert _by_user(owner)["newcomer"].unchecked
    run_check(admin)
    found = _by_user(owner)
    assert not found["weak"].stale and found["weak"].reused_with == 2
    assert found["newcomer"].weak and not found["newcomer"].unchecked
    assert named.pk and breached.pk
    # Only the newest run's results are kept.
    assert HealthRun.objects.count() == 1


def test_old_follows_the_policy_and_the_clock(admin, clock):
    owner = user_make("password_admin")
    account = account_make(owner, resource_make(owner), "aged", STRONG)
    run_check()
    assert not _by_user(owner)["aged"].old
    clock.advance(timedelta(days=364).total_seconds())
    assert not _by_user(owner)["aged"].old
    clock.advance(timedelta(days=2).total_seconds())
    aged = _by_user(owner)["aged"]
    assert aged.old and aged.age_days == 366 and aged.findings == ["old"]
    assert selectors.health_report(actor=admin).org_counts["old"] == 1
    setting_set(actor=admin, key="password_max_age_days", value=400)
    assert not _by_user(owner)["aged"].old
    setting_set(actor=admin, key="password_max_age_days", value=0)
    assert not _by_user(owner)["aged"].old
    setting_set(actor=admin, key="password_max_age_days", value=30)
    assert _by_user(owner)["aged"].old
    # Changing the password makes it new again, before any run.
    vault.account_update(actor=owner, account_id=account.pk, password=STRONG + "!")
    assert not _by_user(owner)["aged"].old


def test_the_policy_settings_refuse_bad_values(admin_api):
    for key, value in (
        ("password_max_age_days", -1),
        ("password_max_age_days", "365"),
        ("password_max_age_days", True),
        ("password_max_age_days", 10**9),
        ("password_min_score", 0),
        ("password_min_score", 5),
    ):
        response = admin_api.put("/settings", {key: value})
        assert response.status_code == 400 and error_code(response) == "invalid", (key, value)
    ok = admin_api.put("/settings", {"password_min_score": 4, "password_max_age_days": 90})
    assert ok.status_code == 200
    assert selectors.policy_get() == selectors.Policy(max_age_days=90, min_score=4)


def test_refresh_over_the_api_queues_a_run_the_worker_computes(
    admin, django_capture_on_commit_callbacks
):
    owner = user_make("password_admin")
    account_make(owner, resource_make(owner), "root", "letmein")
    api = api_for(owner)
    assert api.get("/password-health").json()["run"] is None
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/password-health/refresh")
    # Huey runs in immediate mode in the tests: the task ran on commit.
    assert response.status_code == 202 and response.json()["state"] == "queued"
    body = api.get("/password-health").json()
    assert body["run"]["state"] == "done" and body["run"]["requested_by"] == owner.username
    # How many accounts the vault holds is for administrators and auditors only.
    assert body["run"]["account_count"] is None
    assert api_for(admin).get("/password-health").json()["run"]["account_count"] == 1
    assert body["counts"]["weak"] == 1 and body["pending"] is None
    assert AuditEvent.objects.filter(action="health.run_request", actor_id=owner.pk).exists()
    assert AuditEvent.objects.filter(action="health.run").exists()
    # Not an administrator: one refresh per five minutes.
    again = api.post("/password-health/refresh")
    assert again.status_code == 429 and error_code(again) == "throttled"
    assert HealthRun.objects.count() == 1
    # An administrator may always; a run already queued is given back, not doubled.
    admin_api = api_for(admin)
    first = admin_api.post("/password-health/refresh").json()
    second = admin_api.post("/password-health/refresh").json()
    assert first["id"] == second["id"] and first["state"] == "queued"
    pending = api.get("/password-health").json()["pending"]
    assert pending["id"] == first["id"]
    # A read-only token cannot ask for a run.
    denied = api_for(owner, scopes=["read"]).post("/password-health/refresh")
    assert denied.status_code == 403 and error_code(denied) == "insufficient_scope"


def test_a_run_that_cannot_be_audited_decrypts_nothing_and_says_so(admin, monkeypatch):
    from strongroom.core.errors import AuditUnavailable

    owner = user_make("password_admin")
    account_make(owner, resource_make(owner), "root", "letmein")
    run = services.health_run_request(actor=admin)

    def refuse(**kwargs):
        raise AuditUnavailable("audit trail unavailable")

    def no_decrypt(*args, **kwargs):
        raise AssertionError("decrypted without an audit record")

    monkeypatch.setattr(services, "audit_record", refuse)
    monkeypatch.setattr(services, "_examine", no_decrypt)
    done = services.health_run_compute(run_id=run.pk)
    assert done.state == "failed" and done.problem == "audit_unavailable"
    assert not AccountHealth.objects.exists()
    # Computing it again does nothing: it is not queued any more.
    assert services.health_run_compute(run_id=run.pk).state == "failed"


def test_the_breached_list_loads_all_or_nothing_with_clear_errors(admin):
    api = api_for(admin)
    good = (
        b"\xef\xbb\xbf" + breached_file("hunter2") + b"\n" + sha1_line("x").split(":")[0].encode()
    )
    loaded = api.upload("/password-health/breached-list", good, "", filename="pwned <b>.txt")
    assert loaded.status_code == 200, loaded.content
    assert loaded.json()["hash_count"] == 5 and loaded.json()["name"] == "pwned <b>.txt"
    assert BreachedHash.objects.count() == 5
    for data, message in (
        (b"", "the file holds no hashes"),
        (b"\r\n\r\n", "the file holds no hashes"),
        (breached_file("a") + b"not-a-hash:1\r\n", "line 5 is not a line of the breached list"),
        (b"=cmd|' /C calc'!A0\n", "line 1 is not a line"),
        (b"8846F7EAEE8FB117AD06BDD830B7586C:3\n", "line 1 holds an NTLM hash"),
        (sha1_line("a").encode() + b"\n\xff\xfe\n", "line 2 is not a line"),
        (sha1_line("a").encode() + b":9\n", "line 1 is not a line"),
        (("<script>" * 1000).encode(), "line 1 is not a line"),
    ):
        refused = api.upload("/password-health/breached-list", data, "")
        assert refused.status_code == 400, (data[:40], refused.content)
        assert message in refused.json()["error"]["message"], refused.json()
        assert "script" not in refused.json()["error"]["message"]
        # Nothing changed: the previous list is still there.
        assert BreachedHash.objects.count() == 5
        assert BreachedList.objects.get().name == "pwned <b>.txt"
    for role in ("password_admin", "password_user", "auditor"):
        other = api_for(user_make(role))
        denied = other.upload("/password-health/breached-list", breached_file("b"), "")
        assert denied.status_code == 403
        assert other.get("/password-health/breached-list").status_code == 403
        assert other.delete("/password-health/breached-list").status_code == 403
    assert api.get("/password-health/breached-list").json()["hash_count"] == 5
    assert api.delete("/password-health/breached-list").status_code == 204
    assert (
        not BreachedHash.objects.exists()
        and api.get("/password-health/breached-list").json() is None
    )
    actions = list(
        AuditEvent.objects.filter(action__startswith="health.breached")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["health.breached_list_load", "health.breached_list_clear"]


def test_the_page_refreshes_and_loads_a_list_with_form_errors(
    admin, django_capture_on_commit_callbacks
):
    owner = user_make("password_admin")
    account_make(owner, resource_make(owner, "mail"), "postmaster", "hunter2")
    client = Client()
    assert client.login(username=admin.username, password=PASSWORD)
    page = client.get("/password-health/")
    assert "No check has run yet" in page.content.decode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = client.post(
        "/password-health/breached-list",
        {"file": SimpleUploadedFile("list.txt", b"nonsense\n")},
    )
    assert bad.status_code == 400
    assert "Line 1 is not a line of the breached list" in bad.content.decode()
    assert not BreachedHash.objects.exists()
    done = client.post(
        "/password-health/breached-list",
        {"file": SimpleUploadedFile("list.txt", breached_file("hunter2"))},
    )
    assert done.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        refreshed = client.post("/password-health/refresh")
    assert refreshed.status_code == 302
    page = client.get("/password-health/").content.decode()
    assert "data-computed" in page and 'data-org-count="breached">1<' in page
    # The admin was given no access: counts, no names.
    assert "postmaster" not in page and ">mail<" not in page
    owner_client = Client()
    assert owner_client.login(username=owner.username, password=PASSWORD)
    mine = owner_client.get("/password-health/?only=breached").content.decode()
    assert "postmaster" in mine and "Breached (10)" in mine and "hunter2" not in mine
    assert "data-breached-form" not in mine
    refused = owner_client.post(
        "/password-health/breached-list",
        {"file": SimpleUploadedFile("list.txt", breached_file("x"))},
    )
    assert refused.status_code == 400 and BreachedHash.objects.count() == 4
    assert owner_client.get("/password-health/refresh").status_code == 405


def test_the_cli_checks_and_loads_a_list(admin, tmp_path, capsys):
    from strongroom.cli.main import main

    owner = user_make("password_admin")
    account_make(owner, resource_make(owner, "fw"), "root", "dragon")
    listing = tmp_path / "pwned.txt"
    listing.write_bytes(breached_file("dragon"))
    assert main(["health", "breached", "load", str(listing), "--user", admin.username]) == 0
    assert "4 hashes" in capsys.readouterr().out
    assert (
        main(
            ["health", "breached", "load", str(tmp_path / "missing.txt"), "--user", admin.username]
        )
        == 1
    )
    assert "missing.txt" in capsys.readouterr().err
    assert main(["health", "breached", "load", str(listing), "--user", owner.username]) == 1
    assert "settings.manage" in capsys.readouterr().err
    assert main(["health", "check"]) == 0
    assert "checked the vault at" in capsys.readouterr().out
    assert main(["health", "show", "--user", owner.username]) == 0
    out = capsys.readouterr().out
    assert "fw / root: weak, breached" in out and "dragon" not in out
    assert main(["health", "check", "--queue", "--user", admin.username]) == 0
    assert "the worker runs it" in capsys.readouterr().out
    assert main(["health", "breached", "clear", "--user", admin.username]) == 0
    assert "4 hashes" in capsys.readouterr().out


def test_the_general_settings_page_sets_the_policy(admin):
    client = Client()
    assert client.login(username=admin.username, password=PASSWORD)
    page = client.get("/admin/settings/").content.decode()
    assert 'name="password_max_age_days"' in page and 'value="365"' in page
    bad = client.post("/admin/settings/", {"password_max_age_days": "-5"})
    assert bad.status_code == 200 and "Must be from 0 to 36500" in bad.content.decode()
    assert selectors.policy_get().max_age_days == 365
    client.post("/admin/settings/", {"password_max_age_days": "90", "password_min_score": "4"})
    assert selectors.policy_get() == selectors.Policy(max_age_days=90, min_score=4)
    # A field left out keeps its value.
    client.post("/admin/settings/", {"retrieval_reason_required": "on"})
    assert selectors.policy_get() == selectors.Policy(max_age_days=90, min_score=4)


def test_a_run_scores_again_only_the_passwords_that_changed(admin, monkeypatch):
    """zxcvbn is most of a run's cost: an unchanged password keeps the last run's score."""
    owner = user_make("password_admin")
    server = resource_make(owner)
    kept = account_make(owner, server, "kept", STRONG)
    changed = account_make(owner, server, "changed", STRONG + "-2")
    run_check()
    scored: list[int] = []
    real = services._score

    def counting(password, user_inputs):
        score = real(password, user_inputs)
        scored.append(score)
        return score

    monkeypatch.setattr(services, "_score", counting)
    vault.account_update(actor=owner, account_id=changed.pk, password="abc123")
    run_check(admin)
    assert scored == [AccountHealth.objects.get(account=changed).score] and scored[0] <= 1
    assert AccountHealth.objects.get(account=kept).score == 4
    assert _by_user(owner)["changed"].weak and not _by_user(owner)["kept"].weak


def test_the_daily_task_queues_a_run_the_worker_task_computes(
    admin, django_capture_on_commit_callbacks
):
    from strongroom.health.tasks import health_run_daily

    owner = user_make("password_admin")
    account_make(owner, resource_make(owner), "root", "letmein")
    with django_capture_on_commit_callbacks(execute=True):
        health_run_daily.call_local()
    run = HealthRun.objects.get()
    assert run.state == "done" and run.requested_by_name == "system"
    assert AuditEvent.objects.filter(action="health.run_request", actor_id=None).exists()
    assert _by_user(owner)["root"].weak


def test_deleting_accounts_and_resources_deletes_their_results(admin):
    owner = user_make("password_admin")
    first = resource_make(owner)
    gone = account_make(owner, first, "gone", "letmein")
    second = resource_make(owner)
    account_make(owner, second, "also-gone", "letmein")
    kept = account_make(owner, resource_make(owner), "kept", "letmein")
    run_check()
    assert AccountHealth.objects.count() == 3
    vault.account_delete(actor=owner, account_id=gone.pk)
    vault.resource_delete(actor=owner, resource_id=second.pk)
    assert list(AccountHealth.objects.values_list("account_id", flat=True)) == [kept.pk]
    found = _by_user(owner)
    assert set(found) == {"kept"} and found["kept"].reused_with == 0
    assert selectors.health_report(actor=admin).org_counts["reused"] == 0


def test_an_account_deleted_while_the_run_reads_the_vault_has_no_result(admin, monkeypatch):
    owner = user_make("password_admin")
    server = resource_make(owner)
    doomed = account_make(owner, server, "doomed", "letmein")
    account_make(owner, server, "stays", STRONG)
    real = services._examine

    def examine_then_delete():
        found = real()
        # Another request deletes an account after the run read it.
        vault.account_delete(actor=owner, account_id=doomed.pk)
        return found

    monkeypatch.setattr(services, "_examine", examine_then_delete)
    run = run_check()
    assert run.state == "done"
    assert list(AccountHealth.objects.values_list("account__username", flat=True)) == ["stays"]


def test_the_list_upload_names_a_missing_file_and_refuses_a_bad_name(admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    api = api_for(admin)
    missing = api.post("/password-health/breached-list", {})
    assert missing.status_code == 422 and error_code(missing) == "invalid"
    assert missing.json()["error"]["details"]["fields"][0]["field"] == "file"
    for name in ("a\x00b", "n" * 301):
        bad = api.client.post(
            "/api/v1/password-health/breached-list",
            {"file": SimpleUploadedFile("l.txt", breached_file("x")), "name": name},
            headers=api._headers({}),
        )
        assert bad.status_code == 400 and error_code(bad) == "invalid", bad.content
    assert not BreachedHash.objects.exists() and not BreachedList.objects.exists()
