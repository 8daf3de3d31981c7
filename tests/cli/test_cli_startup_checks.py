"""`strongroom web` (and gunicorn started directly) refuse the configuration errors that
`strongroom check` reports: a real process, a bad configuration, its exit code and message,
and no port ever opened."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from cli.helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.db_specific]

SHORT_SECRET = {
    "STRONGROOM_MODE": "production",
    "STRONGROOM_SECRET_KEY": "abcde",  # 5 characters: `check` calls it an error
    "STRONGROOM_PUBLIC_URL": "https://vault.example.test",
}
MESSAGE = "secret key: STRONGROOM_SECRET_KEY is shorter than 40 characters"


def _nothing_listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_check_and_web_refuse_a_short_secret_key_alike(migrated):
    check = migrated.run("check", env=SHORT_SECRET)
    assert check.returncode == 3
    assert "STRONGROOM_SECRET_KEY is shorter than 40 characters" in check.stdout

    port = free_port()
    web = migrated.run("web", "--port", str(port), "--workers", "1", env=SHORT_SECRET, timeout=120)
    assert web.returncode == 3, (web.stdout, web.stderr)
    assert MESSAGE in web.stderr.replace("\n", " ")
    assert "Nothing was served" in web.stderr
    assert _nothing_listens(port)


def test_web_refuses_a_master_key_file_others_can_read(migrated):
    key = migrated.data_dir / "master.key"
    key.chmod(0o644)
    done = migrated.run("web", "--port", str(free_port()), "--workers", "1", timeout=120)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "has mode 644; run: chmod 600" in done.stderr.replace("\n", " ")


def test_gunicorn_started_directly_refuses_the_same_configuration(migrated):
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:strongroom.config.gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        env=migrated._env({**SHORT_SECRET, "DJANGO_SETTINGS_MODULE": None}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert f"Strongroom cannot start: {MESSAGE}" in done.stderr
    assert _nothing_listens(port)
