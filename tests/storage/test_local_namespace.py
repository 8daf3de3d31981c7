"""Targets a user names: the local folder lives in the user's own namespace
(``<base>/<user id>/<folder>``), so naming another user's folder (API or web form) reaches
only one's own; links planted inside a namespace are refused, never followed. S3: two
users naming the same bucket and prefix is their right (S3 checks each user's own key)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from strongroom.core.errors import ValidationFailed
from strongroom.storage import registry, services
from strongroom.storage.base import StorageError, StoragePermissionError
from strongroom.storage.models import StorageConnection

from .helpers import api_for, enable_local, enable_s3, s3_input, user_make

pytestmark = pytest.mark.django_db

NAME = services.SYNCED_OBJECT_NAME
A_COPY = b"<html>alice's offline copy, alice's passphrase</html>"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _alice_with_a_copy(base: Path, folder: str = "team") -> tuple[object, Path]:
    alice = user_make()
    conn = services.storage_connection_save(
        actor=alice, provider="local", config={"folder": folder}, credentials={}
    )
    registry.provider_for_connection(conn).put(NAME, A_COPY)
    path = base / str(alice.pk) / folder / NAME
    assert path.read_bytes() == A_COPY
    return alice, path


def _sync_as(user, payload: bytes) -> object:
    """What a sync job does: the connection's provider puts the synced object."""
    conn = StorageConnection.objects.get(user=user, provider="local")
    return registry.provider_for_connection(conn).put(NAME, payload)


def test_api_same_folder_name_lands_in_own_namespace_and_delete_spares_the_other(
    local_base_dir,
):
    enable_local(local_base_dir)
    _alice, a_path = _alice_with_a_copy(local_base_dir)
    bob = user_make()
    api = api_for(bob)
    resp = api.post("/storage/connections", {"provider": "local", "config": {"folder": "team"}})
    assert resp.status_code == 201, resp.content
    info = _sync_as(bob, b"bob's copy")
    b_path = local_base_dir / str(bob.pk) / "team" / NAME
    assert info.location == str(b_path) and b_path.read_bytes() == b"bob's copy"
    assert a_path.read_bytes() == A_COPY
    resp = api.delete(f"/storage/connections/{resp.json()['id']}?delete_remote_copy=true")
    assert resp.status_code == 200 and resp.json()["status"] == "disconnected"
    assert not b_path.exists()
    assert a_path.read_bytes() == A_COPY


def test_web_form_same_folder_name_lands_in_own_namespace_and_delete_spares_the_other(
    local_base_dir,
):
    enable_local(local_base_dir)
    _alice, a_path = _alice_with_a_copy(local_base_dir)
    bob = user_make()
    web = _web(bob)
    assert web.post("/storage/local/connect/", {"folder": "team"}).status_code == 302
    _sync_as(bob, b"bob's copy")
    assert (local_base_dir / str(bob.pk) / "team" / NAME).read_bytes() == b"bob's copy"
    assert a_path.read_bytes() == A_COPY
    conn = StorageConnection.objects.get(user=bob, provider="local")
    resp = web.post(f"/storage/connections/{conn.pk}/disconnect/", {"delete_remote_copy": "on"})
    assert resp.status_code == 302
    conn.refresh_from_db()
    assert conn.status == "disconnected" and "deleted" in conn.status_message
    assert not (local_base_dir / str(bob.pk) / "team" / NAME).exists()
    assert a_path.read_bytes() == A_COPY


def test_a_copy_at_the_old_shared_location_is_left_alone(local_base_dir):
    """Before namespaces the folder was ``<base>/<folder>``: such a file is neither
    overwritten by the next sync nor deleted by a disconnect (see docs/providers/local.md)."""
    enable_local(local_base_dir)
    old = local_base_dir / "team" / NAME
    old.parent.mkdir()
    old.write_bytes(b"a copy written before namespaces")
    bob = user_make()
    conn = services.storage_connection_save(
        actor=bob, provider="local", config={"folder": "team"}, credentials={}
    )
    _sync_as(bob, b"new")
    services.storage_connection_disconnect(
        actor=bob, connection_id=conn.pk, delete_remote_copy=True
    )
    assert old.read_bytes() == b"a copy written before namespaces"


def test_link_in_place_of_the_folder_is_refused(local_base_dir):
    enable_local(local_base_dir)
    _alice, a_path = _alice_with_a_copy(local_base_dir)
    bob = user_make()
    conn = services.storage_connection_save(
        actor=bob, provider="local", config={"folder": "mine"}, credentials={}
    )
    # A link planted where bob's folder is (a desktop sync client mirroring bob's device
    # can carry one), pointing at alice's folder.
    b_folder = local_base_dir / str(bob.pk) / "mine"
    b_folder.rmdir()
    b_folder.symlink_to(a_path.parent, target_is_directory=True)
    provider = registry.provider_for_connection(conn)
    for attempt in (
        lambda: provider.put(NAME, b"overwrite"),
        lambda: provider.stat(NAME),
        provider.check,
    ):
        with pytest.raises(StoragePermissionError, match="symbolic link"):
            attempt()
    services.storage_connection_disconnect(
        actor=bob, connection_id=conn.pk, delete_remote_copy=True
    )
    conn.refresh_from_db()
    assert "not deleted" in conn.status_message
    assert a_path.read_bytes() == A_COPY


def test_link_in_place_of_the_namespace_is_refused_at_connect(local_base_dir):
    enable_local(local_base_dir)
    alice, a_path = _alice_with_a_copy(local_base_dir)
    bob = user_make()
    (local_base_dir / str(bob.pk)).symlink_to(local_base_dir / str(alice.pk))
    with pytest.raises(ValidationFailed, match="symbolic link"):
        services.storage_connection_save(
            actor=bob, provider="local", config={"folder": "team"}, credentials={}
        )
    assert a_path.read_bytes() == A_COPY
    assert not StorageConnection.objects.filter(user=bob).exists()


def test_link_in_place_of_the_object_is_refused_and_never_written_through(local_base_dir):
    enable_local(local_base_dir)
    _alice, a_path = _alice_with_a_copy(local_base_dir)
    bob = user_make()
    conn = services.storage_connection_save(
        actor=bob, provider="local", config={"folder": "team"}, credentials={}
    )
    planted = local_base_dir / str(bob.pk) / "team" / NAME
    planted.symlink_to(a_path)
    provider = registry.provider_for_connection(conn)
    with pytest.raises(StoragePermissionError, match="symbolic link"):
        provider.put(NAME, b"overwrite")
    with pytest.raises(StoragePermissionError, match="symbolic link"):
        provider.stat(NAME)
    assert a_path.read_bytes() == A_COPY
    # Delete removes the name in bob's folder (the link itself), never what it points to.
    provider.delete(NAME)
    assert not os.path.lexists(planted)
    assert a_path.read_bytes() == A_COPY


def test_the_provider_needs_an_owner(local_base_dir):
    from strongroom.storage.providers.local import LocalFolderProvider

    provider = LocalFolderProvider(
        config={"folder": "team"}, admin_config={"base_dir": str(local_base_dir)}
    )
    with pytest.raises(StorageError, match="owner namespace"):
        provider.put(NAME, b"x")
    assert list(local_base_dir.iterdir()) == []


def test_s3_two_users_may_name_the_same_bucket_and_prefix(moto, s3_credentials):
    """S3 is not ours to partition: each user signs with their own key and S3 decides.
    A user whose key may not use the bucket is refused by S3 at connect."""
    enable_s3(moto.url)
    config, creds = s3_input(s3_credentials, moto.url, prefix="shared/")
    first = services.storage_connection_save(
        actor=user_make(), provider="s3", config=config, credentials=creds
    )
    second = services.storage_connection_save(
        actor=user_make(), provider="s3", config=config, credentials=creds
    )
    assert first.config == second.config
    _config, denied_creds = s3_input(moto.denied, moto.url, prefix="shared/")
    with pytest.raises(ValidationFailed, match="access denied"):
        services.storage_connection_save(
            actor=user_make(), provider="s3", config=config, credentials=denied_creds
        )
