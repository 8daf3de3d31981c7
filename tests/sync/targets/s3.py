"""S3 (moto's server behind the fault proxy) in the sync suites."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from standins.faults import ProxyFaults

from . import KillTarget, SyncTarget

REFUSED = b"<Error><Code>InvalidAccessKeyId</Code><Message>no</Message></Error>"


def sync_target(request: pytest.FixtureRequest) -> SyncTarget:
    proxy = request.getfixturevalue("s3_enabled")
    s3_connect = request.getfixturevalue("s3_connect")
    client = request.getfixturevalue("moto").client()

    def read(conn: Any, name: str) -> bytes:
        return client.get_object(Bucket=conn.config["bucket"], Key=name)["Body"].read()

    def break_auth(conn: Any) -> None:
        proxy.add_fault(
            "status", method="PUT", match=conn.config["bucket"], status=403, times=10, body=REFUSED
        )

    return SyncTarget(
        provider="s3",
        connect=lambda user: s3_connect(user)[0],
        read=read,
        faults=ProxyFaults(proxy),
        break_auth=break_auth,
    )


def kill_target(request: pytest.FixtureRequest) -> KillTarget:
    proxy = request.getfixturevalue("fault_proxy")
    moto = request.getfixturevalue("moto")
    creds = moto.admin
    buckets = [moto.new_bucket(f"kill-{uuid.uuid4().hex[:12]}") for _ in range(8)]
    client = moto.client()

    def copies(u: int, name: str) -> list[bytes]:
        try:
            return [client.get_object(Bucket=buckets[u], Key=name)["Body"].read()]
        except client.exceptions.NoSuchKey:
            return []

    def connection(u: int) -> tuple[dict[str, Any], dict[str, Any]]:
        config = {"bucket": buckets[u], "region": creds.region, "endpoint": proxy.url}
        keys = {"access_key_id": creds.access_key_id, "secret_access_key": creds.secret_access_key}
        return config, keys

    return KillTarget(
        provider="s3",
        env={},
        admin={"config": {"endpoints": [proxy.url]}},
        connection=connection,
        copies=copies,
        slow_uploads=lambda n: proxy.add_fault("delay", method="PUT", delay=0.5, times=n),
        users=len(buckets),
    )
