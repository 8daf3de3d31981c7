"""The KeePass (.kdbx) offline copy through the API, the Export dialog, the admin policy
page and `strongroom export` / `strongroom sync` (subprocess): keepassxc-cli opens what
each writes with the passphrase; the policy's allowed formats are enforced and audited."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from cli.helpers import make_installation
from factories import (
    PASSPHRASE,
    TEST_ITERATIONS,
    account_make,
    api_for,
    resource_make,
    rgroup_make,
    user_make,
)
from kdbx.readers import keepassxc_export
from kdbx.test_writer import expected_strings
from strongroom.audit.models import AuditEvent
from strongroom.exports import policy as export_policy
from strongroom.exports import selectors

from .helpers import admin, policy_set

CHEAP_ARGON2 = {"kdbx_memory_mib": 8, "kdbx_iterations": 1, "kdbx_parallelism": 1}


@pytest.fixture
def owner(db):
    policy_set(kdf_iterations=TEST_ITERATIONS, **CHEAP_ARGON2)
    user = user_make("password_admin")
    web = resource_make(user, "<b>proxy-01</b>", host="proxy.example", description="DMZ")
    account_make(user, web, "squid", "Pr0xy-pw\r\n", totp_seed="JBSWY3DPEHPK3PXP")
    account_make(user, resource_make(user, "db-01"), "sa", "Db-pw", notes="line\r\nnext")
    rgroup_make(user, web, name="edge <i>")
    return user


def _matches_scope(path, user) -> None:
    read = keepassxc_export(path, PASSPHRASE)
    scope = selectors.export_entries(user=user, scope=selectors.ExportScope(), with_secrets=True)
    assert sorted((tuple(sorted(r.strings.items())), r.group) for r in read.entries) == sorted(
        (tuple(sorted(expected_strings(e).items())), e.folder) for e in scope
    )


@pytest.mark.django_db
def test_api_kdbx_export_opens_in_keepassxc_and_is_audited(owner, tmp_path):
    api = api_for(owner)
    options = api.get("/exports").json()
    assert options["offline_formats"] == ["html", "kdbx"]
    response = api.post("/exports/offline", {"format": "kdbx", "passphrase": PASSPHRASE})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-keepass2"
    assert response["Content-Disposition"].endswith('.kdbx"')
    path = tmp_path / "api.kdbx"
    path.write_bytes(response.content)
    _matches_scope(path, owner)
    event = AuditEvent.objects.get(action="export.kdbx")
    assert event.details["format"] == "kdbx" and event.details["kdf"] == "argon2id"
    assert event.details["entry_count"] == 2
    assert PASSPHRASE not in json.dumps(event.details)
    # The HTML copy is still the default of the same endpoint.
    html = api.post("/exports/offline", {"passphrase": PASSPHRASE})
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_policy_formats_are_enforced_and_refusals_audited(owner):
    api = api_for(owner)
    policy_api = api_for(admin())
    answer = policy_api.put("/export-policy", {"offline_formats": ["html"]})
    assert answer.status_code == 200, answer.content
    assert answer.json()["offline_formats"] == ["html"]
    refused = api.post("/exports/offline", {"format": "kdbx", "passphrase": PASSPHRASE})
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["refusal"] == "format_not_allowed"
    event = AuditEvent.objects.get(action="export.kdbx", outcome="failure")
    assert event.details["refusal"] == "format_not_allowed"
    bad = policy_api.put("/export-policy", {"offline_formats": ["pdf"]})
    assert bad.status_code == 400
    assert policy_api.put("/export-policy", {"offline_formats": []}).status_code == 400
    assert policy_api.put("/export-policy", {"kdbx_memory_mib": 4}).status_code == 400
    assert export_policy.policy_get().offline_formats == ("html",)


@pytest.mark.django_db
def test_export_dialog_and_admin_page_offer_the_formats(owner, tmp_path):
    client = Client()
    client.force_login(owner)
    page = client.get("/export/").content.decode()
    assert "KeePass database (.kdbx)" in page and "Encrypted web page (.html)" in page
    response = client.post(
        "/export/html/",
        {
            "format": "kdbx",
            "scope": "all",
            "passphrase": PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Disposition"].endswith('.kdbx"')
    path = tmp_path / "web.kdbx"
    path.write_bytes(response.content)
    _matches_scope(path, owner)

    boss = Client()
    boss.force_login(admin())
    current = export_policy.policy_get().as_dict()
    form = {k: v for k, v in current.items() if not isinstance(v, bool | list)}
    form.update({k: "on" for k, v in current.items() if v is True})
    form.update({"offline_formats": ["kdbx"], "kdbx_memory_mib": 16})
    saved = boss.post("/admin/export/", form)
    assert saved.status_code in (200, 302), saved.content[:300]
    policy = export_policy.policy_get()
    assert policy.offline_formats == ("kdbx",) and policy.kdbx_memory_mib == 16
    page = client.get("/export/").content.decode()
    assert "KeePass database (.kdbx)" in page and "Encrypted web page (.html)" not in page


SEED = """
from strongroom.accounts import services as people
from strongroom.storage import services as storage
from strongroom.vault import services as vault
alice = people.user_create(actor=None, username="alice", password=PW, role="password_admin")
web = vault.resource_create(actor=alice, name="web-01", host="web-01.example")
vault.account_create(
    actor=alice, resource_id=web.pk, username="root", password="W3b-root-pw",
    totp_seed="JBSWY3DPEHPK3PXP",
)
boss = people.user_create(actor=None, username="boss", password=PW, role="admin")
storage.provider_settings_update(
    actor=boss, provider="local", enabled=True, config={"base_dir": BASE}
)
storage.storage_connection_save(
    actor=alice, provider="local", config={"folder": "alice"}, credentials={}
)
result = "ok"
"""


def test_cli_export_and_sync_in_kdbx(tmp_path):
    from cli.helpers import LOGIN_PASSWORD

    inst, cleanup = make_installation(tmp_path / "inst")
    try:
        inst.ok("migrate")
        base = tmp_path / "sync-root"
        base.mkdir()
        seed = SEED.replace("PW", repr(LOGIN_PASSWORD)).replace("BASE", repr(str(base)))
        assert inst.script(seed) == "ok"
        secret = tmp_path / "passphrase.txt"
        secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
        out = tmp_path / "alice.kdbx"
        done = inst.ok(
            "export", "--user", "alice", "--format", "kdbx", "--passphrase-file", str(secret),
            "--out", str(out),
        )  # fmt: skip
        assert "exported 1 entry for alice" in done.stdout and "(kdbx," in done.stdout
        assert PASSPHRASE not in done.stdout + done.stderr
        [entry] = keepassxc_export(out, PASSPHRASE).entries
        assert (entry.strings["Title"], entry.strings["Password"]) == ("web-01", "W3b-root-pw")
        assert entry.strings["otp"].startswith("otpauth://totp/")

        synced = inst.ok(
            "sync", "--user", "alice", "--to", "local", "--format", "kdbx", "--keep",
            "--passphrase-file", str(secret), "--wait",
        )  # fmt: skip
        assert "synced 1 entry" in synced.stdout
        [copy] = base.glob("*/alice/strongroom-offline.kdbx")
        [entry] = keepassxc_export(copy, PASSPHRASE).entries
        assert entry.strings["Password"] == "W3b-root-pw"
        audited = inst.script(
            "from strongroom.audit.models import AuditEvent\n"
            "result = [e.details.get('format') for e in AuditEvent.objects.filter("
            "action__in=['export.kdbx', 'sync.request', 'sync.upload']).order_by('id')]"
        )
        assert audited == ["kdbx", "kdbx", "kdbx"]
    finally:
        cleanup()
