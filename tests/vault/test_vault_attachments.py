"""Attachments: who may upload, download and delete them (per role, API and web), the
audit record written before the bytes leave, limits that change nothing when they refuse,
hostile names, and sealing at rest checked as an attacker with write access to the
database."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from exports.helpers import audit_trail_broken
from factories import account_make, api_for, error, error_code, resource_make, user_make
from strongroom.accounts.settings import setting_set
from strongroom.audit.models import AuditEvent
from strongroom.core.secrets import SealedValueDamaged
from strongroom.vault import attachments, services
from strongroom.vault.models import Attachment

pytestmark = pytest.mark.django_db

# A recognisable file: a fake private key with a canary that must never be stored in clear.
KEY = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\nCANARY-7f1c-attachment-"
    + bytes(range(256))
    + b"\n-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.fixture
def world():
    """An owner's account with one attachment, and a user per relation to it."""
    owner = user_make("password_admin")
    resource = resource_make(owner, name="bastion")
    account = account_make(owner, resource, username="deploy")
    people = {
        "owner": owner,
        "reader": user_make("password_user"),
        "editor": user_make("password_user"),
        "stranger": user_make("password_user"),
        "admin": user_make("admin"),
        "auditor": user_make("auditor"),
        "shared_auditor": user_make("auditor"),
    }
    for who, level in (("reader", "view"), ("editor", "modify"), ("shared_auditor", "view")):
        services.share_grant(
            actor=owner, resource_id=resource.pk, user_id=people[who].pk, level=level
        )
    attachment = attachments.attachment_upload(
        actor=owner, account_id=account.pk, name="id_ed25519", data=KEY
    )
    return owner, account, attachment, people


def _upload(api, account_id, data=b"hello", filename="note.txt", **fields):
    return api.client.post(
        f"/api/v1/accounts/{account_id}/attachments",
        {"file": SimpleUploadedFile(filename, data), **fields},
        headers=api._headers({}),
        REMOTE_ADDR=api.ip,
    )


# who: (list/download status, upload/delete status)
MATRIX = {
    "owner": (200, 201),
    "editor": (200, 201),
    "reader": (200, 403),
    "shared_auditor": (200, 403),
    "stranger": (404, 404),
    "admin": (404, 404),
    "auditor": (404, 404),
}


@pytest.mark.parametrize("who", list(MATRIX))
def test_api_access_per_role(world, who):
    _, account, attachment, people = world
    read_status, write_status = MATRIX[who]
    api = api_for(people[who], ip="198.51.100.9")
    base = f"/accounts/{account.pk}/attachments"

    listed = api.get(base)
    assert listed.status_code == read_status
    if read_status == 200:
        assert [(a["name"], a["size"]) for a in listed.json()] == [("id_ed25519", len(KEY))]

    before = AuditEvent.objects.filter(action="attachment.download").count()
    got = api.post(f"{base}/{attachment.pk}/download", {"reason": "rotate host keys"})
    assert got.status_code == read_status
    after = AuditEvent.objects.filter(action="attachment.download")
    if read_status == 200:
        assert got.content == KEY
        assert got["Content-Type"] == "application/octet-stream"
        assert got["Content-Disposition"] == 'attachment; filename="id_ed25519"'
        assert got["Cache-Control"] == "no-store"
        assert got["X-Content-Type-Options"] == "nosniff"
        event = after.latest("seq")
        assert event.actor_id == people[who].pk
        assert event.object_id == str(attachment.pk)
        assert event.reason == "rotate host keys"
        assert event.client_ip == "198.51.100.9"
        assert event.object_name == "bastion / deploy / id_ed25519"
    else:
        assert KEY not in got.content
        assert b"id_ed25519" not in got.content
        assert after.count() == before

    up = _upload(api, account.pk, b"licence", "licence.lic")
    assert up.status_code == write_status
    deleted = api.delete(f"{base}/{attachment.pk}")
    assert deleted.status_code == (204 if write_status == 201 else write_status)
    expected = {"id_ed25519"} if write_status != 201 else {"licence.lic"}
    assert set(Attachment.objects.values_list("name", flat=True)) == expected


def test_token_scopes(world):
    owner, account, attachment, _ = world
    read_only = api_for(owner, scopes=["read"])
    base = f"/accounts/{account.pk}/attachments"
    assert read_only.get(base).status_code == 200
    refused = read_only.post(f"{base}/{attachment.pk}/download")
    assert refused.status_code == 403 and error_code(refused) == "insufficient_scope"
    assert _upload(read_only, account.pk).status_code == 403
    retrieve = api_for(owner, scopes=["retrieve"])
    assert retrieve.post(f"{base}/{attachment.pk}/download").content == KEY


def test_download_is_refused_when_the_audit_record_cannot_be_written(world):
    owner, account, attachment, _ = world
    api = api_for(owner)
    with audit_trail_broken():
        response = api.post(f"/accounts/{account.pk}/attachments/{attachment.pk}/download")
    assert response.status_code == 503
    assert error_code(response) == "audit_unavailable"
    assert KEY not in response.content


def test_reason_required_setting_applies_to_downloads(world):
    owner, account, attachment, _ = world
    setting_set(actor=None, key="retrieval_reason_required", value=True)
    api = api_for(owner)
    url = f"/accounts/{account.pk}/attachments/{attachment.pk}/download"
    missing = api.post(url, {})
    assert missing.status_code == 400 and error(missing)["details"]["field"] == "reason"
    assert KEY not in missing.content
    assert api.post(url, {"reason": "CHG-9"}).content == KEY


def test_size_limit_refusal_changes_nothing(world):
    owner, account, _, _ = world
    setting_set(actor=None, key="attachment_max_bytes", value=1000)
    api = api_for(owner)
    events = AuditEvent.objects.count()
    too_big = _upload(api, account.pk, b"x" * 1001, "big.bin")
    assert too_big.status_code == 400
    assert error_code(too_big) == "attachment_too_large"
    assert error(too_big)["details"]["limit"] == 1000
    assert "1,000 bytes" in error(too_big)["message"]
    assert _upload(api, account.pk, b"", "empty.txt").status_code == 400
    assert AuditEvent.objects.count() == events
    assert list(Attachment.objects.values_list("name", flat=True)) == ["id_ed25519"]
    assert _upload(api, account.pk, b"x" * 1000, "fits.bin").status_code == 201


def test_the_limit_setting_is_validated(admin_api):
    for value in (0, -1, 10**12, "10MB", 1.5, True):
        response = admin_api.put("/settings", {"attachment_max_bytes": value})
        assert response.status_code == 400, value
    ok = admin_api.put("/settings", {"attachment_max_bytes": 2048})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../../etc/passwd", "not a path"),
        ("C:\\Windows\\evil.dll", "not a path"),
        ("..", "cannot be . or .."),
        (" leading.txt", "space"),
        ("bell\x07.txt", "control characters"),
        ("line\nbreak.txt", "control characters"),
        ("id_rsa\u202etxt.exe", "invisible direction marks"),
        ("nul\x00.txt", "NUL"),
        ("x" * 256, "at most 255"),
        ("é" * 200, "bytes of UTF-8"),
    ],
)
def test_hostile_names_are_refused_and_change_nothing(world, name, problem):
    owner, account, _, _ = world
    events = AuditEvent.objects.count()
    with pytest.raises(Exception) as caught:
        attachments.attachment_upload(actor=owner, account_id=account.pk, name=name, data=b"x")
    assert problem in str(caught.value)
    assert Attachment.objects.count() == 1
    assert AuditEvent.objects.count() == events


def test_names_that_are_ordinary_text_are_kept_exactly(world):
    owner, account, _, _ = world
    api = api_for(owner)
    for name in ("<img src=x onerror=alert(1)>.pem", "=cmd|' -C calc'!A0.csv", "証明書 🔑.crt"):
        created = _upload(api, account.pk, b"data", "upload.bin", name=name)
        assert created.status_code == 201, created.content
        assert created.json()["name"] == name
        got = api.post(f"/accounts/{account.pk}/attachments/{created.json()['id']}/download")
        assert got.content == b"data"
        assert "attachment;" in got["Content-Disposition"]
    again = _upload(api, account.pk, b"other", "upload.bin", name="証明書 🔑.crt")
    assert again.status_code == 409


def test_count_limit(world, monkeypatch):
    owner, account, _, _ = world
    monkeypatch.setattr(attachments, "MAX_PER_ACCOUNT", 2)
    attachments.attachment_upload(actor=owner, account_id=account.pk, name="b", data=b"1")
    with pytest.raises(Exception, match="at most 2 attachments"):
        attachments.attachment_upload(actor=owner, account_id=account.pk, name="c", data=b"1")
    assert Attachment.objects.count() == 2


@pytest.mark.db_specific
def test_sealed_at_rest(world):
    _ = world
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM strongroom_attachment")
        (stored,) = cursor.fetchone()
    stored = bytes(stored)
    assert b"CANARY-7f1c" not in stored
    assert bytes(range(256)) not in stored
    assert stored[0] == 1  # the envelope format's version byte


def _swap(column: str, value, pk) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE strongroom_attachment SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


def _db_id(pk: uuid.UUID) -> str:
    return pk.hex if connection.vendor == "sqlite" else str(pk)


@pytest.mark.db_specific
def test_an_attacker_with_database_write_access_cannot_move_files(world):
    """Copying a sealed file into another row, re-parenting an attachment to an account the
    attacker can read, or editing the size: every download is refused as damaged (and the
    failure is audited), never served."""
    owner, account, attachment, people = world
    # An account the stranger can read (shared with them by its owner).
    other_owner = user_make("password_admin")
    mine = account_make(other_owner, resource_make(other_owner), username="x")
    services.share_grant(
        actor=other_owner, resource_id=mine.resource_id, user_id=people["stranger"].pk, level="view"
    )
    decoy = attachments.attachment_upload(
        actor=other_owner, account_id=mine.pk, name="decoy", data=b"decoy-bytes"
    )
    stranger = api_for(people["stranger"])

    # 1. The victim's sealed blob copied into the stranger's attachment row.
    victim_blob = bytes(Attachment.objects.get(pk=attachment.pk).content)
    _swap("content", victim_blob, _db_id(decoy.pk))
    _swap("size", len(KEY), _db_id(decoy.pk))
    got = stranger.post(f"/accounts/{mine.pk}/attachments/{decoy.pk}/download")
    assert got.status_code == 500 and error_code(got) == "sealed_value_damaged"
    assert KEY not in got.content

    # 2. The victim's attachment re-parented to the stranger's account.
    _swap("account_id", _db_id(mine.pk), _db_id(attachment.pk))
    got = stranger.post(f"/accounts/{mine.pk}/attachments/{attachment.pk}/download")
    assert got.status_code == 500 and error_code(got) == "sealed_value_damaged"
    assert KEY not in got.content
    failures = AuditEvent.objects.filter(action="attachment.download", outcome="failure")
    assert failures.count() == 2
    _swap("account_id", _db_id(account.pk), _db_id(attachment.pk))

    # 3. The size edited: refused too.
    _swap("size", len(KEY) - 1, _db_id(attachment.pk))
    with pytest.raises(SealedValueDamaged):
        attachments.attachment_download(
            actor=owner, account_id=account.pk, attachment_id=attachment.pk
        )
    _swap("size", len(KEY), _db_id(attachment.pk))
    _, data = attachments.attachment_download(
        actor=owner, account_id=account.pk, attachment_id=attachment.pk
    )
    assert data == KEY


def test_deleting_the_account_deletes_its_attachments(world):
    owner, account, _, _ = world
    services.account_delete(actor=owner, account_id=account.pk)
    assert not Attachment.objects.exists()


def test_key_rotation_reseals_attachments(world, settings):
    from strongroom.core import rotation

    settings.KEY_RECHECK_SECONDS = 0
    owner, account, attachment, _ = world
    old = bytes(Attachment.objects.get(pk=attachment.pk).content)
    assert rotation.data_keys_rotate(batch_size=3).ok
    new = bytes(Attachment.objects.get(pk=attachment.pk).content)
    assert new != old
    _, data = attachments.attachment_download(
        actor=owner, account_id=account.pk, attachment_id=attachment.pk
    )
    assert data == KEY


# --------------------------------------------------------------------------- web pages


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("who", list(MATRIX))
def test_web_pages_per_role(world, who):
    _, account, attachment, people = world
    read_status, write_status = MATRIX[who]
    client = _web(people[who])
    page = client.get(f"/accounts/{account.pk}/attachments/")
    assert page.status_code == read_status
    html = page.content.decode()
    if read_status == 200:
        assert "id_ed25519" in html
        assert ("Attach a file" in html) == (write_status == 201)
    else:
        assert "id_ed25519" not in html
    got = client.post(f"/accounts/{account.pk}/attachments/{attachment.pk}/download/")
    assert got.status_code == read_status
    assert (got.content == KEY) == (read_status == 200)
    up = client.post(
        f"/accounts/{account.pk}/attachments/",
        {"file": SimpleUploadedFile("web.txt", b"from the web"), "name": ""},
    )
    assert up.status_code == (302 if write_status == 201 else write_status)
    gone = client.post(f"/accounts/{account.pk}/attachments/{attachment.pk}/delete/")
    assert gone.status_code == (302 if write_status == 201 else write_status)
    expected = {"web.txt"} if write_status == 201 else {"id_ed25519"}
    assert set(Attachment.objects.values_list("name", flat=True)) == expected


def test_web_upload_errors_are_shown_on_the_form(world):
    owner, account, _, _ = world
    setting_set(actor=None, key="attachment_max_bytes", value=10)
    client = _web(owner)
    page = client.post(
        f"/accounts/{account.pk}/attachments/",
        {"file": SimpleUploadedFile("big.bin", b"x" * 11), "name": "<b>big.bin"},
    )
    assert page.status_code == 400
    html = page.content.decode()
    assert "larger than the limit of 10 bytes" in html
    assert "&lt;b&gt;big.bin" in html and "<b>big" not in html
    assert Attachment.objects.count() == 1


def test_web_download_needs_a_reason_when_required(world):
    owner, account, attachment, _ = world
    setting_set(actor=None, key="retrieval_reason_required", value=True)
    client = _web(owner)
    page = client.get(f"/accounts/{account.pk}/attachments/").content.decode()
    assert 'name="reason" required' in page
    url = f"/accounts/{account.pk}/attachments/{attachment.pk}/download/"
    refused = client.post(url, {})
    assert refused.status_code == 400 and KEY not in refused.content
    assert client.post(url, {"reason": "INC-1"}).content == KEY
    assert AuditEvent.objects.get(action="attachment.download").reason == "INC-1"


def test_resource_page_links_to_attachments(world):
    owner, account, _, _ = world
    html = _web(owner).get(f"/resources/{account.resource_id}/").content.decode()
    assert f"/accounts/{account.pk}/attachments/" in html


# --------------------------------------------------------------------------- command line


def test_cli_attachment_list_add_get_delete(world, capsys, tmp_path, monkeypatch):
    from strongroom.cli.main import main

    owner, account, attachment, people = world
    acc = str(account.pk)
    source = tmp_path / "server.crt"
    source.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    assert main(["attachment", "add", acc, str(source), "--user", people["editor"].username]) == 0
    assert "attached server.crt (28 bytes)" in capsys.readouterr().out
    assert main(["attachment", "list", acc, "--user", people["reader"].username]) == 0
    listed = [line.split()[-1] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["id_ed25519", "server.crt"]

    out = tmp_path / "key"
    reader = people["reader"].username
    args = ["attachment", "get", acc, "id_ed25519", "--out", str(out), "--reason", "INC-7"]
    assert main([*args, "--user", reader]) == 0
    assert out.read_bytes() == KEY
    assert AuditEvent.objects.get(action="attachment.download").reason == "INC-7"
    assert main([*args, "--user", reader]) == 1  # no silent overwrite
    assert "exists" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["attachment", "get", acc, str(attachment.pk), "--user", reader]) == 0
    assert (tmp_path / "id_ed25519").read_bytes() == KEY

    # The reader may not delete; a stranger sees nothing; a refusal changes nothing.
    assert main(["attachment", "delete", acc, "server.crt", "--user", reader]) == 1
    assert "this needs modify access to the account" in capsys.readouterr().err
    stranger = people["stranger"].username
    assert main(["attachment", "list", acc, "--user", stranger]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["attachment", "get", acc, "id_ed25519", "--user", stranger]) == 1
    setting_set(actor=None, key="attachment_max_bytes", value=10)
    assert (
        main(["attachment", "add", acc, str(source), "--name", "x", "--user", owner.username]) == 1
    )
    assert "larger than the limit of 10 bytes" in capsys.readouterr().err
    assert main(["attachment", "delete", acc, "server.crt", "--user", owner.username]) == 0
    assert main(["attachment", "add", acc, "--user", owner.username]) == 2
    assert set(Attachment.objects.values_list("name", flat=True)) == {"id_ed25519"}
    missing = tmp_path / "nope.bin"
    assert main(["attachment", "add", acc, str(missing), "--user", owner.username]) == 1
    assert "nope.bin" in capsys.readouterr().err


def test_admin_sets_the_limit_on_the_settings_page():
    from django.urls import reverse

    from strongroom.core.settings_store import setting_get

    client = _web(user_make("admin"))
    url = reverse("accounts:settings")
    page = client.get(url).content.decode()
    assert 'name="attachment_max_bytes"' in page and "10485760" in page
    refused = client.post(url, {"attachment_max_bytes": "0"})
    assert "between 1 and 104,857,600 bytes" in refused.content.decode()
    assert setting_get("attachment_max_bytes") == 10 * 1024 * 1024
    client.post(url, {"attachment_max_bytes": "2048"})
    assert setting_get("attachment_max_bytes") == 2048
    event = AuditEvent.objects.get(action="settings.update")
    assert event.details["changes"]["attachment_max_bytes"] == {"old": 10485760, "new": 2048}
