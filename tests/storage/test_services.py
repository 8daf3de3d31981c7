"""Connection services: verify before saving, sealed at rest, never logged, audited,
disconnect, needs-reauth, user deactivation."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.db import connection as db

from strongroom.audit.models import AuditEvent
from strongroom.core.errors import PermissionDenied, ValidationFailed
from strongroom.storage import registry, services
from strongroom.storage.base import StorageAuthError
from strongroom.storage.models import ProxySettings, StorageConnection

from .helpers import admin, enable_local, enable_s3, s3_input, user_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


def _raw_credentials(conn: StorageConnection) -> bytes:
    with db.cursor() as cur:
        cur.execute(
            "SELECT credentials FROM strongroom_storage_connection WHERE id = %s",
            [conn.pk.hex if db.vendor == "sqlite" else conn.pk],
        )
        row = cur.fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


def test_connect_s3_verifies_then_seals(moto, s3_credentials, caplog):
    caplog.set_level(logging.DEBUG)
    enable_s3(moto.url)
    user = user_make()
    config, creds = s3_input(s3_credentials, moto.url)
    conn = services.storage_connection_save(
        actor=user, provider="s3", config=config, credentials=creds
    )
    assert conn.status == "connected"
    assert "s3://strongroom-test/people/" in conn.account_label
    raw = _raw_credentials(conn)
    assert raw and s3_credentials.secret_access_key.encode() not in raw
    assert s3_credentials.access_key_id.encode() not in raw
    assert services.unsealed_credentials(conn) == creds
    provider = registry.provider_for_connection(StorageConnection.objects.get(pk=conn.pk))
    assert provider.put("x.html", b"x").size == 1
    assert s3_credentials.secret_access_key not in caplog.text
    event = AuditEvent.objects.filter(action="storage.connect").latest("seq")
    assert s3_credentials.secret_access_key not in json.dumps(event.details)


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"access_key_id": "AKIAUNKNOWNKEY000000"}, "unknown access key", None),
        ({"secret_access_key": "wrong-secret-" + "z" * 27}, "bad secret", None),
        ({"bucket": "no-such-bucket-here"}, "no such bucket", None),
        ({"bucket": "Bad_Bucket"}, "bucket name", "bucket"),
        ({"access_key_id": ""}, "access key ID is required", "access_key_id"),
    ],
)
def test_connect_s3_says_what_is_wrong_and_saves_nothing(
    moto, s3_credentials, caplog, change, message, field
):
    caplog.set_level(logging.DEBUG)
    enable_s3(moto.url)
    user = user_make()
    bucket = change.pop("bucket", None)
    config, creds = s3_input(s3_credentials, moto.url, bucket=bucket, **change)
    with pytest.raises(ValidationFailed) as excinfo:
        services.storage_connection_save(
            actor=user, provider="s3", config=config, credentials=creds
        )
    assert message in excinfo.value.message
    if field:
        assert excinfo.value.details.get("field") == field
    assert not StorageConnection.objects.filter(user=user).exists()
    if field is None:  # the check ran and failed: audited as a failure
        failed = AuditEvent.objects.filter(action="storage.connect", outcome="failure")
        assert failed.filter(actor_id=user.pk).exists()
    for secret in (s3_credentials.secret_access_key, creds["secret_access_key"]):
        assert secret not in excinfo.value.message
        assert secret not in caplog.text


def test_access_denied_and_unreachable_messages(moto):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    enable_s3(moto.url, closed)
    user = user_make()
    config, creds = s3_input(moto.denied, moto.url)
    with pytest.raises(ValidationFailed, match="access denied"):
        services.storage_connection_save(
            actor=user, provider="s3", config=config, credentials=creds
        )
    config, creds = s3_input(moto.admin, closed)
    with pytest.raises(ValidationFailed, match="endpoint unreachable"):
        services.storage_connection_save(
            actor=user, provider="s3", config=config, credentials=creds
        )


def test_endpoint_must_be_allow_listed(moto, s3_credentials):
    enable_s3()  # AWS only
    config, creds = s3_input(s3_credentials, moto.url)
    with pytest.raises(ValidationFailed) as excinfo:
        services.storage_connection_save(
            actor=user_make(), provider="s3", config=config, credentials=creds
        )
    assert excinfo.value.details["field"] == "endpoint"
    assert "allow-list" in excinfo.value.message


def test_provider_must_be_enabled(local_base_dir):
    with pytest.raises(ValidationFailed, match="not enabled"):
        services.storage_connection_save(
            actor=user_make(), provider="local", config={"folder": "x"}, credentials={}
        )


def test_only_admins_change_settings():
    with pytest.raises(PermissionDenied):
        services.provider_settings_update(actor=user_make(), provider="s3", enabled=True)
    with pytest.raises(PermissionDenied):
        services.proxy_settings_update(actor=user_make(), enabled=False)


def test_proxy_password_sealed_and_write_only(dns):
    dns.set("proxy.corp", ["93.184.216.34"])  # a public address (never connected to)
    services.proxy_settings_update(
        actor=admin(), enabled=True, host="proxy.corp", port=8080, username="u", password="pw-1"
    )
    row = ProxySettings.objects.get()
    assert b"pw-1" not in bytes(row.password)
    assert registry.proxy_config().password == "pw-1"
    services.proxy_settings_update(actor=admin(), enabled=True, host="proxy.corp", port=8080)
    assert registry.proxy_config().password == "pw-1"  # None keeps it
    services.proxy_settings_update(
        actor=admin(), enabled=True, host="proxy.corp", port=8080, password=""
    )
    assert registry.proxy_config().password == ""
    with pytest.raises(ValidationFailed):
        services.proxy_settings_update(actor=admin(), enabled=True, host="")
    with pytest.raises(ValidationFailed):
        services.proxy_settings_update(actor=admin(), enabled=True, host="http://x/")


def test_disconnect_erases_credentials_and_deletes_remote_copy(local_base_dir):
    enable_local(local_base_dir)
    user = user_make()
    conn = services.storage_connection_save(
        actor=user, provider="local", config={"folder": "mine"}, credentials={}
    )
    provider = registry.provider_for_connection(conn)
    provider.put(services.synced_object_name(conn), b"synced")
    copy = local_base_dir / str(user.pk) / "mine" / services.SYNCED_OBJECT_NAME
    assert copy.exists()
    services.storage_connection_disconnect(
        actor=user, connection_id=conn.pk, delete_remote_copy=True
    )
    conn.refresh_from_db()
    assert conn.credentials is None and conn.status == "disconnected"
    assert not copy.exists()
    with pytest.raises(StorageAuthError):
        registry.provider_for_connection(conn)
    assert AuditEvent.objects.filter(action="storage.disconnect").exists()


def test_disconnect_someone_elses_connection_is_not_found(local_base_dir):
    from strongroom.core.errors import NotFound

    enable_local(local_base_dir)
    owner = user_make()
    conn = services.storage_connection_save(
        actor=owner, provider="local", config={"folder": "o"}, credentials={}
    )
    with pytest.raises(NotFound):
        services.storage_connection_disconnect(actor=user_make(), connection_id=conn.pk)
    with pytest.raises(NotFound):
        services.storage_connection_disconnect(actor=owner, connection_id=uuid.uuid4())


def test_mark_needs_reauth(moto, s3_credentials):
    enable_s3(moto.url)
    user = user_make()
    config, creds = s3_input(s3_credentials, moto.url)
    conn = services.storage_connection_save(
        actor=user, provider="s3", config=config, credentials=creds
    )
    services.storage_connection_mark_needs_reauth(connection_id=conn.pk, message="bad secret")
    conn.refresh_from_db()
    assert conn.status == "needs_reauth" and conn.credentials is None
    assert conn.status_message == "bad secret"
    with pytest.raises(StorageAuthError):
        registry.provider_for_connection(conn)


def test_deactivating_a_user_erases_credentials_and_synced_copies(
    moto, s3_credentials, local_base_dir, django_capture_on_commit_callbacks
):
    from strongroom.accounts.services import user_deactivate

    enable_s3(moto.url)
    enable_local(local_base_dir)
    user = user_make()
    config, creds = s3_input(s3_credentials, moto.url, prefix=f"{uuid.uuid4().hex}/")
    s3conn = services.storage_connection_save(
        actor=user, provider="s3", config=config, credentials=creds
    )
    localconn = services.storage_connection_save(
        actor=user, provider="local", config={"folder": "leaver"}, credentials={}
    )
    for conn in (s3conn, localconn):
        registry.provider_for_connection(conn).put(services.SYNCED_OBJECT_NAME, b"copy")
    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate(actor=admin(), user=user)
    for conn in (s3conn, localconn):
        conn.refresh_from_db()
        assert conn.credentials is None and conn.status == "disconnected"
    assert not (local_base_dir / str(user.pk) / "leaver" / services.SYNCED_OBJECT_NAME).exists()
    listing = moto.client().list_objects_v2(Bucket=s3_credentials.bucket, Prefix=config["prefix"])
    assert listing.get("KeyCount", 0) == 0


def test_demo_enables_local_folder(tmp_path):
    row = services.demo_enable_local_folder(base_dir=str(tmp_path / "demo-sync"))
    assert row.enabled and (tmp_path / "demo-sync").is_dir()
    assert "local" in registry.providers_available()
    again = services.demo_enable_local_folder(base_dir=str(tmp_path / "other"))
    assert again.config["base_dir"] == str(tmp_path / "demo-sync")
