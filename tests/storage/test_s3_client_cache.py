"""The S3 provider's client cache: one boto3 client per endpoint, region, proxy and
timeouts, shared by every user of it, with each call signed by the caller's own key (moto's
server on 127.0.0.1, credential checking on)."""

from __future__ import annotations

import threading
import uuid

import pytest

from strongroom.storage.base import (
    StorageAuthError,
    StorageError,
    StoragePermanentError,
    StoragePermissionError,
)
from strongroom.storage.providers.s3 import S3Provider

from .moto_server import MotoServer
from .test_provider_s3 import make_s3


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.new_bucket(f"cache-{uuid.uuid4().hex[:12]}")


def test_users_of_one_endpoint_share_one_client(moto: MotoServer, bucket: str) -> None:
    allowed = make_s3(moto.url, moto.admin, bucket=bucket)
    denied = make_s3(moto.url, moto.denied, bucket=bucket)
    assert allowed._client() is denied._client()
    other_region = S3Provider(
        config={"bucket": bucket, "region": "eu-west-1", "endpoint": moto.url},
        credentials={
            "access_key_id": moto.admin.access_key_id,
            "secret_access_key": moto.admin.secret_access_key,
        },
        admin_config={"endpoints": [moto.url]},
    )
    assert other_region._client() is not allowed._client()


def test_each_call_is_signed_with_its_callers_key(moto: MotoServer, bucket: str) -> None:
    allowed = make_s3(moto.url, moto.admin, bucket=bucket)
    denied = make_s3(moto.url, moto.denied, bucket=bucket)
    unknown = make_s3(moto.url, moto.admin, bucket=bucket, key_id="AKIAUNKNOWNKEY000000")
    bad_secret = make_s3(moto.url, moto.admin, bucket=bucket, secret="not-the-secret-" + "y" * 25)
    for _ in range(2):
        assert allowed.put("a.html", b"a").size == 1
        with pytest.raises(StoragePermissionError):
            denied.put("d.html", b"d")
        with pytest.raises(StorageAuthError, match="unknown access key"):
            unknown.put("u.html", b"u")
        with pytest.raises(StorageAuthError, match="bad secret"):
            bad_secret.put("b.html", b"b")


def test_threads_sharing_the_client_each_sign_with_their_own_key(
    moto: MotoServer, bucket: str
) -> None:
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(8):
            who = "allowed" if (n + i) % 2 else "denied"
            creds = moto.admin if who == "allowed" else moto.denied
            provider = make_s3(moto.url, creds, bucket=bucket)
            try:
                provider.put(f"t{n}-{i}.html", b"x" * 1000)
                outcome = "stored"
            except StoragePermissionError:
                outcome = "denied"
            except StorageError as exc:
                outcome = f"error: {exc.message}"
            with lock:
                outcomes.append((who, outcome))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 32
    assert all(
        outcome == ("stored" if who == "allowed" else "denied") for who, outcome in outcomes
    ), outcomes


def test_a_request_with_no_key_bound_is_refused(moto: MotoServer, bucket: str) -> None:
    provider = make_s3(moto.url, moto.admin, bucket=bucket)
    provider.put("x.html", b"x")
    with pytest.raises(StoragePermanentError, match="no S3 credentials"):
        provider._client().head_object(Bucket=bucket, Key=provider.key("x.html"))


def test_a_request_signed_with_another_key_than_the_bound_one_never_leaves(
    moto: MotoServer, bucket: str
) -> None:
    """The send guard's last check: a request goes out only if its signature names the key
    bound to the call in progress. Here the signed request is rewritten to name another
    user's key (what a botocore change that cached credentials would produce) and the upload
    is refused before it is sent: nothing lands in the bucket."""
    mine = make_s3(moto.url, moto.admin, bucket=bucket)
    client = mine._client()
    theirs = moto.denied.access_key_id

    def signed_as_another(request, **kwargs):  # runs after signing, before the guard
        auth = request.headers["Authorization"]
        auth = auth.decode() if isinstance(auth, bytes) else auth
        request.headers["Authorization"] = auth.replace(moto.admin.access_key_id, theirs)

    client.meta.events.register_first("before-send.s3", signed_as_another)
    try:
        with pytest.raises(StoragePermanentError, match="not signed with the caller's own"):
            mine._call(client.put_object, Bucket=bucket, Key=mine.key("y.html"), Body=b"y")
    finally:
        client.meta.events.unregister("before-send.s3", signed_as_another)
    listed = moto.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert mine.key("y.html") not in [o["Key"] for o in listed]
    assert mine.put("y.html", b"y").size == 1  # and the client is fine afterwards
