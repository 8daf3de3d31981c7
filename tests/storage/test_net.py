"""SSRF: S3-compatible endpoints only from the admin's allow-list; internal addresses (and
names resolving to them) refused unless that exact endpoint is allow-listed; redirects to
other hosts never followed."""

from __future__ import annotations

import contextlib
import socket
from types import SimpleNamespace

import pytest

from strongroom.core.errors import ValidationFailed
from strongroom.storage import net
from strongroom.storage.base import StorageError, StoragePermanentError
from strongroom.storage.providers.s3 import S3Provider, SendGuard

from .faultproxy import FaultProxy
from .test_provider_s3 import make_s3

INTERNAL = [
    "http://169.254.169.254",
    "http://127.0.0.1:9000",
    "http://[::1]:9000",
    "https://10.0.0.1",
    "https://192.168.1.20",
    "http://localhost:9000",
    "http://0.0.0.0",
]


@pytest.mark.parametrize("endpoint", INTERNAL)
def test_internal_endpoints_refused_unless_allow_listed(endpoint):
    with pytest.raises(ValidationFailed) as excinfo:
        net.check_endpoint(endpoint, [])
    assert excinfo.value.details["field"] == "endpoint"
    with pytest.raises(ValidationFailed):
        net.check_endpoint(endpoint, ["https://s3.example.com"])
    assert net.check_endpoint(endpoint, [endpoint]) == net.normalize_endpoint(endpoint)


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "127.0.0.1", "::1", "10.0.0.1", "::ffff:127.0.0.1", "fd00::1"]
)
def test_names_resolving_to_internal_addresses_are_refused(monkeypatch, address):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(net.socket, "getaddrinfo", fake_getaddrinfo)
    allow = ["https://*.example.com"]
    with pytest.raises(ValidationFailed, match="internal address"):
        net.check_endpoint("https://metadata.example.com", allow)
    # ...unless that exact endpoint is on the list.
    assert net.check_endpoint(
        "https://metadata.example.com", [*allow, "https://metadata.example.com"]
    )


def test_localhost_resolves_to_internal_addresses():
    addresses = net.resolve("localhost", 80)
    assert addresses and all(net.is_internal_address(a) for a in addresses)


def test_wildcard_matches_public_hosts(monkeypatch):
    monkeypatch.setattr(
        net.socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))
        ],
    )
    assert (
        net.check_endpoint("https://acct.r2.example.com", ["https://*.r2.example.com"])
        == "https://acct.r2.example.com"
    )
    with pytest.raises(ValidationFailed):
        net.check_endpoint("https://r2.example.com.evil.net", ["https://*.r2.example.com"])
    with pytest.raises(ValidationFailed):
        net.check_endpoint("http://acct.r2.example.com", ["https://*.r2.example.com"])


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://s3.example.com",
        "https://user:pw@s3.example.com",
        "https://s3.example.com/path",
        "https://s3.example.com?x=1",
        "not a url",
        "https://s3.example.com:99999",
    ],
)
def test_malformed_endpoints_refused(bad):
    with pytest.raises(ValidationFailed):
        net.check_endpoint(bad, [bad])


def test_s3_validate_config_refuses_unlisted_endpoint():
    creds = {"access_key_id": "AKIAEXAMPLE000000000", "secret_access_key": "s"}
    for endpoint in ("http://169.254.169.254", "http://127.0.0.1:9000", "http://[::1]:9000"):
        with pytest.raises(ValidationFailed):
            S3Provider.validate_config(
                {"bucket": "bucket", "region": "us-east-1", "endpoint": endpoint},
                creds,
                {"endpoints": []},
            )


def test_send_guard_refuses_other_hosts():
    from botocore.credentials import ReadOnlyCredentials

    from strongroom.storage.providers.s3 import _CALL_CREDENTIALS

    signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIABOUND/20261206/eu-west-1/s3"}

    def request(url: str, headers: dict[str, str] = signed) -> SimpleNamespace:
        return SimpleNamespace(url=url, headers=headers)

    bound = _CALL_CREDENTIALS.set(ReadOnlyCredentials("AKIABOUND", "secret", None))
    try:
        guard = SendGuard("http://127.0.0.1:9000")
        guard(request("http://127.0.0.1:9000/bucket/key"))
        for url in (
            "http://169.254.169.254/latest",
            "http://127.0.0.1:9001/b",
            "https://127.0.0.1:9000/",
        ):
            with pytest.raises(StoragePermanentError, match="to a host other than the endpoint"):
                guard(request(url))
        aws = SendGuard(None)
        aws(request("https://bucket.s3.eu-west-1.amazonaws.com/key"))
        with pytest.raises(StoragePermanentError):
            aws(request("https://evil.example.com/key"))
        with pytest.raises(StoragePermanentError):
            aws(request("http://bucket.s3.amazonaws.com/key"))
        # The right host, but unsigned or signed with another key than the bound one.
        for headers in ({}, {"Authorization": signed["Authorization"].replace("BOUND", "OTHER")}):
            with pytest.raises(StoragePermanentError, match="caller's own S3 key"):
                guard(request("http://127.0.0.1:9000/bucket/key", headers))
    finally:
        _CALL_CREDENTIALS.reset(bound)
    with pytest.raises(StoragePermanentError, match="caller's own S3 key"):  # nothing bound
        guard(request("http://127.0.0.1:9000/bucket/key"))


def test_s3_redirect_to_another_host_is_not_followed(fault_proxy, s3_credentials, moto):
    other = FaultProxy()  # records anything that reaches "another host"
    try:
        bucket = moto.new_bucket("redirect-test")
        provider = make_s3(fault_proxy.url, s3_credentials, bucket=bucket)
        for status in (301, 302, 307):
            fault_proxy.add_fault(
                "status",
                status=status,
                headers={"Location": f"{other.url}/steal", "x-amz-bucket-region": "us-east-1"},
                body=b"",
            )
            # Refused, failed or re-sent to the same host: never to another host.
            with contextlib.suppress(StorageError):
                provider.put("r.html", b"x")
        assert other.requests == []
    finally:
        other.close()


def test_probe_does_not_follow_redirects():
    other = FaultProxy()
    redirector = FaultProxy(upstream=other.url)
    try:
        redirector.add_fault("status", status=302, headers={"Location": f"{other.url}/x"})
        result = net.probe(
            "s3",
            f"{redirector.url}/",
            proxy=None,
            ok_statuses=range(200, 300),
            allow_internal=True,
        )
        assert not result.ok and result.stage == "http"
        assert other.requests == []
    finally:
        redirector.close()
        other.close()
