"""Master key providers: file (created 0600 on first start), environment, command; and the
refusals: wrong key, missing key file, invalid key, failing command."""

from __future__ import annotations

import logging
import shlex
import stat
import sys

import pytest

from strongroom.core import keys
from strongroom.core.models import DataKey
from strongroom.crypto import envelope

pytestmark = pytest.mark.django_db


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_the_key_file_0600_and_warns_to_move_it(key_file, caplog):
    assert not key_file.exists()
    with caplog.at_level(logging.WARNING, logger="strongroom.core.keys"):
        ring = keys.verify()
    assert key_file.exists()
    assert _mode(key_file) == 0o600
    key = envelope.parse_master_key(key_file.read_text())
    assert ring.source == "file"
    assert ring.primary_id == envelope.key_id(key)
    assert "move it off this host" in caplog.text
    assert str(key_file) in caplog.text
    assert envelope.format_master_key(key) not in caplog.text
    (row,) = DataKey.objects.all()
    assert row.master_key_id == ring.primary_id
    assert row.status == DataKey.Status.ACTIVE


def test_the_key_file_is_reused_on_the_next_start(key_file):
    first = keys.verify()
    sealed_with = keys.active_data_key()
    content = key_file.read_text()
    keys.reset()
    second = keys.verify()
    assert second.primary_id == first.primary_id
    assert key_file.read_text() == content
    assert keys.active_data_key() == sealed_with
    assert DataKey.objects.count() == 1


def test_a_missing_key_file_with_existing_data_keys_stops_and_creates_nothing(key_file):
    keys.verify()
    key_file.unlink()
    keys.reset()
    with pytest.raises(keys.MasterKeyProblem) as caught:
        keys.verify()
    message = caught.value.message
    assert str(key_file) in message
    assert "is missing" in message
    assert "Restore the key file" in message
    assert not key_file.exists()
    assert not any(key_file.parent.iterdir())


def test_environment_key_is_used_and_takes_precedence_over_the_file(key_file, monkeypatch):
    key = envelope.new_key()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(key))
    ring = keys.verify()
    assert ring.source == "environment"
    assert ring.primary_id == envelope.key_id(key)
    assert not key_file.exists()  # no file is created when another source is configured
    assert DataKey.objects.get().master_key_id == envelope.key_id(key)


def test_environment_key_in_hex_is_accepted(key_file, monkeypatch):
    key = envelope.new_key()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", key.hex())
    assert keys.verify().primary_id == envelope.key_id(key)


def test_an_invalid_environment_key_is_refused_without_echoing_it(key_file, monkeypatch):
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", "hunter2-not-a-key")
    with pytest.raises(keys.MasterKeyProblem) as caught:
        keys.verify()
    assert "STRONGROOM_MASTER_KEY is not a valid key" in caught.value.message
    assert "hunter2" not in caught.value.message
    assert not DataKey.objects.exists()


def test_command_key_is_read_from_the_commands_output(key_file, tmp_path, settings):
    key = envelope.new_key()
    secret_file = tmp_path / "kms-output"
    secret_file.write_text(envelope.format_master_key(key) + "\n")
    settings.MASTER_KEY_COMMAND = f"cat {shlex.quote(str(secret_file))}"
    ring = keys.verify()
    assert ring.source == "command"
    assert ring.primary_id == envelope.key_id(key)
    assert not key_file.exists()


def test_command_key_runs_without_a_shell(key_file, tmp_path, settings):
    key = envelope.new_key()
    script = tmp_path / "kms.py"
    script.write_text(f"print({envelope.format_master_key(key)!r})\n")
    # Shell syntax is passed through as arguments, not interpreted.
    settings.MASTER_KEY_COMMAND = f"{sys.executable} {script} ; rm -rf {tmp_path}"
    assert keys.verify().primary_id == envelope.key_id(key)
    assert script.exists()


def test_a_failing_command_stops_with_its_status_and_error(key_file, settings):
    settings.MASTER_KEY_COMMAND = "sh -c 'echo vault sealed, ask an operator >&2; exit 3'"
    with pytest.raises(keys.MasterKeyProblem) as caught:
        keys.verify()
    message = caught.value.message
    assert "exited with status 3" in message
    assert "vault sealed, ask an operator" in message
    assert "STRONGROOM_MASTER_KEY_COMMAND" in message
    assert not DataKey.objects.exists()


def test_a_command_that_cannot_run_stops(key_file, settings, tmp_path):
    settings.MASTER_KEY_COMMAND = str(tmp_path / "no-such-kms-client")
    with pytest.raises(keys.MasterKeyProblem, match="could not run"):
        keys.verify()


def test_a_command_printing_no_key_stops(key_file, settings):
    settings.MASTER_KEY_COMMAND = "echo this-is-not-a-key"
    with pytest.raises(keys.MasterKeyProblem) as caught:
        keys.verify()
    assert "printed no valid key" in caught.value.message
    assert "this-is-not-a-key" not in caught.value.message


def test_an_invalid_key_file_stops(key_file):
    key_file.parent.mkdir(parents=True)
    key_file.write_text("not a key at all\n")
    key_file.chmod(0o600)
    with pytest.raises(keys.MasterKeyProblem) as caught:
        keys.verify()
    assert f"master key file {key_file} is not a valid key" in caught.value.message
    assert key_file.read_text() == "not a key at all\n"  # never replaced


def test_a_wrong_key_stops_naming_the_expected_and_configured_key_ids(
    key_file, monkeypatch, vault_account
):
    right = envelope.parse_master_key(key_file.read_text())
    wrong = envelope.new_key()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(wrong))
    keys.reset()
    with pytest.raises(keys.MasterKeyProblem) as caught:
        keys.verify()
    message = caught.value.message
    assert envelope.key_id(right) in message  # the key the database needs
    assert envelope.key_id(wrong) in message  # the key that was configured
    assert "wrong master key" in message
    assert "environment" in message

    # And nothing is ever decrypted with it: reading a secret refuses the same way.
    from strongroom.core.secrets import unseal

    keys.reset()
    with pytest.raises(keys.MasterKeyProblem):
        unseal(vault_account, "password")


def test_a_world_readable_key_file_is_used_but_warned_about(key_file, caplog):
    keys.verify()
    key_file.chmod(0o644)
    keys.reset()
    with caplog.at_level(logging.WARNING, logger="strongroom.core.keys"):
        keys.verify()
    assert "readable by others" in caplog.text


def test_during_a_rotation_the_next_key_is_loaded_and_wraps_new_data_keys(key_file):
    keys.verify()
    old_id = keys.keyring().primary_id
    new = envelope.new_key()
    keys.write_key_file(keys.next_key_path(), new)
    assert _mode(keys.next_key_path()) == 0o600
    keys.reset()
    ring = keys.verify()
    assert ring.primary_id == old_id
    assert ring.by_id(envelope.key_id(new)) == new
    created = keys.create_data_key()
    assert created.master_key_id == envelope.key_id(new)
    keys.reset()
    keys.verify()  # both data keys open: one under each key


def test_a_node_notices_a_rotation_finished_by_another_process(key_file, vault_account):
    """A running node keeps its ring; when it meets a data key wrapped by a key it does not
    know, it reads the key file again instead of failing."""
    from strongroom.core.secrets import unseal

    keys.verify()
    old = keys.keyring().primary
    new = envelope.new_key()
    # What another process's finished rotation leaves behind: every data key re-wrapped
    # under the new key, and the new key in the key file.
    for row in DataKey.objects.all():
        plain = envelope.unwrap_key(old, bytes(row.wrapped), data_key_id=row.pk)
        row.wrapped = envelope.wrap_key(new, plain, data_key_id=row.pk)
        row.master_key_id = envelope.key_id(new)
        row.save()
    keys.write_key_file(key_file, new)
    keys._data_keys.clear()  # this node has not opened the data key yet
    assert keys.keyring().primary == old
    assert unseal(vault_account, "password") == "pw-\u05e9\u05dc\u05d5\u05dd-\U0001f511"
    assert keys.keyring().primary == new


def test_a_damaged_wrapped_data_key_is_reported_not_used(key_file):
    keys.verify()
    row = DataKey.objects.get()
    wrapped = bytearray(row.wrapped)
    wrapped[-1] ^= 0x01
    row.wrapped = bytes(wrapped)
    row.save()
    keys.reset()
    with pytest.raises(keys.MasterKeyProblem, match="has been altered"):
        keys.verify()
