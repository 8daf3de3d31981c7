"""`strongroom serve --port P` (issue 17, point 5): in embedded mode the public URL follows
``--host``/``--port`` unless STRONGROOM_PUBLIC_URL is set, so Box's redirect URI on Admin »
Integration » Cloud Storage names the port the server listens on; a port another program
listens on stops `serve` (and `web`) at once with "port P is in use", before gunicorn."""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests

from cli.helpers import StreamWatcher, free_port, wait_until_http_ok

pytestmark = pytest.mark.db_specific

ADMIN_PASSWORD = "Harbour-lantern-73-quietly"


@pytest.fixture
def listener() -> Iterator[int]:
    """A real listening socket on 127.0.0.1 (what another program holding the port is)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["serve", "web"])
def test_a_busy_port_is_named_and_nothing_starts(migrated, listener: int, command: str) -> None:
    done = migrated.run(command, "--port", str(listener), "--workers", "1", timeout=60)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert f"port {listener} is in use on 127.0.0.1" in done.stderr
    assert "--port" in done.stderr
    assert "stopped unexpectedly" not in done.stderr
    assert "gunicorn" not in done.stdout + done.stderr


def _sign_in(session: requests.Session, base: str, username: str, password: str) -> None:
    page = session.get(f"{base}/login/", timeout=30)
    token = session.cookies["csrftoken"]
    answer = session.post(
        f"{base}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": page.url},
        timeout=30,
        allow_redirects=True,
    )
    assert "/login/" not in answer.url, answer.text[:500]


def _box_redirect_uri(session: requests.Session, base: str) -> str:
    page = session.get(urljoin(base, "/admin/storage/"), timeout=30)
    assert page.status_code == 200
    found = re.search(r"data-redirect-uri>([^<]+)<", page.text)
    assert found, "no Box redirect URI on the page"
    return found.group(1)


@pytest.mark.parametrize("configured", [None, "http://vault.example.test:9443"])
def test_public_url_follows_the_port_unless_configured(
    migrated, tmp_path, configured: str | None
) -> None:
    secret = tmp_path / "pw.txt"
    secret.write_text(ADMIN_PASSWORD + "\n", encoding="utf-8")
    migrated.ok("createadmin", "root", "--password-file", str(secret))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = migrated.start(
        "serve", "--port", str(port), "--workers", "1",
        env={"STRONGROOM_PUBLIC_URL": configured},
    )  # fmt: skip
    out = StreamWatcher(proc.stdout)
    try:
        expected = configured or base
        # Up to the line's end: the watcher reads a character at a time, so a match without
        # it could stop short of the last characters (a flake seen in CI).
        said = out.wait_for_regex(r"public URL \(OAuth redirects, email links\): (\S+)\n", 120)
        assert said.group(1) == expected
        wait_until_http_ok(f"{base}/healthz", proc)
        session = requests.Session()
        session.trust_env = False
        _sign_in(session, base, "root", ADMIN_PASSWORD)
        assert _box_redirect_uri(session, base) == f"{expected}/storage/box/oauth/callback/"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
