"""Secrets at rest in real rows: sealed values are bound to their table, row and field, and
any damage is refused (SealedValueDamaged), never decrypted to garbage."""

from __future__ import annotations

import pytest
from django.db import connection

from strongroom.accounts.models import User
from strongroom.core import keys
from strongroom.core.secrets import SealedValueDamaged, seal_into, unseal
from strongroom.vault.models import Account, PasswordHistory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-\u05e9\u05dc\u05d5\u05dd-\U0001f511"


def _reload(obj):
    return type(obj).objects.get(pk=obj.pk)


def test_sealed_fields_round_trip_and_hold_no_plaintext(vault_account):
    account = _reload(vault_account)
    assert unseal(account, "password") == PASSWORD
    assert unseal(account, "notes") == "break glass only"
    assert unseal(account, "totp_seed") == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    for field in ("password", "notes", "totp_seed"):
        stored = bytes(getattr(account, field))
        assert b"break glass" not in stored
        assert PASSWORD.encode() not in stored
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password FROM strongroom_account WHERE id = %s",
            [account.pk.hex if connection.vendor == "sqlite" else account.pk],
        )
        (raw,) = cursor.fetchone()
    assert PASSWORD.encode() not in bytes(raw)


def test_flipping_any_byte_of_a_stored_value_is_refused(vault_account):
    original = bytes(_reload(vault_account).password)
    for index in range(len(original)):
        damaged = bytearray(original)
        damaged[index] ^= 0x01
        Account.objects.filter(pk=vault_account.pk).update(password=bytes(damaged))
        keys.reset()
        with pytest.raises(SealedValueDamaged) as caught:
            unseal(_reload(vault_account), "password")
        assert caught.value.details == {"table": "strongroom_account", "field": "password"}
        assert PASSWORD not in caught.value.message
    Account.objects.filter(pk=vault_account.pk).update(password=original)
    assert unseal(_reload(vault_account), "password") == PASSWORD


def test_a_value_moved_to_another_row_is_refused(admin, vault_account):
    from strongroom.vault.services import account_create

    other = account_create(
        actor=admin, resource_id=vault_account.resource_id, username="other", password="x"
    )
    Account.objects.filter(pk=other.pk).update(password=_reload(vault_account).password)
    with pytest.raises(SealedValueDamaged):
        unseal(_reload(other), "password")


def test_a_value_moved_to_another_field_of_the_same_row_is_refused(vault_account):
    account = _reload(vault_account)
    Account.objects.filter(pk=account.pk).update(notes=account.password)
    with pytest.raises(SealedValueDamaged):
        unseal(_reload(account), "notes")


def test_a_value_moved_to_another_table_is_refused(vault_account):
    account = _reload(vault_account)
    # Same primary key and field name, different table: only the table in the AAD differs.
    history = PasswordHistory(id=account.pk, account=account, password=account.password)
    history.save(force_insert=True)
    with pytest.raises(SealedValueDamaged):
        unseal(_reload(history), "password")


def test_a_user_secret_moved_between_users_is_refused(admin):
    from strongroom.accounts.services import user_create

    other = user_create(actor=None, username="second", password="Correct-horse-battery-staple-7")
    seal_into(admin, "totp_secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    admin.save(update_fields=["totp_secret"])
    User.objects.filter(pk=other.pk).update(totp_secret=admin.totp_secret)
    assert unseal(_reload(admin), "totp_secret") == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    with pytest.raises(SealedValueDamaged):
        unseal(_reload(other), "totp_secret")


def test_a_value_naming_a_data_key_that_does_not_exist_is_damage(vault_account):
    blob = bytearray(_reload(vault_account).password)
    blob[1:5] = (987654).to_bytes(4, "big")
    Account.objects.filter(pk=vault_account.pk).update(password=bytes(blob))
    with pytest.raises(SealedValueDamaged):
        unseal(_reload(vault_account), "password")


def test_seal_needs_the_rows_primary_key():
    with pytest.raises(ValueError, match="primary key"):
        seal_into(PasswordHistory(id=None), "password", "x")


def test_the_bulk_unsealer_of_exports_agrees_with_unseal_and_refuses_the_same_damage(
    admin, vault_account
):
    from strongroom.core.secrets import Unsealer
    from strongroom.exports.selectors import ExportScope, export_entries
    from strongroom.vault.services import account_create

    account = _reload(vault_account)
    bulk = Unsealer(Account)
    row_id = str(account.pk)
    for field in ("password", "notes", "totp_seed"):
        assert bulk.unseal(getattr(account, field), row_id, field) == unseal(account, field)
    assert bulk.unseal(None, row_id, "notes") is None
    original = bytes(account.password)
    for index in range(len(original)):
        damaged = bytearray(original)
        damaged[index] ^= 0x01
        with pytest.raises(SealedValueDamaged) as caught:
            Unsealer(Account).unseal(bytes(damaged), row_id, "password")
        assert caught.value.details == {"table": "strongroom_account", "field": "password"}
        assert PASSWORD not in caught.value.message
    with pytest.raises(SealedValueDamaged):  # another field of the same row
        bulk.unseal(original, row_id, "notes")
    with pytest.raises(SealedValueDamaged):  # another table
        Unsealer(PasswordHistory).unseal(original, row_id, "password")

    # Through the export's own read (IDs read as text on SQLite and PostgreSQL alike): the
    # good rows open, and a value moved to another row stops the export, never garbage.
    other = account_create(
        actor=admin, resource_id=vault_account.resource_id, username="other", password="y"
    )
    opened = export_entries(user=admin, scope=ExportScope(), with_secrets=True)
    assert {(e.username, e.password) for e in opened} >= {(account.username, PASSWORD)}
    assert {e.notes for e in opened if e.username == account.username} == {"break glass only"}
    Account.objects.filter(pk=other.pk).update(password=original)
    with pytest.raises(SealedValueDamaged):
        export_entries(user=admin, scope=ExportScope(), with_secrets=True)
