"""/healthz (liveness) and /readyz (readiness) as a load balancer sees them: no login, no
CSRF, any Host header, no https redirect, per-check JSON, 503 naming what failed, nothing
secret in the body. Real outages of Redis and the database: tests/api/test_outages.py."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from strongroom.core import keys
from strongroom.crypto import envelope

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]

CHECKS = {"database", "queue", "master_key", "data_dir"}


def _probe(path: str, **headers: str):
    # A balancer probes a node by its address: a Host no ALLOWED_HOSTS entry names.
    return Client().get(path, headers={"Host": "10.1.2.3:8000", **headers})


def test_liveness_answers_without_touching_the_database():
    with CaptureQueriesContext(connection) as queries:
        response = _probe("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert response["Cache-Control"] == "no-store"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_readiness_reports_every_check(key_file):
    keys.verify()
    response = _probe("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    assert {check["status"] for check in body["checks"].values()} == {"ok"}
    assert body["checks"]["master_key"]["message"] == "loaded; opens the active data key"
    assert response["Cache-Control"] == "no-store"


def test_probes_refuse_writes_and_need_no_csrf_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/readyz", headers={"Host": "10.1.2.3"})
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert client.head("/healthz").status_code == 200


def test_a_wrong_master_key_makes_the_node_unready_without_naming_keys(key_file, monkeypatch):
    keys.verify()
    wrong = envelope.new_key()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(wrong))
    keys.reset()
    response = _probe("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["master_key"]["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    text = response.content.decode()
    assert envelope.key_id(wrong) not in text and str(key_file) not in text
    assert _probe("/healthz").status_code == 200


def test_low_disk_space_makes_the_node_unready(key_file, settings):
    keys.verify()
    settings.READY_MIN_FREE_MB = 10**12  # a petabyte: more than any disk here has free
    response = _probe("/readyz")
    assert response.status_code == 503
    data_dir = response.json()["checks"]["data_dir"]
    assert data_dir["status"] == "fail"
    assert "STRONGROOM_READY_MIN_FREE_MB" in data_dir["message"]


def test_an_unwritable_data_dir_makes_the_node_unready(key_file, settings, tmp_path):
    keys.verify()
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")  # root ignores permission bits; a file is never writable
    settings.DATA_DIR = not_a_directory
    response = _probe("/readyz")
    assert response.status_code == 503
    data_dir = response.json()["checks"]["data_dir"]
    assert data_dir["status"] == "fail" and "not writable" in data_dir["message"]
    assert str(tmp_path) not in response.content.decode()


def test_probes_are_not_redirected_to_https_in_production(key_file, settings):
    keys.verify()
    settings.PRODUCTION = True
    settings.PUBLIC_URL = "https://vault.example.test"
    for path in ("/healthz", "/readyz"):
        response = _probe(path, **{"X-Forwarded-Proto": "http"})
        assert response.status_code == 200, (path, response.status_code)
