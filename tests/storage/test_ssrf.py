"""SSRF (issue 14 item 3): connect to what was checked. Resolve once, check every address,
connect to that address; the proxy host obeys the same rules; malformed hosts are refused
with a field error; a redirect from an S3-compatible endpoint is refused with a clear
message; Test connection says only the stage and a fixed message for internal targets.

No packet leaves 127.0.0.0/8 and ::1: names are answered by the ``dns`` stub and the
``connections`` recorder raises before connecting anywhere else."""

from __future__ import annotations

import pytest

from strongroom.core.errors import ValidationFailed
from strongroom.storage import net, registry, services
from strongroom.storage.base import ProxyConfig, StorageError, StoragePermanentError
from strongroom.storage.models import ProxySettings, StorageConnection

from .faultproxy import FaultProxy
from .helpers import admin, allow_internal_proxy, api_for, enable_s3, s3_input, user_make
from .test_provider_s3 import make_s3

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"  # answered by the stub for "public" names; never connected to


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["strongroom.accounts.hashers.FastArgon2PasswordHasher"]


@pytest.fixture
def recording_proxy():
    proxy = FaultProxy()  # a forward proxy on 127.0.0.1 that records what reaches it
    yield proxy
    proxy.close()


# -- malformed hosts -----------------------------------------------------------------------

MALFORMED_ENDPOINTS = [
    "http://*:8209",
    "http://*",
    "http://:8209",
    "http:// s3.example.com",
    "http://s3 example.com",
    "http://user@s3.example.com",
    "http://2130706433:9000",  # 127.0.0.1 in decimal, as resolvers read it
    "http://0x7f.1",
    "http://127.1",
    "http://s3_example.com",
    "http://-s3.example.com",
    "http://[fe80::1%25eth0]:9000",
]


@pytest.mark.parametrize("endpoint", MALFORMED_ENDPOINTS)
def test_malformed_endpoint_hosts_are_field_errors(endpoint, dns):
    with pytest.raises(ValidationFailed) as excinfo:
        net.check_endpoint(endpoint, [endpoint])
    assert excinfo.value.details["field"] == "endpoint"
    with pytest.raises(ValidationFailed) as excinfo:
        net.normalize_allow_list([endpoint])
    assert excinfo.value.details["field"] == "endpoints"
    with pytest.raises(ValidationFailed) as excinfo:
        services.provider_settings_update(
            actor=admin(), provider="s3", enabled=True, config={"endpoints": [endpoint]}
        )
    assert excinfo.value.details["field"] == "endpoints"
    assert dns.lookups == {}  # refused on syntax, before any lookup


def test_wildcard_only_as_a_leading_label(dns):
    assert net.normalize_allow_list(["https://*.r2.example.com"]) == ["https://*.r2.example.com"]
    for bad in ("https://r2.*.example.com", "https://*r2.example.com", "https://*.*.example"):
        with pytest.raises(ValidationFailed):
            net.normalize_allow_list([bad])


@pytest.mark.parametrize(
    "host", ["*", " ", "a b", "user@proxy.example", "proxy.example/x", "[::1", "2130706433"]
)
def test_malformed_proxy_hosts_are_field_errors(host, dns, connections):
    with pytest.raises(ValidationFailed) as excinfo:
        services.proxy_settings_update(actor=admin(), enabled=True, host=host, port=8209)
    assert excinfo.value.details["field"] == "host"
    assert not ProxySettings.objects.filter(enabled=True).exists()
    assert connections.made == [] and connections.refused == []


def test_malformed_proxy_host_through_the_api_is_a_field_error(dns):
    resp = api_for(admin()).put(
        "/storage/settings", {"proxy": {"enabled": True, "host": "*", "port": 8209}}
    )
    assert resp.status_code in (400, 422), resp.content
    assert "host" in resp.content.decode()
    assert not ProxySettings.objects.filter(enabled=True).exists()


# -- the proxy host ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port"),
    [("169.254.169.254", 80), ("127.0.0.1", 6379), ("10.0.0.5", 3128), ("::1", 3128)],
)
def test_internal_proxy_addresses_are_refused(host, port, dns, connections):
    with pytest.raises(ValidationFailed, match="internal address") as excinfo:
        services.proxy_settings_update(actor=admin(), enabled=True, host=host, port=port)
    assert excinfo.value.details["field"] == "host"
    assert not ProxySettings.objects.filter(enabled=True).exists()
    assert connections.made == [] and connections.refused == []


def test_internal_proxy_through_the_admin_form_is_a_field_error(dns, connections):
    from django.test import Client

    client = Client()
    client.force_login(admin())
    resp = client.post(
        "/admin/storage/proxy/", {"enabled": "on", "host": "127.0.0.1", "port": "6379"}
    )
    assert resp.status_code == 400
    assert "internal address" in resp.content.decode()
    assert not ProxySettings.objects.filter(enabled=True).exists()
    assert connections.made == [] and connections.refused == []


def test_proxy_name_resolving_to_metadata_is_refused(dns, connections):
    dns.set("proxy.evil.example", ["169.254.169.254"])
    with pytest.raises(ValidationFailed, match="internal address"):
        services.proxy_settings_update(
            actor=admin(), enabled=True, host="proxy.evil.example", port=80
        )
    assert connections.refused == [] and connections.made == []


def test_internal_proxy_only_when_the_operator_allows_that_host_and_port(dns, recording_proxy):
    allow_internal_proxy(recording_proxy.port)
    services.proxy_settings_update(
        actor=admin(), enabled=True, host="127.0.0.1", port=recording_proxy.port
    )
    pinned = registry.proxy_config()
    assert pinned is not None and pinned.address == "127.0.0.1"
    with pytest.raises(ValidationFailed, match="internal address"):  # another port: no
        services.proxy_settings_update(actor=admin(), enabled=True, host="127.0.0.1", port=6379)


def test_a_stored_internal_proxy_is_refused_at_use_and_no_connect_is_sent(
    moto, dns, recording_proxy, connections
):
    """A proxy row saved before this check (or behind the service's back): every use
    refuses it before connecting; Test connection says the stage."""
    enable_s3(moto.url)
    ProxySettings.objects.update_or_create(
        pk=1, defaults={"enabled": True, "host": "127.0.0.1", "port": recording_proxy.port}
    )
    with pytest.raises(StorageError, match="internal address"):
        registry.proxy_config()
    result = services.provider_test_connection(actor=admin(), provider="s3")
    assert not result.ok and result.stage == "proxy" and "internal address" in result.message
    config, creds = s3_input(moto.admin, moto.url)
    with pytest.raises(ValidationFailed, match="internal address"):
        services.storage_connection_save(
            actor=user_make(), provider="s3", config=config, credentials=creds
        )
    assert recording_proxy.requests == []  # no CONNECT, no request
    assert ("127.0.0.1", recording_proxy.port) not in connections.made


def test_proxy_rebinding_after_the_check_is_refused_before_connect(
    moto, dns, recording_proxy, connections
):
    # Public when the admin saves it, loopback (the recording proxy) when used.
    dns.set("proxy.rebind.example", [PUBLIC], ["127.0.0.1"])
    services.proxy_settings_update(
        actor=admin(), enabled=True, host="proxy.rebind.example", port=recording_proxy.port
    )
    enable_s3(moto.url)
    result = services.provider_test_connection(actor=admin(), provider="s3")
    assert not result.ok and result.stage == "proxy"
    assert recording_proxy.requests == []
    assert connections.made == [] and connections.refused == []


def test_the_pinned_proxy_url_names_the_checked_address(dns):
    dns.set("proxy.example", [PUBLIC], ["10.0.0.9"])
    pinned = net.proxy_pin(ProxyConfig("proxy.example", 3128, "u", "p"))
    assert pinned.url() == f"http://u:p@{PUBLIC}:3128"  # the name is not resolved again
    assert pinned.display() == "http://proxy.example:3128"
    assert dns.lookups == {"proxy.example": 1}


# -- S3 endpoints: one resolution, checked, connected to -------------------------------------


@pytest.mark.parametrize("at_connect", ["127.0.0.1", "10.0.0.5", "169.254.169.254"])
def test_s3_wildcard_endpoint_rebinding_is_refused_before_connect(
    moto, s3_credentials, dns, connections, at_connect
):
    port = moto.url.rsplit(":", 1)[1]
    enable_s3(f"http://*.s3.example:{port}")
    # Public for the allow-list checks (at save and when the client is built), internal
    # when the connection resolves.
    dns.set("acct.s3.example", [PUBLIC], [PUBLIC], [at_connect])
    config, creds = s3_input(s3_credentials, f"http://acct.s3.example:{port}")
    with pytest.raises(ValidationFailed, match="internal address"):
        services.storage_connection_save(
            actor=user_make(), provider="s3", config=config, credentials=creds
        )
    assert connections.made == [] and connections.refused == []
    # The two checks, then the connection's own lookup, whose answer it checks and uses.
    assert dns.lookups["acct.s3.example"] == 3
    assert not StorageConnection.objects.exists()


def test_exact_endpoint_connects_to_the_first_checked_address_only(dns, connections):
    """An exact allow-list entry may be internal; a name that answers loopback first and
    another internal address second is connected to at the first, checked, address."""
    server = FaultProxy(upstream="http://127.0.0.1:1")
    server.add_fault("status", status=403, times=5)
    try:
        dns.set("minio.rebind.example", ["127.0.0.1"], ["10.0.0.5"])
        url = f"http://minio.rebind.example:{server.port}/"
        result = net.probe("s3", url, proxy=None, allow_internal=True)
        assert result.ok, result
        assert connections.made == [("127.0.0.1", server.port)]
        assert connections.refused == []
        assert dns.lookups == {"minio.rebind.example": 1}
        assert [r.headers.get("Host") for r in server.requests] == [
            f"minio.rebind.example:{server.port}"
        ]  # the Host header keeps the name
    finally:
        server.close()


def test_s3_wildcard_endpoint_internal_at_connect_is_refused_for_a_built_provider(
    moto, s3_credentials, dns, connections
):
    port = moto.url.rsplit(":", 1)[1]
    endpoint = f"http://acct.s3.example:{port}"
    dns.set("acct.s3.example", [PUBLIC], ["127.0.0.1"])  # the client's check, the connection
    provider = make_s3(endpoint, s3_credentials)
    provider.admin_config["endpoints"] = [f"http://*.s3.example:{port}"]  # a wildcard entry
    with pytest.raises(StoragePermanentError, match="internal address"):
        provider.put("x.html", b"x")
    assert connections.made == [] and connections.refused == []


# -- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_s3_endpoint_redirect_is_refused_with_a_clear_message(
    fault_proxy, s3_credentials, moto, status
):
    other = FaultProxy()
    try:
        bucket = moto.new_bucket(f"redirect-{status}")
        provider = make_s3(fault_proxy.url, s3_credentials, bucket=bucket)
        fault_proxy.add_fault(
            "status",
            status=status,
            headers={"Location": f"{other.url}/steal", "x-amz-bucket-region": "us-east-1"},
            times=50,
        )
        with pytest.raises(StoragePermanentError, match=f"redirect \\(HTTP {status}\\)"):
            provider.put("r.html", b"x")
        assert other.requests == []
        puts = [r for r in fault_proxy.requests if r.method == "PUT"]
        assert len(puts) == 1  # refused, not re-sent
    finally:
        other.close()


def test_s3_redirect_at_connect_is_a_clear_field_message(fault_proxy, s3_credentials, moto):
    enable_s3(fault_proxy.url)
    fault_proxy.add_fault(
        "status", status=307, headers={"Location": "http://127.0.0.1:9/"}, times=50
    )
    config, creds = s3_input(s3_credentials, fault_proxy.url)
    with pytest.raises(ValidationFailed, match="redirect"):
        services.storage_connection_save(
            actor=user_make(), provider="s3", config=config, credentials=creds
        )


# -- Test connection: no port scanner ----------------------------------------------------


def test_test_connection_does_not_echo_an_internal_endpoints_answer(dns):
    server = FaultProxy(upstream="http://127.0.0.1:1")
    server.add_fault("status", status=503, body=b"redis_version:7.2 secret banner", times=5)
    try:
        enable_s3(server.url)
        result = services.provider_test_connection(actor=admin(), provider="s3")
        assert not result.ok and result.stage == "http" and result.status is None
        assert result.message == net.FIXED_MESSAGES["http"]
        body = api_for(admin()).post("/storage/providers/s3/test").json()
        assert body["stage"] == "http" and body["status"] is None
        assert "503" not in body["message"] and "redis" not in body["message"]
    finally:
        server.close()


def test_test_connection_on_a_closed_internal_port_says_only_connect(dns):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    enable_s3(f"http://127.0.0.1:{port}")
    result = services.provider_test_connection(actor=admin(), provider="s3")
    assert not result.ok and result.stage == "connect"
    assert result.message == net.FIXED_MESSAGES["connect"] and "Errno" not in result.message


def test_probe_refuses_an_internal_target_that_is_not_allowed(dns, connections):
    server = FaultProxy(upstream="http://127.0.0.1:1")
    try:
        result = net.probe("s3", f"{server.url}/", proxy=None)
        assert not result.ok and result.stage == "refused"
        dns.set("metadata.example", ["169.254.169.254"])
        result = net.probe("s3", "http://metadata.example/latest/", proxy=None)
        assert not result.ok and result.stage == "refused"
        assert server.requests == [] and connections.made == [] and connections.refused == []
    finally:
        server.close()


def test_probe_reports_a_public_targets_status_through_the_proxy(dns, recording_proxy, connections):
    """Only a target that resolves to public addresses gets its answer reported. The
    recording proxy answers itself: it forwards only to 127.0.0.1 (502 otherwise)."""
    dns.set("s3.public.example", [PUBLIC])
    proxy = ProxyConfig("127.0.0.1", recording_proxy.port)
    result = net.probe("s3", "http://s3.public.example/", proxy=proxy)
    assert not result.ok and result.stage == "http" and result.status == 502
    assert "HTTP 502" in result.message
    assert connections.refused == []
    dns.set("s3.internal.example", ["10.0.0.5"])
    result = net.probe("s3", "http://s3.internal.example/", proxy=proxy)
    assert result.stage == "http" and result.status is None
    assert result.message == net.FIXED_MESSAGES["http"]


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("::ffff:10.0.0.1", True),
        ("100.64.0.1", True),
        ("198.18.0.1", True),
        ("240.0.0.1", True),
        (PUBLIC, False),
        ("2606:4700::1", False),
    ],
)
def test_internal_address_classification(address, internal):
    assert net.is_internal_address(address) is internal


def test_pinning_fails_closed_on_an_unknown_botocore_layout():
    from types import SimpleNamespace

    with pytest.raises(StoragePermanentError, match="cannot pin"):
        net.pin_botocore_client(SimpleNamespace(), allow_internal=False)
