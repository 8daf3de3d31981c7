"""Browser journey through "Sync with <provider> for Mobile Access", as a person does it, on a
desktop and a phone viewport: a user connects Amazon S3 (moto's server on 127.0.0.1, with
credential checking on) on "Cloud storage", opens the Export menu, syncs with passphrase,
confirmation and reason, and is told in the notification area (bottom left) that the copy
is there (bottom left, or under the top bar when a button sits at the bottom: a toast never
covers one). The object is then fetched from moto with boto3 and opened with
``strongroom open --json``: it holds exactly what the user can view (an account shared to
them, not one that is not). The same with the local folder provider on a phone.

The administrator's half (enabling S3 with the moto endpoint allow-listed on Admin »
Integration » Cloud Storage) is the journey of test_browser_storage.py; here it is set up
through the storage services. Tests run Huey in immediate mode (STRONGROOM_HUEY_IMMEDIATE=1,
set by strongroom.testing.pytest_env), so the job runs in the live server's request thread
once the request's transaction commits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, TEST_ITERATIONS
from storage.conftest import moto as moto  # session fixture: moto's S3 server
from storage.moto_server import MotoServer
from strongroom.accounts import services as people
from strongroom.accounts.models import User
from strongroom.exports import services as exports
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync.models import JobState, SyncJob
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .conftest import export_menu_ready, guard_of, open_menu, shoot, sign_in
from .test_browser_daily_use import COVERED_JS

pytestmark = pytest.mark.browser

PASSPHRASE = "plum orbit quietly seventy lantern"
REASON = "On call this weekend, phone only"
TOAST_TIMEOUT_MS = 20_000  # the notification area polls every 5 s


@pytest.fixture(autouse=True)
def _cheap_kdf(settings: Any) -> None:
    settings.STRONGROOM_EXPORT_MIN_ITERATIONS = TEST_ITERATIONS


def person(role: str, name: str) -> User:
    return people.user_create(
        actor=None, username=f"{name}-{uuid.uuid4().hex[:4]}", password=PASSWORD, role=role
    )


def vault_with_scope(tech: User) -> tuple[User, dict[tuple[str, str], str], list[str]]:
    """An owner with two shared accounts on one resource and one resource not shared.
    Returns (administrator, {(name, username): password} the tech can view, secrets the
    tech must not get)."""
    admin = person("admin", "alice")
    owner = person("password_admin", "olga")
    router = vault.resource_create(actor=owner, name="Core router <b>", host="10.0.0.1")
    vault.account_create(
        actor=owner, resource_id=router.pk, username="netadmin", password="R0uter-pw!"
    )
    vault.account_create(
        actor=owner, resource_id=router.pk, username="backup", password="B4ckup é pw"
    )
    hidden = vault.resource_create(actor=owner, name="Payroll DB")
    vault.account_create(actor=owner, resource_id=hidden.pk, username="sa", password="never-seen")
    vault.share_grant(actor=owner, resource_id=router.pk, user_id=tech.pk, level=AccessLevel.VIEW)
    exports.export_policy_update(
        actor=admin, values={"kdf_iterations": TEST_ITERATIONS, "reason_required": True}
    )
    expected = {
        ("Core router <b>", "netadmin"): "R0uter-pw!",
        ("Core router <b>", "backup"): "B4ckup é pw",
    }
    return admin, expected, ["never-seen", "Payroll DB"]


def sync_through_the_export_menu(page: Any, provider_label: str) -> None:
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Export").click()
    expect(page.get_by_role("heading", name="Export", level=1)).to_be_visible()
    export_menu_ready(page)
    page.get_by_role("button", name=f"Sync with {provider_label} for Mobile Access…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    # The server's refusal comes back in the API's error shape and the shared renderer
    # (web/form_errors.js) puts it under the passphrase; a 400 Chromium logs as a failed load.
    guard_of(page).allow(r"status of 400 .*/export/sync/")
    dialog.get_by_label("Passphrase", exact=True).fill("password123456")
    dialog.get_by_label("Passphrase again").fill("password123456")
    dialog.get_by_label("Reason").fill(REASON)
    dialog.get_by_role("button", name="Sync", exact=True).click()
    passphrase_box = dialog.locator(".field.has-error").filter(
        has=page.get_by_label("Passphrase", exact=True)
    )
    expect(passphrase_box.locator(".errorlist")).to_contain_text("too easy to guess")
    # Passphrases that differ are caught in the page, shown the same way.
    dialog.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    dialog.get_by_label("Passphrase again").fill(PASSPHRASE + "!")
    dialog.get_by_role("button", name="Sync", exact=True).click()
    expect(dialog.locator(".errorlist:not([hidden])")).to_contain_text(
        "The two passphrases differ."
    )
    expect(dialog.locator(".has-error")).to_have_count(1)
    dialog.get_by_label("Passphrase again").fill(PASSPHRASE)
    shoot(page, f"sync-dialog-{provider_label}")
    dialog.get_by_role("button", name="Sync", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-export-status]")).to_contain_text("Sync started")


def expect_toast_bottom_left(page: Any, provider_label: str) -> None:
    toast = page.locator("#notifications .toast-success").filter(
        has_text=f"Your offline copy is in {provider_label}"
    )
    expect(toast).to_be_visible(timeout=TOAST_TIMEOUT_MS)
    expect(toast).to_contain_text("2 entries synced to")
    # Measured once its slide-in animation has finished, against the layout viewport: the
    # notification area is fixed at the bottom left of it.
    # Other unread notifications (e.g. "… shared … with you") may stack below it: the area
    # holding them sits in the corner, and this toast is wholly on screen inside it.
    toast.evaluate("el => Promise.all(el.getAnimations().map((a) => a.finished))")
    where = toast.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " const area = el.closest('#notifications'); const a = area.getBoundingClientRect();"
        " const bar = document.querySelector('.topbar').getBoundingClientRect();"
        " return {left: r.left, top: r.top, bottom: r.bottom, area_left: a.left,"
        " area_top: a.top, area_bottom: a.bottom, bar: bar.bottom, width: innerWidth,"
        " height: innerHeight, at_top: area.classList.contains('at-top')}; }"
    )
    assert 0 <= where["left"] <= 16 and 0 <= where["area_left"] <= 16, where
    if where["at_top"]:
        # A button of the page sits at the bottom: the area moved under the top bar.
        assert where["bar"] <= where["area_top"] <= where["bar"] + 24, where
    else:
        assert where["height"] - 24 <= where["area_bottom"] <= where["height"], where
    assert where["top"] >= 0 and where["bottom"] <= where["height"], where
    assert page.evaluate(COVERED_JS)["hits"] == []


def opened_entries(path: Path, tmp_path: Path) -> dict[tuple[str, str], str]:
    """The copy opened with ``strongroom open --json`` in a bare environment."""
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "strongroom.cli", "open", str(path)]
    done = subprocess.run(
        [*command, "--passphrase-file", str(secret), "--json"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["integrity"] == "authenticated"
    assert document["entry_count"] == len(document["entries"])
    return {(e["name"], e["username"]): e["password"] for e in document["entries"]}


def finished_job(user: User, provider: str) -> SyncJob:
    job = SyncJob.objects.get(user=user, provider=provider)
    assert job.state == JobState.SUCCEEDED, (job.state, job.error_code, job.last_error)
    assert job.reason == REASON
    return job


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_user_connects_s3_syncs_and_the_object_opens_to_their_scope(
    new_page: Any, device: str, moto: MotoServer, tmp_path: Path
) -> None:
    tech = person("password_user", "tom")
    admin, expected, never = vault_with_scope(tech)
    storage.provider_settings_update(
        actor=admin, provider="s3", enabled=True, config={"endpoints": [moto.url]}
    )
    bucket = moto.new_bucket(f"sync-{uuid.uuid4().hex[:12]}")
    prefix = f"{device}/"

    # The user connects Amazon S3 on "Cloud storage".
    page = new_page(device)
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    expect(page.get_by_role("heading", name="Cloud storage", level=1)).to_be_visible()
    form = page.locator("section[data-provider=s3]")
    form.get_by_label("Access key ID").fill(moto.admin.access_key_id)
    form.get_by_label("Secret access key").fill(moto.admin.secret_access_key)
    form.get_by_label("Bucket").fill(bucket)
    form.get_by_label("Region").fill("us-east-1")
    form.get_by_label("Key prefix").fill(prefix)
    form.get_by_label("Endpoint").select_option(moto.url)
    form.get_by_role("button", name="Connect Amazon S3").click()
    expect(page.locator(".flash")).to_contain_text("Amazon S3 connected")
    expect(page.locator("section[data-provider=s3] .storage-status")).to_contain_text(
        f"s3://{bucket}/{prefix}"
    )
    expect(page.locator("main")).not_to_contain_text(moto.admin.secret_access_key)
    shoot(page, "sync-s3-connected")
    assert StorageConnection.objects.get(user=tech, provider="s3").status == "connected"

    # Export menu → Sync with Amazon S3 for Mobile Access.
    sync_through_the_export_menu(page, "Amazon S3")
    expect_toast_bottom_left(page, "Amazon S3")
    shoot(page, "sync-s3-notified")
    job = finished_job(tech, "s3")
    assert job.entry_count == len(expected)

    # The object in the bucket: encrypted, and it opens to exactly the user's scope.
    key = f"{prefix}{job.object_name}"
    body = moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert len(body) == job.result_size
    for secret in (*expected.values(), *never):
        assert secret.encode() not in body
    copy = tmp_path / "from-s3.html"
    copy.write_bytes(body)
    assert opened_entries(copy, tmp_path) == expected

    # The history page lists the sync.
    page.goto("/sync/history/")
    expect(page.locator("main")).to_contain_text("Succeeded")
    expect(page.locator("main")).to_contain_text(f"s3://{bucket}/{key}")
    shoot(page, "sync-s3-history")


def test_user_syncs_to_the_local_folder_on_a_phone(new_page: Any, tmp_path: Path) -> None:
    tech = person("password_user", "pia")
    _admin, expected, never = vault_with_scope(tech)
    base = tmp_path / "cloud-sync"
    storage.demo_enable_local_folder(base_dir=str(base))

    page = new_page("phone")
    sign_in(page, tech.username, PASSWORD)
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud storage").click()
    card = page.locator("section[data-provider=local]")
    card.get_by_label("Folder name").fill("pia-phone")
    card.get_by_role("button", name="Connect Local folder").click()
    expect(card.locator(".storage-status")).to_contain_text("connected")
    shoot(page, "sync-local-connected")

    sync_through_the_export_menu(page, "Local folder")
    expect_toast_bottom_left(page, "Local folder")
    shoot(page, "sync-local-notified")
    job = finished_job(tech, "local")

    copy = base / str(tech.pk) / "pia-phone" / job.object_name
    body = copy.read_bytes()
    for secret in (*expected.values(), *never):
        assert secret.encode() not in body
    assert opened_entries(copy, tmp_path) == expected
