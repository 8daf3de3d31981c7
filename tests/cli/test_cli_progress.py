"""Progress on long work: `import`, `export` and `sync --wait` draw a progress line on stderr
when it is a terminal (run here under a real pseudo-terminal from the ``pty`` module), and
print none when stderr is a pipe: the result lines on stdout are the same either way."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time

import pytest

from cli.helpers import LOGIN_PASSWORD, Installation, make_installation
from factories import TEST_ITERATIONS

PASSPHRASE = "plum orbit quietly seventy lantern"
ROWS = 1000

SEED = f"""
from strongroom.accounts import services as people
from strongroom.exports import services as exports
from strongroom.storage import services as storage
boss = people.user_create(actor=None, username="boss", password={LOGIN_PASSWORD!r}, role="admin")
exports.export_policy_update(actor=boss, values={{"kdf_iterations": {TEST_ITERATIONS}}})
storage.provider_settings_update(
    actor=boss, provider="local", enabled=True, config={{"base_dir": BASE}}
)
tech = people.user_create(
    actor=None, username="tech", password={LOGIN_PASSWORD!r}, role="password_admin"
)
storage.storage_connection_save(
    actor=tech, provider="local", config={{"folder": "phone"}}, credentials={{}}
)
result = True
"""


def run_in_pty(inst: Installation, *args: str, timeout: float = 180) -> tuple[int, str, str]:
    """Run the command with stderr on a pseudo-terminal (stdout a pipe, stdin empty); returns
    the exit code, what the terminal showed and stdout."""
    import pty

    master, slave = pty.openpty()
    # A terminal of 120 x 40, as a window would report it.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        inst.argv(*args),
        env=inst._env(None),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    shown = bytearray()
    out = bytearray()
    assert proc.stdout is not None
    # Both streams are drained as they come: a command that prints much on stdout must not
    # block on a full pipe while the terminal is being read.
    streams = {master: shown, proc.stdout.fileno(): out}
    deadline = time.monotonic() + timeout
    try:
        while streams and time.monotonic() < deadline:
            ready, _, _ = select.select(list(streams), [], [], 1.0)
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the command closed the terminal (it exited)
                    chunk = b""
                if chunk:
                    streams[fd] += chunk
                else:
                    del streams[fd]
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, shown.decode("utf-8", errors="replace"), out.decode()


@pytest.fixture
def seeded(tmp_path):
    inst, cleanup = make_installation(tmp_path / "inst", cheap_kdf=True)
    base = tmp_path / "sync-root"
    base.mkdir()
    try:
        inst.ok("migrate")
        inst.script(f"BASE = {str(base)!r}\n" + SEED)
        yield inst
    finally:
        cleanup()


def test_import_export_and_sync_show_progress_on_a_terminal_and_nothing_when_piped(
    seeded, tmp_path
):
    big = tmp_path / "big.csv"
    rows = ["resource_name,resource_type,host,url,department,location,description,"
            "username,password,notes,totp_seed,resource_group"]  # fmt: skip
    rows += [
        f"host-{n},Linux,,https://host-{n}.example/,,,,admin,pw-{n},,,Fleet" for n in range(ROWS)
    ]
    big.write_text("\n".join(rows) + "\n")

    code, shown, out = run_in_pty(seeded, "import", str(big), "--user", "tech")
    assert code == 0, (shown, out)
    assert "reading Strongroom CSV" in shown and "writing" in shown
    assert f"{ROWS}/{ROWS}" in shown and "100%" in shown
    assert f"{ROWS:,} entries read from {big}" in out

    # Piped: the same command (now skipping everything) prints no progress at all.
    piped = seeded.ok("import", str(big), "--user", "tech")
    assert piped.stderr == ""
    assert f"skipped {ROWS:,} items" in piped.stdout

    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    out_file = tmp_path / "copy.html"
    export = ("export", "--user", "tech", "--format", "html", "--out", str(out_file))
    code, shown, out = run_in_pty(seeded, *export, "--passphrase-file", str(secret))
    assert code == 0, (shown, out)
    assert "reading accounts" in shown and f"{ROWS}/{ROWS}" in shown
    assert out.startswith(f"exported {ROWS} entries for tech")
    piped = seeded.ok(*export, "--passphrase-file", str(secret))
    assert piped.stderr == "" and "exported" in piped.stdout

    sync = ("sync", "--user", "tech", "--to", "local", "--passphrase-file", str(secret), "--wait")
    code, shown, out = run_in_pty(seeded, *sync)
    assert code == 0, (shown, out)
    assert "syncing to local" in shown
    assert out.startswith(f"synced {ROWS} entries for tech")
    piped = seeded.ok(*sync)
    assert piped.stderr == "" and piped.stdout.startswith("synced")
