"""Canary: known secrets go through a real server (sign-in, API token, create, retrieve,
change, import, TOTP, audit query, a failed sign-in) and must never appear in clear in any
log line the server or the CLI printed, nor in any file the server wrote (SQLite database
and WAL, Huey queue) or, on PostgreSQL, in any row of any table.

The server runs at DEBUG log level so that the most talkative configuration is checked.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.db_specific

BIN = Path(sys.executable).with_name("strongroom")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(base: str, proc: subprocess.Popen, deadline: float) -> None:
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            if session.get(f"{base}/livez", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)  # polling for a socket that is not listening yet
    raise RuntimeError("server did not start in time")


@pytest.fixture
def database_url():
    """SQLite in the data dir, or (on the PostgreSQL run) a throw-away database of its own."""
    url = os.environ.get("STRONGROOM_DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield None
        return
    import psycopg

    name = f"strongroom_canary_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database_rows_text(url: str) -> bytes:
    import psycopg

    out = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for table in tables:
            for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t'):  # noqa: S608
                out.append(row)
    return "\n".join(out).encode()


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw), secret.encode("utf-16-le")]


def test_canary_secrets_never_reach_logs_or_storage(tmp_path, database_url):
    data_dir = tmp_path / "data"
    tag = secrets.token_hex(6)
    login_password = f"Canary-login-{tag}-Zq9!"
    vault_password = f"Canary-vault-{tag}-<&>\"'"
    changed_password = f"Canary-changed-{tag}-密码"
    imported_password = f"Canary-import-{tag}-=cmd|"
    notes = f"Canary-notes-{tag}"
    totp_seed = base64.b32encode(f"canary{tag}".encode()).decode().rstrip("=")
    env = dict(
        os.environ,
        STRONGROOM_DATA_DIR=str(data_dir),
        STRONGROOM_LOG_LEVEL="DEBUG",
        STRONGROOM_ARGON2_FAST="1",
    )
    env.pop("STRONGROOM_HUEY_IMMEDIATE", None)
    if database_url:
        env["STRONGROOM_DATABASE_URL"] = database_url
    else:
        env.pop("STRONGROOM_DATABASE_URL", None)

    printed: list[bytes] = []
    for argv in (["migrate"], ["createadmin", "canary-admin", "--password-file", "-"]):
        done = subprocess.run(
            [str(BIN), *argv],
            env=env,
            input=login_password.encode() + b"\n",
            capture_output=True,
            timeout=120,
            check=False,
        )
        printed += [done.stdout, done.stderr]
        assert done.returncode == 0, done.stderr.decode()

    port = _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(BIN), "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, server, time.monotonic() + 60)
        web = requests.Session()
        web.trust_env = False
        api = f"{base}/api/v1"

        # A failed sign-in whose attempted password is a canary too.
        bad = web.post(
            f"{api}/auth/login", json={"username": "canary-admin", "password": vault_password}
        )
        assert bad.status_code == 401
        signed_in = web.post(
            f"{api}/auth/login", json={"username": "canary-admin", "password": login_password}
        )
        assert signed_in.status_code == 200, signed_in.text
        csrf = web.cookies["csrftoken"]
        # Confirming it's you sends the login password once more: it must not leak either.
        confirmed = web.post(
            f"{api}/auth/reauth",
            json={"password": login_password},
            headers={"X-CSRFToken": csrf, "Referer": base},
        )
        assert confirmed.status_code == 200, confirmed.text
        issued = web.post(
            f"{api}/me/tokens",
            json={"name": "canary", "scopes": ["read", "retrieve", "write"]},
            headers={"X-CSRFToken": csrf, "Referer": base},
        )
        assert issued.status_code in (200, 201), issued.text
        token = issued.json()["token"]

        bearer = requests.Session()
        bearer.trust_env = False
        bearer.headers["Authorization"] = f"Bearer {token}"
        resource = bearer.post(f"{api}/resources", json={"name": "canary host", "host": "10.9.8.7"})
        assert resource.status_code == 201, resource.text
        rid = resource.json()["id"]
        account = bearer.post(
            f"{api}/resources/{rid}/accounts",
            json={
                "username": "root",
                "password": vault_password,
                "notes": notes,
                "totp_seed": totp_seed,
            },
        )
        assert account.status_code == 201, account.text
        aid = account.json()["id"]
        got = bearer.post(f"{api}/accounts/{aid}/password", json={"reason": "canary check"})
        assert got.json() == {"password": vault_password}
        assert bearer.post(f"{api}/accounts/{aid}/totp", json={"reason": "x"}).status_code == 200
        changed = bearer.patch(f"{api}/accounts/{aid}", json={"password": changed_password})
        assert changed.status_code == 200, changed.text
        got = bearer.post(f"{api}/accounts/{aid}/password", json={"reason": "after change"})
        assert got.json() == {"password": changed_password}

        csv_text = (
            "folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,"
            "login_password,login_totp\n"
            f'Infra,,login,canary import,,,,https://canary.example,admin,"{imported_password}",\n'
        )
        imported = bearer.post(
            f"{api}/import",
            data={"format": "bitwarden"},
            files={"file": ("canary.csv", csv_text.encode(), "text/csv")},
        )
        assert imported.status_code == 200, imported.text
        listing = bearer.get(f"{api}/resources", params={"search": "canary import"}).json()
        imported_rid = listing["items"][0]["id"]
        imported_aid = bearer.get(f"{api}/resources/{imported_rid}/accounts").json()[0]["id"]
        got = bearer.post(f"{api}/accounts/{imported_aid}/password", json={"reason": "import"})
        assert got.json() == {"password": imported_password}

        audit = bearer.get(f"{api}/audit", params={"action": "password.retrieve"})
        assert audit.status_code == 200
        assert audit.json()["total"] >= 3
        assert bearer.get(f"{api}/audit/verify").json()["ok"] is True
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    haystacks: dict[str, bytes] = {"server log": log_path.read_bytes()}
    haystacks.update({f"cli output {i}": blob for i, blob in enumerate(printed)})
    for path in data_dir.rglob("*"):
        if path.is_file() and path.name != "master.key":
            haystacks[str(path.relative_to(data_dir))] = path.read_bytes()
    if database_url:
        haystacks["postgresql rows"] = _database_rows_text(database_url)
    else:
        assert any(name.endswith(".sqlite3") for name in haystacks), "no database file found"
    # The log really covers the flow (so an empty log cannot pass for a clean one).
    assert f'/api/v1/accounts/{aid}/password HTTP/1.1" 200'.encode() in haystacks["server log"]

    canaries = {
        "login password": login_password,
        "vault password": vault_password,
        "changed password": changed_password,
        "imported password": imported_password,
        "notes": notes,
        "totp seed": totp_seed,
        "api token": token,
        "api token body": token[len("sr_") + 6 :],
    }
    leaks = [
        f"{what} found in {where}"
        for what, secret in canaries.items()
        for where, blob in haystacks.items()
        if any(form in blob for form in _forms(secret))
    ]
    assert not leaks, leaks
