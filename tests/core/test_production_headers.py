"""Production mode behind a TLS-terminating balancer: HSTS on https answers (max-age from
STRONGROOM_HSTS_SECONDS), plain http redirected to the https public URL when the balancer
says so, nothing of that in embedded mode."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PUBLIC = "https://vault.example.test"


@pytest.fixture
def production(settings):
    settings.PRODUCTION = True
    settings.PUBLIC_URL = PUBLIC
    settings.ALLOWED_HOSTS = ["vault.example.test"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    return settings


def _get(path: str, proto: str | None, host: str = "vault.example.test", method: str = "get"):
    headers = {"Host": host}
    if proto is not None:
        headers["X-Forwarded-Proto"] = proto
    return getattr(Client(), method)(path, headers=headers)


def test_https_answers_carry_hsts_in_production(production):
    response = _get("/login/", "https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    production.SECURE_HSTS_SECONDS = 600
    assert _get("/login/", "https")["Strict-Transport-Security"] == "max-age=600"


def test_plain_http_from_the_balancer_is_redirected_to_the_public_url(production):
    response = _get("/login/?next=/audit/", "http")
    assert response.status_code == 301
    assert response["Location"] == f"{PUBLIC}/login/?next=/audit/"
    assert "Strict-Transport-Security" not in response
    # The target comes from the public URL, never from the Host header.
    assert _get("/", "http", host="evil.example")["Location"] == f"{PUBLIC}/"
    # A POST keeps its method and body (308), API included.
    posted = _get("/api/v1/auth/login", "http", method="post")
    assert posted.status_code == 308
    assert posted["Location"] == f"{PUBLIC}/api/v1/auth/login"


def test_requests_without_the_balancer_header_are_served(production):
    # A client on the node's own address (an operator's curl): no redirect, and no HSTS
    # over plain http.
    response = _get("/login/", None)
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response


def test_embedded_mode_sends_no_hsts_and_never_redirects(settings):
    assert settings.PRODUCTION is False and settings.SECURE_HSTS_SECONDS == 0
    response = _get("/login/", "http", host="127.0.0.1")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response


def _settings_value(name: str, env: dict[str, str]) -> str:
    program = (
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    )
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")},
        "STRONGROOM_DATA_DIR": os.environ["STRONGROOM_DATA_DIR"],
        "DJANGO_SETTINGS_MODULE": "strongroom.config.settings",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", program], env=full, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_hsts_max_age_comes_from_the_environment():
    production = {
        "STRONGROOM_MODE": "production",
        "STRONGROOM_SECRET_KEY": "x" * 50,
        "STRONGROOM_PUBLIC_URL": PUBLIC,
    }
    assert _settings_value("SECURE_HSTS_SECONDS", production) == "31536000"
    tuned = {**production, "STRONGROOM_HSTS_SECONDS": "600"}
    assert _settings_value("SECURE_HSTS_SECONDS", tuned) == "600"
    assert _settings_value("SECURE_HSTS_SECONDS", {}) == "0"
