"""`strongroom key rotate` for real: SIGKILLed mid-way and run again, every secret still
opens and nothing is left under the old key. Both paths: master key re-wrap and data key
re-encryption."""

from __future__ import annotations

import re
import signal
import stat

import pytest

from cli.helpers import Installation, StreamWatcher
from strongroom.crypto import envelope

pytestmark = pytest.mark.db_specific

# Every account's secrets, decrypted, and which data key each stored value names.
STATE = """
from strongroom.core import rotation
from strongroom.core.models import DataKey
from strongroom.core.secrets import unseal
from strongroom.crypto import envelope
from strongroom.vault.models import Account
values = {}
for account in Account.objects.all():
    values[account.username] = [unseal(account, "password"), unseal(account, "notes")]
in_use = {}
for model, fields in rotation.sealed_columns():
    for obj in model._base_manager.all():
        for name in fields:
            blob = getattr(obj, name)
            if blob is not None:
                key_id = str(envelope.sealed_key_id(bytes(blob)))
                in_use[key_id] = in_use.get(key_id, 0) + 1
result = {
    "values": values,
    "in_use": in_use,
    "data_keys": {str(k.pk): [k.master_key_id, k.status] for k in DataKey.objects.all()},
}
"""

# Which data keys the stored values name, and which master keys wrap the data keys
# (cheap: reads headers only, decrypts nothing).
PROGRESS = """
from strongroom.core import rotation
from strongroom.core.models import DataKey
from strongroom.crypto import envelope
in_use = {}
for model, fields in rotation.sealed_columns():
    for values in model._base_manager.values_list(*fields):
        for blob in values:
            if blob is not None:
                key_id = str(envelope.sealed_key_id(bytes(blob)))
                in_use[key_id] = in_use.get(key_id, 0) + 1
result = {
    "in_use": in_use,
    "masters": sorted({k.master_key_id for k in DataKey.objects.all()}),
}
"""


def _bulk_import(inst: Installation, tmp_path, rows: int) -> dict[str, list[str]]:
    """Many accounts, created fast through the real import (one transaction)."""
    lines = [
        "resource_name,resource_type,host,url,department,location,description,"
        "username,password,notes,totp_seed"
    ]
    expected: dict[str, list[str]] = {}
    for i in range(rows):
        password, notes = f"pw-{i}-\u00e9\u6f22-{i * 7919}", f"note {i}"
        lines.append(f"server-{i // 3:05d},Linux,,,,,,user{i:05d},{password},{notes},")
        expected[f"user{i:05d}"] = [password, notes]
    csv_file = tmp_path / "bulk.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    inst.ok("import", str(csv_file), "--format", "strongroom", "--user", "alice")
    return expected


def _progress(watcher: StreamWatcher, label: str, at_least: int) -> int:
    def reached(text: str) -> int | None:
        counts = [int(m.group(1)) for m in re.finditer(rf"{label}:[^\r\n]*?(\d+)/\d+", text)]
        return counts[-1] if counts and counts[-1] >= at_least else None

    return watcher.wait_for(reached, timeout=120)


def _kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.slow
def test_reencryption_killed_mid_way_then_rerun(demo, tmp_path):
    expected = _bulk_import(demo, tmp_path, rows=3000)
    before = demo.script(STATE)
    assert {k: v for k, v in before["values"].items() if k in expected} == expected
    old_keys = set(before["data_keys"])

    proc = demo.start("key", "rotate", "--reencrypt", "--batch-size", "40", "--pause", "0.05")
    watcher = StreamWatcher(proc.stderr)
    done_rows = _progress(watcher, "re-encrypting secrets", at_least=400)
    _kill(proc)
    assert "verifying" not in watcher.text  # it really was killed in the first pass

    # Half-done: values under both the old and the new data key, all of them readable.
    midway = demo.script(PROGRESS)
    new_keys = set(midway["in_use"]) - old_keys
    assert len(new_keys) == 1, midway
    assert midway["in_use"][new_keys.pop()] >= done_rows
    assert any(midway["in_use"].get(k) for k in old_keys), midway
    assert demo.ok("check").returncode == 0  # a server could start right now
    assert "re-encryption is unfinished" in demo.run("check").stdout

    rerun = demo.ok("key", "rotate", "--reencrypt", "--batch-size", "500")
    assert "re-encryption resumed and finished" in rerun.stdout

    after = demo.script(STATE)
    assert after["values"] == before["values"]
    (only_key,) = after["data_keys"]
    assert only_key not in old_keys
    assert after["data_keys"][only_key][1] == "active"
    assert set(after["in_use"]) == {only_key}
    assert demo.ok("audit", "verify").stdout.startswith("OK: ")
    assert "WARNING" not in demo.ok("check").stdout


@pytest.mark.slow
def test_master_rotation_killed_mid_way_then_rerun(demo, tmp_path):
    # Many data keys, each sealing a few secrets, so the re-wrap has rows to be killed in.
    demo.script(
        """
        from strongroom.accounts.models import User
        from strongroom.core import keys
        from strongroom.vault.services import account_create, resource_create
        alice = User.objects.get(username="alice")
        resource = resource_create(actor=alice, name="rotation test")
        for n in range(40):
            keys.create_data_key()
            keys.reset()
            for i in range(3):
                account_create(actor=alice, resource_id=resource.pk, username=f"k{n}-{i}",
                               password=f"pw {n} {i}", notes=f"note {n} {i}")
        """
    )
    key_file = demo.data_dir / "master.key"
    old_key = envelope.parse_master_key(key_file.read_text())
    before = demo.script(STATE)
    assert len(before["data_keys"]) > 40
    assert len(before["in_use"]) > 40

    proc = demo.start("key", "rotate", "--pause", "0.1")
    watcher = StreamWatcher(proc.stderr)
    _progress(watcher, "re-wrapping data keys", at_least=8)
    _kill(proc)

    next_file = demo.data_dir / "master.key.next"
    assert next_file.exists()
    assert stat.S_IMODE(next_file.stat().st_mode) == 0o600
    new_key = envelope.parse_master_key(next_file.read_text())
    midway = demo.script(PROGRESS)
    assert midway["masters"] == sorted([envelope.key_id(old_key), envelope.key_id(new_key)])
    assert envelope.parse_master_key(key_file.read_text()) == old_key
    # Mid-rotation, every node still starts and reads everything.
    assert "rotation is unfinished" in demo.ok("check").stdout
    assert demo.script(STATE)["values"] == before["values"]

    rerun = demo.ok("key", "rotate")
    assert "resumed" in rerun.stdout
    assert f"{envelope.key_id(old_key)} -> {envelope.key_id(new_key)}" in rerun.stdout
    retired = demo.data_dir / f"master.key.retired-{envelope.key_id(old_key)}"
    assert str(retired) in rerun.stderr
    assert "destroy the old one" in rerun.stderr

    assert not next_file.exists()
    assert envelope.parse_master_key(key_file.read_text()) == new_key
    assert envelope.parse_master_key(retired.read_text()) == old_key
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    after = demo.script(STATE)
    assert after["values"] == before["values"]
    assert {master for master, _ in after["data_keys"].values()} == {envelope.key_id(new_key)}
    assert demo.ok("audit", "verify").stdout.startswith("OK: ")

    # The old key alone no longer opens this database, and says which key it needs.
    refused = demo.run("check", env={"STRONGROOM_MASTER_KEY": envelope.format_master_key(old_key)})
    assert refused.returncode == 3
    assert envelope.key_id(new_key) in refused.stdout


def test_master_rotation_with_an_environment_key_prints_what_to_do(migrated, tmp_path):
    key = envelope.new_key()
    env = {"STRONGROOM_MASTER_KEY": envelope.format_master_key(key)}
    # This installation's data keys are wrapped by its key file; start a new database
    # under the environment key instead by re-wrapping with a file rotation first.
    old_file_key = envelope.parse_master_key((migrated.data_dir / "master.key").read_text())
    env_old = {"STRONGROOM_MASTER_KEY": envelope.format_master_key(old_file_key)}
    migrated.ok("createadmin", "root", "--password-file", "-", input="Correct-horse-battery-7x\n")

    missing = migrated.run("key", "rotate", env=env_old)
    assert missing.returncode == 1
    assert "--new-key-file PATH" in missing.stderr

    target = tmp_path / "next-master.key"
    done = migrated.ok("key", "rotate", "--new-key-file", str(target), env=env_old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    new_key = envelope.parse_master_key(target.read_text())
    assert "set STRONGROOM_MASTER_KEY to its contents" in done.stdout
    assert str(target) in done.stdout
    assert envelope.key_id(new_key) in done.stdout

    assert migrated.run("check", env=env_old).returncode == 3
    assert migrated.run("check", env=env).returncode == 3  # an unrelated key is refused too
    switched = {"STRONGROOM_MASTER_KEY": envelope.format_master_key(new_key)}
    assert migrated.ok("check", env=switched)
    assert migrated.ok("audit", "verify", env=switched).stdout.startswith("OK: ")

    both = migrated.run("key", "rotate", "--reencrypt", "--new-key-file", str(target))
    assert both.returncode == 2
