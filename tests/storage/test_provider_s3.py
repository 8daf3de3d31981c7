"""The S3 provider passes the conformance suite against moto's server on 127.0.0.1
(credential checking on), reached through the fault-injecting proxy as its endpoint."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from strongroom.storage.base import (
    StorageAuthError,
    StorageNotFound,
    StoragePermissionError,
    StorageTransientError,
)
from strongroom.storage.providers.s3 import S3Provider

from .conformance import ProviderConformance, ProxyFaults, Target
from .faultproxy import FaultProxy
from .moto_server import MotoServer, S3Credentials

THRESHOLD = 1024 * 1024


def make_s3(
    endpoint: str,
    creds: S3Credentials,
    *,
    bucket: str | None = None,
    prefix: str = "sync/",
    secret: str | None = None,
    key_id: str | None = None,
    **kw: Any,
) -> S3Provider:
    return S3Provider(
        config={
            "bucket": bucket or creds.bucket,
            "region": creds.region,
            "prefix": prefix,
            "endpoint": endpoint,
        },
        credentials={
            "access_key_id": key_id or creds.access_key_id,
            "secret_access_key": secret or creds.secret_access_key,
        },
        admin_config={"endpoints": [endpoint]},
        chunk_threshold=kw.pop("chunk_threshold", THRESHOLD),
        **kw,
    )


def _served_as(head: dict[str, Any]) -> dict[str, str | None]:
    return {"type": head.get("ContentType"), "disposition": head.get("ContentDisposition")}


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.new_bucket(f"conf-{uuid.uuid4().hex[:12]}")


class TestS3Conformance(ProviderConformance):
    large_size = 6 * 1024 * 1024
    hash_algorithms = ("sha256-base64", "etag")

    @pytest.fixture
    def target(self, fault_proxy: FaultProxy, moto: MotoServer, bucket: str) -> Target:
        creds, client = moto.admin, moto.client()

        def names() -> list[str]:
            listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
            return sorted(o["Key"].removeprefix("sync/") for o in listing)

        return Target(
            make=lambda **kw: make_s3(fault_proxy.url, creds, bucket=bucket, **kw),
            read_back=lambda n: client.get_object(Bucket=bucket, Key=f"sync/{n}")["Body"].read(),
            list_names=names,
            faults=ProxyFaults(fault_proxy, parts=lambda r: "partNumber=" in r.target),
            break_auth=lambda: make_s3(moto.url, creds, secret="wrong-secret-" + "x" * 27),
            remove_folder=lambda: make_s3(moto.url, creds, bucket="no-such-bucket-here"),
            read_type=lambda n: _served_as(client.head_object(Bucket=bucket, Key=f"sync/{n}")),
        )


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"key_id": "AKIAUNKNOWNKEY000000"}, StorageAuthError, "unknown access key"),
        ({"secret": "not-the-secret-" + "y" * 25}, StorageAuthError, "bad secret"),
        ({"bucket": "no-such-bucket-here"}, StorageNotFound, "no such bucket"),
    ],
)
def test_check_says_precisely_what_is_wrong(
    moto_server: str, s3_credentials: S3Credentials, change: dict, error: type, message: str
) -> None:
    with pytest.raises(error) as excinfo:
        make_s3(moto_server, s3_credentials, **change).check()
    assert message in excinfo.value.message
    assert s3_credentials.secret_access_key not in excinfo.value.message


def test_access_denied(moto: MotoServer) -> None:
    with pytest.raises(StoragePermissionError) as excinfo:
        make_s3(moto.url, moto.denied).check()
    assert "access denied" in excinfo.value.message


def test_endpoint_unreachable(s3_credentials: S3Credentials) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StorageTransientError) as excinfo:
        make_s3(f"http://127.0.0.1:{port}", s3_credentials).check()
    assert "endpoint unreachable" in excinfo.value.message


def test_429_with_retry_after(
    fault_proxy: FaultProxy, s3_credentials: S3Credentials, bucket: str
) -> None:
    provider = make_s3(fault_proxy.url, s3_credentials, bucket=bucket)
    fault_proxy.too_many_requests(retry_after="3")
    with pytest.raises(StorageTransientError) as excinfo:
        provider.put("x.html", b"x")
    assert excinfo.value.retry_after == 3


def test_every_put_asks_for_sse_and_sha256(
    fault_proxy: FaultProxy, moto: MotoServer, s3_credentials: S3Credentials, bucket: str
) -> None:
    provider = make_s3(fault_proxy.url, s3_credentials, bucket=bucket)
    provider.put("small.html", b"small")
    provider.put("big.html", b"B" * (6 * 1024 * 1024))
    reqs = fault_proxy.requests
    puts = [r for r in reqs if r.method in {"PUT", "POST"} and "uploads" in r.target]
    puts += [r for r in fault_proxy.requests if r.method == "PUT" and "partNumber" not in r.target]
    assert puts
    for rec in puts:
        headers = {k.lower(): v for k, v in rec.headers.items()}
        assert headers.get("x-amz-server-side-encryption") == "AES256", rec.target
    for name in ("small.html", "big.html"):
        head = moto.client().head_object(Bucket=bucket, Key=provider.key(name))
        assert head["ServerSideEncryption"] == "AES256"


def test_failed_multipart_upload_is_aborted(
    fault_proxy: FaultProxy, moto: MotoServer, s3_credentials: S3Credentials, bucket: str
) -> None:
    provider = make_s3(fault_proxy.url, s3_credentials, bucket=bucket)
    fault_proxy.reset_mid_body(method="PUT", match="partNumber=2")
    with pytest.raises(StorageTransientError):
        provider.put("big.html", b"B" * (6 * 1024 * 1024))
    uploads = moto.client().list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []


def test_retries_are_off(fault_proxy: FaultProxy, s3_credentials: S3Credentials, bucket: str):
    provider = make_s3(fault_proxy.url, s3_credentials, bucket=bucket)
    fault_proxy.slow_down(retry_after="1", times=5)
    with pytest.raises(StorageTransientError):
        provider.put("x.html", b"x")
    assert len([r for r in fault_proxy.requests if r.fault == "status"]) == 1


def test_timeout_is_transient(fault_proxy: FaultProxy, s3_credentials: S3Credentials, bucket: str):
    provider = S3Provider(
        config={"bucket": bucket, "region": "us-east-1", "endpoint": fault_proxy.url},
        credentials={
            "access_key_id": s3_credentials.access_key_id,
            "secret_access_key": s3_credentials.secret_access_key,
        },
        admin_config={"endpoints": [fault_proxy.url]},
        timeout=0.5,
    )
    fault_proxy.add_fault("delay", method="PUT", delay=1.5)
    with pytest.raises(StorageTransientError) as excinfo:
        provider.put("slow.html", b"x")
    assert "timed out" in excinfo.value.message
