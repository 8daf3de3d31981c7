"""Key rotation in-process: master key re-wrap (file and environment sources) and
re-encryption under a fresh data key, including resuming interrupted runs.

The kill-and-rerun proofs with the real command are in tests/cli/test_cli_key_rotate.py."""

from __future__ import annotations

import stat
import threading

import pytest

from strongroom.audit.models import AuditEvent
from strongroom.audit.services import audit_verify
from strongroom.core import keys, rotation
from strongroom.core.models import DataKey
from strongroom.core.secrets import seal_into, unseal
from strongroom.crypto import envelope
from strongroom.vault.models import Account

pytestmark = pytest.mark.db_specific

PASSWORD = "pw-\u05e9\u05dc\u05d5\u05dd-\U0001f511"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _all_secrets() -> dict[tuple[str, str, str], str | None]:
    """Every sealed value of every model, decrypted (fails loudly on any damage)."""
    found = {}
    for model, fields in rotation.sealed_columns():
        for obj in model._base_manager.all():
            for name in fields:
                found[(model._meta.db_table, str(obj.pk), name)] = unseal(obj, name)
    return found


def _data_key_ids_in_use() -> set[int]:
    ids = set()
    for model, fields in rotation.sealed_columns():
        for obj in model._base_manager.all():
            for name in fields:
                blob = getattr(obj, name)
                if blob is not None:
                    ids.add(envelope.sealed_key_id(bytes(blob)))
    return ids


def _more_accounts(admin, n: int) -> None:
    from strongroom.vault.services import account_create, resource_create

    resource = resource_create(actor=admin, name="bulk")
    for i in range(n):
        account_create(
            actor=admin,
            resource_id=resource.pk,
            username=f"user{i}",
            password=f"secret-{i}",
            notes=f"note {i}",
        )


def test_sealed_columns_are_found_by_introspection(db):
    found = {model._meta.db_table: fields for model, fields in rotation.sealed_columns()}
    assert found["strongroom_account"] == ["password", "notes", "totp_seed"]
    assert found["strongroom_password_history"] == ["password"]
    assert found["strongroom_user"] == ["totp_secret"]
    assert found["strongroom_audit_head"] == ["mac_key"]
    assert "strongroom_data_key" not in found


@pytest.mark.django_db
def test_master_rotation_with_the_key_file(key_file, vault_account):
    before = _all_secrets()
    old = envelope.parse_master_key(key_file.read_text())
    keys.create_data_key()  # two data keys to re-wrap

    result = rotation.master_key_rotate()

    new = envelope.parse_master_key(key_file.read_text())
    assert new != old
    assert result.source == "file"
    assert result.old_key_id == envelope.key_id(old)
    assert result.new_key_id == envelope.key_id(new)
    assert result.rewrapped == 2
    assert not result.resumed
    assert not keys.next_key_path().exists()
    assert _mode(key_file) == 0o600
    assert result.retired_key_file == keys.retired_key_path(envelope.key_id(old))
    assert envelope.parse_master_key(result.retired_key_file.read_text()) == old
    assert _mode(result.retired_key_file) == 0o600
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {result.new_key_id}

    keys.reset()
    keys.verify()
    assert _all_secrets() == before
    event = AuditEvent.objects.filter(action="key.master_rotated").get()
    assert event.details["new_key_id"] == result.new_key_id
    assert audit_verify().ok


@pytest.mark.django_db
def test_master_rotation_resumes_with_the_key_it_started(key_file, vault_account):
    before = _all_secrets()
    keys.create_data_key()
    keys.create_data_key()
    # The state a killed run leaves: .next written, one data key already re-wrapped.
    ring = keys.verify()
    new = envelope.new_key()
    keys.write_key_file(keys.next_key_path(), new)
    first = DataKey.objects.order_by("pk").first()
    plain = envelope.unwrap_key(ring.primary, bytes(first.wrapped), data_key_id=first.pk)
    first.wrapped = envelope.wrap_key(new, plain, data_key_id=first.pk)
    first.master_key_id = envelope.key_id(new)
    first.save()

    keys.reset()
    result = rotation.master_key_rotate()

    assert result.resumed
    assert result.new_key_id == envelope.key_id(new)
    assert result.rewrapped == 2
    assert envelope.parse_master_key(key_file.read_text()) == new
    keys.reset()
    assert _all_secrets() == before


@pytest.mark.django_db
def test_master_rotation_with_an_environment_key(key_file, monkeypatch, tmp_path):
    from strongroom.accounts.services import user_create

    old = envelope.new_key()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(old))
    keys.reset()
    admin = user_create(
        actor=None, username="env-admin", password="Correct-horse-battery-staple-7", role="admin"
    )
    _more_accounts(admin, 3)  # sealed under a data key wrapped by the environment key
    before = _all_secrets()

    with pytest.raises(rotation.RotationError, match="--new-key-file"):
        rotation.master_key_rotate()

    target = tmp_path / "new-master.key"
    result = rotation.master_key_rotate(new_key_file=target)
    assert result.source == "environment"
    assert result.new_key_file == target
    assert _mode(target) == 0o600
    new = envelope.parse_master_key(target.read_text())
    assert result.new_key_id == envelope.key_id(new)
    assert not key_file.exists()

    # The operator switches the variable: everything opens with the new key ...
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(new))
    keys.reset()
    keys.verify()
    assert _all_secrets() == before
    # ... and the old key is refused by name.
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(old))
    keys.reset()
    with pytest.raises(keys.MasterKeyProblem, match=result.new_key_id):
        keys.verify()


@pytest.mark.django_db
def test_master_rotation_refuses_the_key_already_configured(key_file, tmp_path, monkeypatch, db):
    key = envelope.new_key()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(key))
    keys.verify()
    same = tmp_path / "same.key"
    keys.write_key_file(same, key)
    with pytest.raises(rotation.RotationError, match="already configured"):
        rotation.master_key_rotate(new_key_file=same)


@pytest.mark.django_db
def test_the_key_file_source_refuses_new_key_file(key_file, tmp_path, db):
    keys.verify()
    with pytest.raises(rotation.RotationError, match="--new-key-file is for"):
        rotation.master_key_rotate(new_key_file=tmp_path / "x.key")


@pytest.mark.django_db
def test_reencryption_moves_every_secret_to_a_fresh_data_key(key_file, admin, vault_account):
    from strongroom.vault.services import account_update

    seal_into(admin, "totp_secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    admin.save(update_fields=["totp_secret"])
    account_update(actor=admin, account_id=vault_account.pk, password="second password")
    _more_accounts(admin, 5)
    before = _all_secrets()
    old_ids = set(DataKey.objects.values_list("pk", flat=True))
    stamps = dict(Account.objects.values_list("pk", "updated_at"))

    result = rotation.data_keys_rotate(batch_size=3)

    assert result.ok
    assert not result.resumed
    assert result.data_key_id not in old_ids
    assert result.deleted_data_keys == sorted(old_ids)
    assert set(DataKey.objects.values_list("pk", flat=True)) == {result.data_key_id}
    assert _data_key_ids_in_use() == {result.data_key_id}
    assert result.reencrypted == sum(1 for value in before.values() if value is not None)
    keys.reset()
    assert _all_secrets() == before
    # Re-encryption is not an edit: timestamps stay as they were.
    assert dict(Account.objects.values_list("pk", "updated_at")) == stamps
    assert AuditEvent.objects.filter(action="key.data_reencrypted").count() == 1
    assert audit_verify().ok


@pytest.mark.django_db
def test_reencryption_resumes_an_interrupted_run(key_file, admin):
    _more_accounts(admin, 6)
    before = _all_secrets()
    old_id = keys.active_data_key()[0]
    # The state a killed run leaves: a fresh key active, the old one retired, a few rows done.
    fresh = keys.create_data_key()
    DataKey.objects.exclude(pk=fresh.pk).update(status=DataKey.Status.RETIRED)
    fresh_key = keys.data_key(fresh.pk)
    for account in Account.objects.order_by("pk")[:2]:
        for name in ("password", "notes"):
            setattr(
                account,
                name,
                rotation.secrets.reseal(account, name, data_key_id=fresh.pk, key=fresh_key),
            )
        account.save(update_fields=["password", "notes"])
    assert _data_key_ids_in_use() == {old_id, fresh.pk}

    keys.reset()
    result = rotation.data_keys_rotate(batch_size=2)

    assert result.resumed
    assert result.data_key_id == fresh.pk
    assert result.deleted_data_keys == [old_id]
    assert _data_key_ids_in_use() == {fresh.pk}
    keys.reset()
    assert _all_secrets() == before


@pytest.mark.django_db
def test_reencryption_reports_damaged_values_and_keeps_the_key_they_name(
    key_file, admin, vault_account
):
    _more_accounts(admin, 2)
    old_id = keys.active_data_key()[0]
    blob = bytearray(Account.objects.get(pk=vault_account.pk).password)
    blob[-1] ^= 0x01
    Account.objects.filter(pk=vault_account.pk).update(password=bytes(blob))

    result = rotation.data_keys_rotate()

    assert not result.ok
    assert [(d.table, d.row_id, d.field) for d in result.damaged] == [
        ("strongroom_account", str(vault_account.pk), "password")
    ]
    assert result.kept_data_keys == [old_id]
    assert DataKey.objects.filter(pk=old_id, status=DataKey.Status.RETIRED).exists()
    # Everything else moved on.
    assert unseal(Account.objects.get(pk=vault_account.pk), "notes") == "break glass only"


@pytest.mark.django_db(transaction=True)
def test_only_one_rotation_runs_at_a_time(key_file, admin):
    holding = threading.Event()
    release = threading.Event()
    failure: list[Exception] = []

    def hold() -> None:
        from django.db import connection

        try:
            with rotation._exclusive():
                holding.set()
                release.wait(30)
        except Exception as exc:  # reported to the main thread
            failure.append(exc)
            holding.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(30)
        assert not failure
        with pytest.raises(rotation.RotationError, match="another key rotation is running"):
            rotation.data_keys_rotate()
        with pytest.raises(rotation.RotationError, match="another key rotation is running"):
            rotation.master_key_rotate()
    finally:
        release.set()
        thread.join(30)
    rotation.master_key_rotate()  # free again
