"""Fixtures (used by tests/identity/ and tests/browser/test_browser_sso.py): a real
OpenID Provider for the single sign-on tests: django-oauth-toolkit in OIDC mode,
its own Django project (tests/identity/op/), its own database and RSA key, served by cheroot
on 127.0.0.1 in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.cli.helpers import StreamWatcher, wait_until_http_ok

OP_SOURCE = Path(__file__).parent / "op"
STRONGROOM_ORIGIN = "http://testserver"
CLIENT_ID = "strongroom-test-client"
CLIENT_SECRET = "op-client-secret-canary-9f3a"
PASSWORD = "Op-user-password-7"

USERS = [
    {
        "username": "alice",
        "email": "alice@example.com",
        "password": PASSWORD,
        "groups": ["strongroom-users", "vault-admins"],
    },
    {
        "username": "bob",
        "email": "bob@example.com",
        "password": PASSWORD,
        "groups": ["strongroom-users"],
    },
    {
        "username": "carol",
        "email": "carol@elsewhere.org",
        "password": PASSWORD,
        "groups": ["strongroom-users"],
    },
    {"username": "dave", "email": "dave@example.com", "password": PASSWORD, "groups": []},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OpenIdProvider:
    port: int
    issuer: str
    private_key: rsa.RSAPrivateKey
    key_id: str
    env: dict[str, str]

    def add_client(self, client_id: str, redirect_uri: str) -> None:
        """Register another Strongroom client (e.g. the live server's redirect URI)."""
        subprocess.run(
            [
                sys.executable,
                str(OP_SOURCE / "setup_op.py"),
                redirect_uri,
                client_id,
                CLIENT_SECRET,
            ],
            input="[]",
            text=True,
            env={**self.env, "OP_ADD_CLIENT": "1"},
            check=True,
            capture_output=True,
        )

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def openid_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    op_dir = tmp_path_factory.mktemp("op")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = op_dir / "rsa.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/o"
    env = {
        **os.environ,
        "OP_DIR": str(op_dir),
        "OP_ISSUER": issuer,
        "OP_RSA_KEY_FILE": str(key_file),
        "PYTHONPATH": str(OP_SOURCE),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [
            sys.executable,
            str(OP_SOURCE / "setup_op.py"),
            f"{STRONGROOM_ORIGIN}/sso/op/callback/",
            CLIENT_ID,
            CLIENT_SECRET,
        ],
        input=json.dumps(USERS),
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [sys.executable, str(OP_SOURCE / "serve.py"), str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    StreamWatcher(proc.stdout)  # drain its log
    try:
        wait_until_http_ok(f"{issuer}/.well-known/openid-configuration", proc, timeout=60)
        import requests

        jwks = requests.get(f"{issuer}/.well-known/jwks.json", timeout=10).json()
        kid = jwks["keys"][0]["kid"]
        yield OpenIdProvider(port=port, issuer=issuer, private_key=key, key_id=kid, env=env)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def op_settings(openid_provider: OpenIdProvider, settings: Any) -> OpenIdProvider:
    settings.SSO_INTERNAL_ALLOWED = [openid_provider.host_port]
    settings.PUBLIC_URL = STRONGROOM_ORIGIN
    return openid_provider
