"""Configuration and key checks (what `strongroom check` and every server run first)."""

from __future__ import annotations

import os

import pytest

from cli.helpers import free_port
from strongroom.core import checks, keys
from strongroom.core.models import DataKey
from strongroom.crypto import envelope

pytestmark = [pytest.mark.django_db, pytest.mark.db_specific]


def _levels(findings, name):
    return [(f.level, f.message) for f in findings if f.check == name]


def test_a_healthy_installation_has_no_errors(key_file):
    keys.verify()
    findings = checks.run_all()
    assert not [f for f in findings if f.level == checks.ERROR], findings
    assert {f.check for f in findings} >= {
        "database",
        "migrations",
        "master key",
        "secret key",
        "public URL",
        "queue",
    }


def test_the_key_check_opens_every_data_key_and_names_a_wrong_key(key_file, monkeypatch):
    keys.verify()
    keys.create_data_key()
    (ok,) = _levels(checks.check_master_key(), "master key")
    assert ok[0] == checks.OK
    assert "opens all 2 data keys" in ok[1]

    wrong = envelope.new_key()
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", envelope.format_master_key(wrong))
    keys.reset()
    (error,) = checks.check_master_key()
    assert error.level == checks.ERROR
    assert envelope.key_id(wrong) in error.message
    # The check never creates data keys, even when none is active.
    assert DataKey.objects.count() == 2


def test_the_key_check_refuses_a_key_file_others_can_read(key_file):
    keys.verify()
    key_file.chmod(0o640)
    keys.reset()
    levels = _levels(checks.check_master_key(), "master key")
    assert (checks.ERROR, f"{key_file} has mode 640; run: chmod 600 {key_file}") in levels


def test_unfinished_rotations_are_warned_about(key_file):
    keys.verify()
    keys.write_key_file(keys.next_key_path(), envelope.new_key())
    DataKey.objects.update(status=DataKey.Status.RETIRED)
    keys.reset()
    warnings = [
        m for level, m in _levels(checks.check_master_key(), "master key") if level == "warning"
    ]
    assert any("strongroom key rotate" in m and "--reencrypt" not in m for m in warnings)
    assert any("strongroom key rotate --reencrypt" in m for m in warnings)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("vault.example.com", "not an http(s) URL"),
        ("ftp://vault.example.com", "not an http(s) URL"),
        ("https://vault.example.com/strongroom", "must be the site root"),
        ("https://vault.example.com/?x=1", "must be the site root"),
    ],
)
def test_public_url_must_be_an_http_site_root(settings, url, problem):
    settings.PUBLIC_URL = url
    (finding,) = checks.check_public_url()
    assert finding.level == checks.ERROR
    assert problem in finding.message


def test_production_settings_are_held_to_a_higher_standard(settings):
    settings.PRODUCTION = True
    settings.DEBUG = True
    settings.PUBLIC_URL = "http://vault.example.com"
    settings.SECRET_KEY = "short"
    levels = {(f.check, f.level) for f in checks.check_public_url() + checks.check_secret_key()}
    assert ("debug", checks.ERROR) in levels
    assert ("public URL", checks.WARNING) in levels  # plain http
    assert ("secret key", checks.ERROR) in levels


def test_redis_is_checked_when_configured(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    (down,) = checks.check_redis()
    assert down.level == checks.ERROR
    assert "cannot be reached" in down.message

    settings.REDIS_URL = os.environ.get("STRONGROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    (up,) = checks.check_redis()
    assert up.level == checks.OK, up.message


def test_a_redis_password_never_appears_in_findings(settings):
    settings.REDIS_URL = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    (finding,) = checks.check_redis()
    assert "hunter2" not in finding.message
