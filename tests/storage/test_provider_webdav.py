"""The WebDAV provider passes the conformance suite against two real servers on 127.0.0.1
(wsgidav laid out like Nextcloud, with checksums and chunking v2; ``rclone serve webdav``,
a plain server), each reached through the fault-injecting proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cli.helpers import wait_until
from strongroom.core.errors import ValidationFailed
from strongroom.storage.base import (
    StorageAuthError,
    StorageNotFound,
    StoragePermanentError,
    StorageTransientError,
)
from strongroom.storage.providers.webdav import WebDAVProvider, server_policy

from .conformance import ProviderConformance, ProxyFaults, Target
from .faultproxy import FaultProxy
from .webdav_servers import DavServer, start_wsgidav

THRESHOLD = 16 * 1024


def make_webdav(
    server: DavServer,
    *,
    via: str | None = None,
    folder: str = "",
    password: str | None = None,
    **kwargs: Any,
) -> WebDAVProvider:
    """A provider for ``server`` (or the same paths through ``via``, a reverse proxy)."""
    origin = via or server.origin
    return WebDAVProvider(
        config={
            "server_url": origin + server.url[len(server.origin) :],
            "username": server.username,
            "folder": folder,
        },
        credentials={"password": password or server.password},
        admin_config={"servers": [origin]},
        chunk_threshold=kwargs.pop("chunk_threshold", THRESHOLD),
        **kwargs,
    )


def _propfind_type(server: DavServer, folder: str, name: str) -> str:
    """The server's own getcontenttype for the file (a PROPFIND, without the provider)."""
    import xml.etree.ElementTree as ET

    import requests

    body = (
        '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getcontenttype/>'
        "</d:prop></d:propfind>"
    )
    answer = requests.request(
        "PROPFIND",
        f"{server.url}{folder}/{name}",
        data=body,
        headers={"Depth": "0", "Content-Type": "application/xml"},
        auth=(server.username, server.password),
        timeout=10,
    )
    assert answer.status_code == 207, answer.status_code
    found = ET.fromstring(answer.content).find(".//{DAV:}getcontenttype")  # noqa: S314
    assert found is not None and found.text, answer.text
    return found.text.split(";")[0].strip()


class WebDAVConformance(ProviderConformance):
    large_size = 3 * THRESHOLD
    server_fixture = ""

    @pytest.fixture
    def target(self, request: pytest.FixtureRequest) -> Iterator[Target]:
        server: DavServer = request.getfixturevalue(self.server_fixture)
        self.server_root = server.root
        proxy = FaultProxy(upstream=server.origin)
        self.fault_proxy = proxy
        folder = server.folder(f"conf-{uuid.uuid4().hex[:10]}")
        yield Target(
            make=lambda **kw: make_webdav(server, via=proxy.url, folder=folder.name, **kw),
            read_back=lambda name: (folder / name).read_bytes(),
            list_names=lambda: sorted(p.name for p in folder.iterdir()),
            faults=ProxyFaults(proxy, parts=lambda r: "/remote.php/dav/uploads/" in r.target),
            break_auth=lambda: make_webdav(server, folder=folder.name, password="wrong-pass-1"),
            remove_folder=lambda: make_webdav(server, folder="no-such-folder"),
            no_type_reason="WebDAV servers type a file by its name (rclone calls .kdbx "
            "application/x-keepass2); test_upload_says_what_it_sends checks what is sent",
        )
        proxy.close()

    def test_timeout_is_transient(self, target: Target) -> None:
        """As the suite's, but what the server completes after the client gave up is the
        temporary file, never the target: a timed-out upload cannot replace the copy."""
        provider = target.make(timeout=1)
        provider.put("slow.html", b"kept")
        target.faults.stall(3)
        with pytest.raises(StorageTransientError) as exc:
            provider.put("slow.html", b"too slow")
        assert exc.value.retryable
        folder = self.server_root / provider.folder
        wait_until(
            lambda: (
                [p.read_bytes() for p in folder.glob(".strongroom-tmp-*-slow.html")]
                == [b"too slow"]
            ),
            timeout=15,
            what="the stalled PUT to reach the server",
        )
        assert target.read_back("slow.html") == b"kept"
        provider.put("slow.html", b"next")  # the next upload removes the late temporary file
        assert target.list_names() == ["slow.html"]


class TestWebDAVNextcloudConformance(WebDAVConformance):
    """wsgidav with Nextcloud's checksums and chunking v2."""

    server_fixture = "wsgidav_server"
    hash_algorithms = ("sha1",)


class TestWebDAVRcloneConformance(WebDAVConformance):
    """rclone serve webdav: no checksums (read back and hashed), no chunking."""

    server_fixture = "rclone_server"
    hash_algorithms = ("sha256",)

    def test_large_file_takes_chunked_path(self, provider: Any) -> None:
        # No uploads collection on this server: one plain PUT, still verified.
        data = bytes(range(256)) * (self.large_size // 256 + 7)
        start = len(self.fault_proxy.requests)
        info = provider.put("large.html", data)
        puts = [r for r in self.fault_proxy.requests[start:] if r.method == "PUT"]
        assert len(puts) == 1 and int(puts[0].headers["Content-Length"]) == len(data)
        assert info.size == len(data)
        assert self.read_back(provider, "large.html") == data


# -- WebDAV-specific ----------------------------------------------------------------------


@pytest.fixture
def nc(wsgidav_server: DavServer) -> Iterator[tuple[DavServer, FaultProxy, str]]:
    folder = f"t-{uuid.uuid4().hex[:10]}"
    wsgidav_server.folder(folder)
    proxy = FaultProxy(upstream=wsgidav_server.origin)
    yield wsgidav_server, proxy, folder
    proxy.close()


def test_replace_goes_through_a_temporary_name_and_move(nc) -> None:
    server, proxy, folder = nc
    provider = make_webdav(server, via=proxy.url, folder=folder)
    provider.put("copy.html", b"old")
    proxy.requests.clear()
    provider.put("copy.html", b"new bytes")
    writes = [
        (r.method, r.target, r.headers) for r in proxy.requests if r.method in {"PUT", "MOVE"}
    ]
    assert [m for m, _, _ in writes] == ["PUT", "MOVE"]
    assert "/.strongroom-tmp-" in writes[0][1] and writes[0][1].endswith("-copy.html")
    assert writes[1][2]["Overwrite"] == "T"
    assert writes[1][2]["Destination"].endswith(f"/{folder}/copy.html")
    assert (server.root / folder / "copy.html").read_bytes() == b"new bytes"


def test_upload_says_what_it_sends(nc) -> None:
    """wsgidav (like Nextcloud and rclone) types a file by its name; the PUT still carries
    the copy's type for servers that keep what they are told."""
    server, proxy, folder = nc
    provider = make_webdav(server, via=proxy.url, folder=folder)
    proxy.requests.clear()
    provider.put("strongroom-offline.html", b"<html></html>")
    provider.put("strongroom-offline.kdbx", b"kdbx")
    sent = [r.headers.get("Content-Type") for r in proxy.requests if r.method == "PUT"]
    assert sent == ["text/html; charset=utf-8", "application/octet-stream"]
    assert _propfind_type(server, folder, "strongroom-offline.html") == "text/html"


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (423, StorageTransientError, "locked"),
        (429, StorageTransientError, "rate limiting"),
        (503, StorageTransientError, "unavailable"),
        (507, StoragePermanentError, "no space left"),
    ],
)
def test_server_refusals_are_classified(nc, status: int, error: type, words: str) -> None:
    server, proxy, folder = nc
    provider = make_webdav(server, via=proxy.url, folder=folder)
    provider.put("kept.html", b"kept")
    proxy.add_fault(
        "status",
        method="PUT",
        status=status,
        headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"},
    )
    with pytest.raises(error) as excinfo:
        provider.put("kept.html", b"never lands")
    assert words in excinfo.value.message
    if error is StorageTransientError:
        assert excinfo.value.retry_after > 3600  # the HTTP-date form, far in the future
    assert (server.root / folder / "kept.html").read_bytes() == b"kept"
    assert [p.name for p in (server.root / folder).iterdir()] == ["kept.html"]


def test_redirect_is_refused_not_followed(nc) -> None:
    server, proxy, folder = nc
    provider = make_webdav(server, via=proxy.url, folder=folder)
    proxy.add_fault(
        "status", method="PROPFIND", status=301, headers={"Location": "http://10.0.0.1/"}
    )
    with pytest.raises(StoragePermanentError) as excinfo:
        provider.check()
    assert "redirect" in excinfo.value.message and "10.0.0.1" not in excinfo.value.message
    assert all(r.host == "127.0.0.1" for r in proxy.requests)


def test_timeout_is_transient(nc) -> None:
    server, proxy, folder = nc
    provider = make_webdav(server, via=proxy.url, folder=folder, timeout=0.5)
    proxy.add_fault("delay", method="PUT", delay=1.5)
    with pytest.raises(StorageTransientError) as excinfo:
        provider.put("slow.html", b"x")
    assert "timed out" in excinfo.value.message


def test_plain_server_without_chunking_gets_one_put(wsgidav_plain: DavServer) -> None:
    """A Nextcloud-style URL whose uploads collection answers 405: plain PUT."""
    wsgidav_plain.folder("plain")
    provider = make_webdav(wsgidav_plain, folder="plain")
    data = b"P" * (3 * THRESHOLD)
    info = provider.put("big.html", data)
    assert info.size == len(data) and info.hash_algorithm == "sha256"
    assert (wsgidav_plain.root / "plain" / "big.html").read_bytes() == data


@pytest.fixture(scope="module")
def wsgidav_plain() -> Iterator[DavServer]:
    server = start_wsgidav(chunking=False)
    yield server
    server.stop()


def test_folder_that_is_a_file_is_refused(wsgidav_server: DavServer) -> None:
    (wsgidav_server.root / "a-file").write_bytes(b"x")
    with pytest.raises(StoragePermanentError) as excinfo:
        make_webdav(wsgidav_server, folder="a-file").check()
    assert "is a file, not a folder" in excinfo.value.message


def test_missing_folder_message_names_it(wsgidav_server: DavServer) -> None:
    with pytest.raises(StorageNotFound) as excinfo:
        make_webdav(wsgidav_server, folder="Nope/Deeper").put("x.html", b"x")
    assert "Nope/Deeper does not exist" in excinfo.value.message


def test_auth_message_holds_no_password(wsgidav_server: DavServer) -> None:
    with pytest.raises(StorageAuthError) as excinfo:
        make_webdav(wsgidav_server, password="wrong-secret-value-1").check()
    assert "wrong-secret-value-1" not in excinfo.value.message
    assert "app password" in excinfo.value.message


# -- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://cloud.example.com/dav/", "not a valid server URL"),
        ("https://alice:pw@cloud.example.com/dav/", "may not contain a user name"),
        ("https://cloud.example.com/dav/?x=1", "may not contain a user name"),
        ("https://cloud.example.com/a/../b/", "may not contain . or .."),
        ("https://2130706433/dav/", "numeric address"),
    ],
)
def test_bad_server_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        server_policy(url, [])
    assert words in excinfo.value.message
    assert excinfo.value.details.get("field") == "server_url"


def test_validate_config_normalises(dns) -> None:
    dns.set("cloud.example.com", ["93.184.215.14"])
    config, credentials = WebDAVProvider.validate_config(
        {
            "server_url": "https://Cloud.Example.com/remote.php/dav/files/alice",
            "username": " alice ",
            "folder": "/Strongroom/Offline/",
        },
        {"password": "app-pass"},
        {"servers": []},
    )
    assert config == {
        "server_url": "https://cloud.example.com/remote.php/dav/files/alice/",
        "username": "alice",
        "folder": "Strongroom/Offline",
    }
    assert credentials == {"password": "app-pass"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"username": "", "folder": ""}, "username"),
        ({"username": "a:b", "folder": ""}, "username"),
        ({"username": "alice", "folder": "a/../b"}, "folder"),
    ],
)
def test_validate_config_names_the_field(dns, config: dict, field: str) -> None:
    dns.set("cloud.example.com", ["93.184.215.14"])
    with pytest.raises(ValidationFailed) as excinfo:
        WebDAVProvider.validate_config(
            {"server_url": "https://cloud.example.com/dav/", **config},
            {"password": "x"},
            {"servers": []},
        )
    assert excinfo.value.details.get("field") == field


# -- SSRF: refused before any packet (the ``dns`` stub answers names, ``connections`` raises
# for any address outside 127.0.0.0/8 and ::1) ---------------------------------------------

PUBLIC = "93.184.216.34"  # answered by the stub for "public" names; never connected to


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "10.0.0.5", "192.168.1.2"])
def test_server_resolving_internal_is_refused_unless_allow_listed(dns, connections, address):
    dns.set("cloud.evil.example", [address])
    url = "https://cloud.evil.example/remote.php/dav/files/alice/"
    for allow_list in ([], ["https://*.evil.example"]):
        with pytest.raises(ValidationFailed, match="internal address") as excinfo:
            WebDAVProvider.validate_config(
                {"server_url": url, "username": "alice"}, {"password": "x"}, {"servers": allow_list}
            )
        assert excinfo.value.details["field"] == "server_url"
    # The administrator named this exact server: allowed.
    config, _ = WebDAVProvider.validate_config(
        {"server_url": url, "username": "alice"},
        {"password": "x"},
        {"servers": ["https://cloud.evil.example"]},
    )
    assert config["server_url"] == url
    assert connections.made == [] and connections.refused == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/",
        "https://[::1]:8443/dav/",
        "https://10.1.2.3/dav/",
        "https://[::ffff:127.0.0.1]/dav/",
    ],
)
def test_internal_ip_literals_are_refused(dns, connections, url):
    with pytest.raises(ValidationFailed, match="internal address"):
        server_policy(url, [])
    assert connections.made == [] and connections.refused == [] and dns.lookups == {}


def test_server_not_on_a_non_empty_allow_list_is_refused(dns, connections):
    dns.set("other.example", [PUBLIC])
    with pytest.raises(ValidationFailed, match="not on the administrator's allow-list"):
        server_policy("https://other.example/dav/", ["https://cloud.example.com"])
    assert connections.made == [] and connections.refused == []


def test_plain_http_only_for_an_exact_entry(dns):
    dns.set("cloud.example.com", [PUBLIC])
    with pytest.raises(ValidationFailed, match="must use https"):
        server_policy("http://cloud.example.com/dav/", [])
    assert server_policy("http://cloud.example.com/dav/", ["http://cloud.example.com"]).url == (
        "http://cloud.example.com/dav/"
    )


@pytest.mark.parametrize("at_connect", ["127.0.0.1", "10.0.0.5", "169.254.169.254"])
def test_rebinding_after_the_check_is_refused_before_connect(dns, connections, at_connect):
    """Public when the user connected and when the provider checks the URL; internal when
    the connection resolves: refused, nothing sent."""
    dns.set("cloud.rebind.example", [PUBLIC], [PUBLIC], [at_connect])
    url = "https://cloud.rebind.example/remote.php/dav/files/alice/"
    config, credentials = WebDAVProvider.validate_config(
        {"server_url": url, "username": "alice", "folder": "Strongroom"},
        {"password": "app-pass"},
        {"servers": []},
    )
    provider = WebDAVProvider(config=config, credentials=credentials, admin_config={"servers": []})
    with pytest.raises(StoragePermanentError, match="internal address"):
        provider.put("x.html", b"x")
    assert connections.made == [] and connections.refused == []
    assert dns.lookups["cloud.rebind.example"] == 3


def test_a_server_removed_from_the_allow_list_is_refused_at_use(wsgidav_server, connections):
    provider = make_webdav(wsgidav_server)
    provider.admin_config["servers"] = ["https://cloud.example.com"]
    with pytest.raises(StoragePermanentError, match="not on the administrator's allow-list"):
        provider.check()
    assert connections.made == []


def test_exact_internal_entry_connects_to_the_checked_address_only(
    wsgidav_server, dns, connections
):
    """An allow-listed name that answers loopback first and a private address second is
    connected to at the first, checked, address; Host keeps the name."""
    port = int(wsgidav_server.origin.rsplit(":", 1)[1])
    dns.set("dav.lan.example", ["127.0.0.1"], ["10.0.0.5"])
    origin = f"http://dav.lan.example:{port}"
    server = DavServer(
        kind="wsgidav",
        origin=origin,
        url=origin + wsgidav_server.url[len(wsgidav_server.origin) :],
        root=wsgidav_server.root,
        process=wsgidav_server.process,
    )
    wsgidav_server.folder("lan")
    provider = make_webdav(server, folder="lan")
    assert provider.put("lan.html", b"lan").size == 3
    assert {c for c in connections.made} == {("127.0.0.1", port)}
    assert connections.refused == []


def test_next_upload_removes_what_a_killed_worker_left(nc) -> None:
    """A worker killed between its PUT and its MOVE leaves a temporary file; the next
    successful upload of the same copy removes it (not newer by the server's clock), and leaves
    other copies' temporary files alone."""
    import os

    server, proxy, folder = nc
    base = server.root / folder
    leftover = base / ".strongroom-tmp-0123456789ab-copy.html"
    other = base / ".strongroom-tmp-ba9876543210-other.html"
    for path in (leftover, other):
        path.write_bytes(b"half an upload")
        os.utime(path, (1_700_000_000, 1_700_000_000))
    provider = make_webdav(server, via=proxy.url, folder=folder)
    provider.put("copy.html", b"complete")
    assert sorted(p.name for p in base.iterdir()) == [other.name, "copy.html"]


def test_uploads_go_through_the_admins_proxy(wsgidav_server: DavServer) -> None:
    """Every request of a chunked upload (MKCOL, chunk PUTs, MOVEs, PROPFINDs) goes through
    the admin's proxy, with the proxy's credentials, to the server's origin only."""
    from strongroom.storage.base import ProxyConfig

    proxy = FaultProxy()  # a forward proxy on 127.0.0.1
    proxy.proxy_auth = ("proxy-user", "proxy-pass")
    try:
        wsgidav_server.folder("proxied")
        provider = make_webdav(
            wsgidav_server,
            folder="proxied",
            proxy=ProxyConfig(
                host="127.0.0.1",
                port=proxy.port,
                username="proxy-user",
                password="proxy-pass",
                address="127.0.0.1",
            ),
        )
        data = b"D" * (3 * THRESHOLD)
        assert provider.put("proxied.html", data).size == len(data)
        assert (wsgidav_server.root / "proxied" / "proxied.html").read_bytes() == data
        methods = [r.method for r in proxy.requests]
        assert {"MKCOL", "PUT", "MOVE", "PROPFIND"} <= set(methods), methods
        assert methods.count("PUT") == 3  # three chunks
        assert all(r.target.startswith(wsgidav_server.origin) for r in proxy.requests)
        assert all(r.fault == "" for r in proxy.requests)  # the proxy accepted the credentials
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def tls_dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DavServer, Any]]:
    """wsgidav over HTTPS with a certificate from a test CA (trustme) for 127.0.0.1."""
    import trustme

    ca = trustme.CA()
    pem = tmp_path_factory.mktemp("tls") / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    server = start_wsgidav(tls_pem=pem)
    yield server, ca
    server.stop()


def test_https_server_trusted_through_the_ca_rule(tls_dav, settings, tmp_path) -> None:
    """An HTTPS server whose CA the operator added (STRONGROOM_PROVIDER_CA_BUNDLE, added to
    certifi's store) works; without it the certificate does not verify: a clear, permanent
    error, and nothing is stored."""
    server, ca = tls_dav
    server.folder("tls")
    settings.PROVIDER_CA_BUNDLE = ""
    with pytest.raises(StoragePermanentError, match="TLS verification failed"):
        make_webdav(server, folder="tls").put("tls.html", b"x")
    assert list((server.root / "tls").iterdir()) == []
    bundle = tmp_path / "extra-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings.PROVIDER_CA_BUNDLE = str(bundle)
    info = make_webdav(server, folder="tls").put("tls.html", b"over TLS")
    assert info.location.startswith(f"{server.username} at https://127.0.0.1:")
    assert (server.root / "tls" / "tls.html").read_bytes() == b"over TLS"


def test_admin_settings_are_validated() -> None:
    assert WebDAVProvider.validate_admin_config(
        {"servers": "https://Cloud.Example.com\nhttps://*.example.org", "chunk_threshold": "4096"}
    ) == {
        "servers": ["https://cloud.example.com", "https://*.example.org"],
        "chunk_threshold": 4096,
    }
    for bad, field in (
        ({"servers": ["ftp://x"]}, "servers"),
        ({"chunk_threshold": 12}, "chunk_threshold"),
    ):
        with pytest.raises(ValidationFailed) as excinfo:
            WebDAVProvider.validate_admin_config(bad)
        assert excinfo.value.details["field"] == field
