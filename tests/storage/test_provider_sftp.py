"""The SFTP provider against real servers on 127.0.0.1: OpenSSH's sshd (public-key login,
through a TCP fault relay for resets and stalls) and ``rclone serve sftp`` (password login);
rclone's own SFTP client reads back what we wrote."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongroom.core.errors import ValidationFailed
from strongroom.storage import net
from strongroom.storage.base import StorageAuthError, StorageNotFound, StorageTransientError
from strongroom.storage.providers.sftp import (
    HostKeyChanged,
    HostKeyUnconfirmed,
    SFTPProvider,
    host_policy,
)

from .conformance import ProviderConformance, Target
from .sftp_servers import (
    RcloneSftpServer,
    SftpFaults,
    SshServer,
    TcpFaultProxy,
    fingerprint_of,
    keygen,
    rclone_read,
)

THRESHOLD = 16 * 1024


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rclone_sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneSftpServer]:
    base = tmp_path_factory.mktemp("rclone-sftp")
    server = RcloneSftpServer(root=base / "root", workdir=base / "server").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _sftp_relay(sshd: SshServer) -> Iterator[TcpFaultProxy]:
    relay = TcpFaultProxy(sshd.port)
    yield relay
    relay.close()


@pytest.fixture
def sftp_relay(_sftp_relay: TcpFaultProxy) -> Iterator[TcpFaultProxy]:
    _sftp_relay.clear()
    yield _sftp_relay
    _sftp_relay.clear()


def make_sftp(
    server: SshServer | RcloneSftpServer,
    folder: str | Path,
    *,
    port: int | None = None,
    pin: str | None = "auto",
    timeout: float = 10,
    chunk_threshold: int = THRESHOLD,
    **credentials: str,
) -> SFTPProvider:
    port = port or server.port
    if not credentials:
        if isinstance(server, SshServer):
            credentials = {"private_key": server.client_key}
        else:
            credentials = {"password": server.password}
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": server.user,
        "folder": str(folder),
    }
    if pin == "auto":
        pin = f"ssh-ed25519 {server.host_fingerprint}"
    if pin:
        config["host_key"] = pin
    return SFTPProvider(
        config=config,
        credentials=credentials,
        admin_config={"hosts": [f"127.0.0.1:{port}"]},
        chunk_threshold=chunk_threshold,
        timeout=timeout,
    )


class TestSftpConformance(ProviderConformance):
    supports_retry_after = False  # SFTP has no Retry-After: a dropped connection instead
    hash_algorithms = ("sha256",)

    @pytest.fixture
    def target(self, sshd: SshServer, sftp_relay: TcpFaultProxy, tmp_path: Path) -> Target:
        folder = tmp_path / "sync"
        folder.mkdir()
        stranger = tmp_path / "stranger_key"
        keygen(stranger)
        return Target(
            make=lambda **kw: make_sftp(sshd, folder, port=sftp_relay.port, **kw),
            read_back=lambda name: (folder / name).read_bytes(),
            list_names=lambda: sorted(os.listdir(folder)),
            faults=SftpFaults(sftp_relay),
            break_auth=lambda: make_sftp(sshd, folder, private_key=stranger.read_text()),
            remove_folder=lambda: make_sftp(sshd, tmp_path / "no-such-folder"),
            no_type_reason="SFTP stores files, not content types",
        )


@pytest.fixture(scope="session")
def _rclone_relay(rclone_sftp: RcloneSftpServer) -> Iterator[TcpFaultProxy]:
    relay = TcpFaultProxy(rclone_sftp.port)
    yield relay
    relay.close()


class TestRcloneSftpConformance(ProviderConformance):
    """The same suite against a second server implementation (rclone's, password login,
    no fsync@openssh.com)."""

    supports_retry_after = False
    hash_algorithms = ("sha256",)

    @pytest.fixture
    def target(self, rclone_sftp: RcloneSftpServer, _rclone_relay: TcpFaultProxy) -> Target:
        _rclone_relay.clear()
        name = f"conf-{uuid.uuid4().hex[:10]}"
        folder = rclone_sftp.root / name
        folder.mkdir()
        return Target(
            make=lambda **kw: make_sftp(rclone_sftp, name, port=_rclone_relay.port, **kw),
            read_back=lambda n: (folder / n).read_bytes(),
            list_names=lambda: sorted(os.listdir(folder)),
            faults=SftpFaults(_rclone_relay),
            break_auth=lambda: make_sftp(rclone_sftp, name, password="not-the-password"),
            remove_folder=lambda: make_sftp(rclone_sftp, f"{name}-gone"),
            no_type_reason="SFTP stores files, not content types",
        )


# -- host keys ------------------------------------------------------------------------


def test_unconfirmed_host_key_stops_before_login(sshd: SshServer, tmp_path: Path) -> None:
    provider = make_sftp(sshd, tmp_path, pin=None)
    with pytest.raises(HostKeyUnconfirmed) as excinfo:
        provider.check()
    assert excinfo.value.host_key.fingerprint == sshd.host_fingerprint
    assert sshd.host_fingerprint in excinfo.value.message
    scanned = SFTPProvider.host_key_scan(
        host="127.0.0.1", port=sshd.port, admin_config={"hosts": [f"127.0.0.1:{sshd.port}"]}
    )
    assert scanned.pin == f"ssh-ed25519 {sshd.host_fingerprint}"
    assert os.listdir(tmp_path) == []


def test_changed_host_key_is_refused_naming_both(tmp_path: Path) -> None:
    server = SshServer(tmp_path / "sshd").start()
    folder = tmp_path / "sync"
    folder.mkdir()
    try:
        provider = make_sftp(server, folder)
        provider.put("copy.html", b"first")
        pinned = server.host_fingerprint
        server.restart(new_host_key=True)
        presented = server.host_fingerprint
        assert presented != pinned
        with pytest.raises(HostKeyChanged) as excinfo:
            provider.put("copy.html", b"second")
    finally:
        server.stop()
    message = excinfo.value.message
    assert pinned in message and presented in message and "has changed" in message
    assert isinstance(excinfo.value, StorageAuthError) and not excinfo.value.retryable
    assert (folder / "copy.html").read_bytes() == b"first"


def test_pin_restricts_key_negotiation_to_the_pinned_type(tmp_path: Path) -> None:
    """A server holding two host keys is judged by the key the user confirmed; a server
    that no longer offers the pinned type is refused like a changed key."""
    rsa = tmp_path / "ssh_host_rsa_key"
    keygen(rsa, "rsa")
    server = SshServer(tmp_path / "sshd", extra_host_keys=[rsa]).start()
    try:
        rsa_pin = f"rsa-sha2-512 {fingerprint_of(rsa.with_suffix('.pub'))}"
        assert make_sftp(server, tmp_path, pin=rsa_pin).check()
        assert make_sftp(server, tmp_path).check()  # the ed25519 pin
        server.extra_host_keys.clear()
        server.restart()
        with pytest.raises(HostKeyChanged) as excinfo:
            make_sftp(server, tmp_path, pin=rsa_pin).check()
        assert "no longer offers" in excinfo.value.message
    finally:
        server.stop()


def test_rsa_host_key_is_named_by_the_negotiated_algorithm(tmp_path: Path) -> None:
    """paramiko calls every RSA key "ssh-rsa", an algorithm OpenSSH refuses for host keys;
    the pin names what was negotiated, and a pin typed as ssh-keygen names it works too."""
    rsa = tmp_path / "ssh_host_rsa_key"
    keygen(rsa, "rsa")
    server = SshServer(tmp_path / "sshd", extra_host_keys=[rsa], ed25519_host_key=False)
    server.start()
    try:
        scanned = SFTPProvider.host_key_scan(
            host="127.0.0.1", port=server.port, admin_config={"hosts": [f"127.0.0.1:{server.port}"]}
        )
        assert scanned.key_type in {"rsa-sha2-512", "rsa-sha2-256"}
        assert scanned.fingerprint == fingerprint_of(rsa.with_suffix(".pub"))
        assert make_sftp(server, tmp_path, pin=scanned.pin).check()
        assert make_sftp(server, tmp_path, pin=f"ssh-rsa {scanned.fingerprint}").check()
    finally:
        server.stop()


# -- a second server, and a third-party client reading what we wrote ---------------------


def test_rclone_server_round_trip_and_rclone_reads_it(
    rclone_sftp: RcloneSftpServer, sshd: SshServer, tmp_path: Path
) -> None:
    folder = rclone_sftp.root / "team"
    folder.mkdir(exist_ok=True)
    provider = make_sftp(rclone_sftp, "team")
    assert provider.check().startswith(f"sftp://{rclone_sftp.user}@127.0.0.1:")
    provider.put("copy.html", b"version one")
    info = provider.put("copy.html", b"version two, longer")
    assert info.size == len(b"version two, longer")
    listing, data = rclone_read(
        port=rclone_sftp.port,
        user=rclone_sftp.user,
        password=rclone_sftp.password,
        path="team/copy.html",
    )
    assert listing == ["copy.html"] and data == b"version two, longer"

    # And from OpenSSH's server, read by rclone's client with its own key.
    sync = tmp_path / "ssh-sync"
    sync.mkdir()
    make_sftp(sshd, sync).put("Zugänge.html", b"from sshd")
    listing, data = rclone_read(
        port=sshd.port, user=sshd.user, key_file=sshd.client_key_file, path=f"{sync}/Zugänge.html"
    )
    assert listing == ["Zugänge.html"] and data == b"from sshd"


def test_wrong_password_on_rclone_server(rclone_sftp: RcloneSftpServer) -> None:
    with pytest.raises(StorageAuthError) as excinfo:
        make_sftp(rclone_sftp, "team", password="not-the-password").check()
    assert "refused the user name" in excinfo.value.message
    assert rclone_sftp.password not in excinfo.value.message


# -- faults ---------------------------------------------------------------------------


def test_stalled_server_times_out(
    sshd: SshServer, sftp_relay: TcpFaultProxy, tmp_path: Path
) -> None:
    provider = make_sftp(sshd, tmp_path, port=sftp_relay.port)
    provider.timeout = 1.0
    sftp_relay.stall()
    with pytest.raises(StorageTransientError) as excinfo:
        provider.put("slow.html", b"x")
    assert "timed out" in excinfo.value.message


def test_unreachable_port_is_transient(sshd: SshServer, tmp_path: Path) -> None:
    from .sftp_servers import free_port

    with pytest.raises(StorageTransientError) as excinfo:
        make_sftp(sshd, tmp_path, port=free_port()).check()
    assert "refused the connection" in excinfo.value.message


# -- input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "credentials", "field"),
    [
        ({"host": "*"}, {}, "host"),
        ({"port": "70000"}, {}, "port"),
        ({"username": "a b"}, {}, "username"),
        ({"folder": "../etc"}, {}, "folder"),
        ({"host_key": "MD5:aa:bb"}, {}, "host_key"),
        ({}, {"private_key": "not a key"}, "private_key"),
        ({}, {"private_key": "", "password": ""}, "private_key"),
    ],
)
def test_bad_input_names_the_field(
    sshd: SshServer, config: dict[str, str], credentials: dict[str, str], field: str
) -> None:
    base = {"host": "127.0.0.1", "port": str(sshd.port), "username": "u", "folder": "/srv"}
    creds = {"private_key": sshd.client_key, **credentials}
    with pytest.raises(ValidationFailed) as excinfo:
        SFTPProvider.validate_config(
            {**base, **config}, creds, {"hosts": [f"127.0.0.1:{sshd.port}"]}
        )
    assert excinfo.value.details.get("field") == field
    assert "BEGIN OPENSSH" not in excinfo.value.message


def test_encrypted_private_key_needs_its_passphrase(sshd: SshServer, tmp_path: Path) -> None:
    key = tmp_path / "enc_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass-phrase-42", "-f", str(key)], check=True
    )
    base = {"host": "127.0.0.1", "port": sshd.port, "username": "u", "folder": "/srv"}
    admin = {"hosts": [f"127.0.0.1:{sshd.port}"]}
    with pytest.raises(ValidationFailed) as excinfo:
        SFTPProvider.validate_config(base, {"private_key": key.read_text()}, admin)
    assert excinfo.value.details["field"] == "key_passphrase"
    _config, creds = SFTPProvider.validate_config(
        base, {"private_key": key.read_text(), "key_passphrase": "pass-phrase-42"}, admin
    )
    assert creds["key_passphrase"] == "pass-phrase-42"


# -- SSRF: refused before any packet leaves (resolver stub, connection recorder) ------------


def test_internal_addresses_refused_unless_exactly_allow_listed(dns: Any, connections: Any):
    dns.set("files.example.com", ["93.184.216.34"])
    dns.set("nas.example.com", ["10.1.2.3"])
    dns.set("meta.example.com", ["169.254.169.254"])
    for host in (
        "127.0.0.1",
        "10.0.0.5",
        "169.254.169.254",
        "::1",
        "nas.example.com",
        "meta.example.com",
        "192.168.1.10",
    ):
        with pytest.raises(ValidationFailed) as excinfo:
            host_policy(host, 22, [])
        assert "internal address" in excinfo.value.message
        # A wildcard entry is not enough for an internal address.
        with pytest.raises(ValidationFailed):
            host_policy(host, 22, ["*.example.com"])
    assert host_policy("files.example.com", 22, []) is False
    assert host_policy("nas.example.com", 22, ["nas.example.com"]) is True
    assert host_policy("10.0.0.5", 2222, ["10.0.0.5:2222"]) is True
    with pytest.raises(ValidationFailed) as excinfo:
        host_policy("10.0.0.5", 22, ["10.0.0.5:2222"])  # another port is another server
    with pytest.raises(ValidationFailed) as excinfo:
        host_policy("files.example.com", 22, ["sftp.corp.example"])
    assert "not on the administrator's allow-list" in excinfo.value.message
    assert connections.made == [] and connections.refused == []


def test_dns_rebinding_refused_at_connect(dns: Any, connections: Any, tmp_path: Path) -> None:
    """The name passes the check (public), then answers an internal address when the
    connection resolves it: the connection is refused before any packet."""
    dns.set("files.example.com", ["93.184.216.34"], ["10.9.8.7"])
    provider = SFTPProvider(
        config={
            "host": "files.example.com",
            "port": 22,
            "username": "u",
            "folder": "/srv",
            "host_key": "ssh-ed25519 SHA256:" + "A" * 43,
        },
        credentials={"password": "pw"},
        admin_config={},
    )
    with pytest.raises(net.AddressRefused):
        provider.check()
    assert connections.made == [] and connections.refused == []
    dns.set("files.example.com", ["93.184.216.34"], ["10.9.8.7"])
    with pytest.raises(net.AddressRefused):
        SFTPProvider.host_key_scan(host="files.example.com", port=22, admin_config={})
    assert connections.made == [] and connections.refused == []


def test_allow_list_validation() -> None:
    out = SFTPProvider.validate_admin_config(
        {"hosts": "sftp.example.com\n*.corp.example:2222 [::1]:22"}
    )
    assert out["hosts"] == ["sftp.example.com", "*.corp.example:2222", "[::1]"]
    with pytest.raises(ValidationFailed) as excinfo:
        SFTPProvider.validate_admin_config({"hosts": ["bad host"]})
    assert excinfo.value.details["field"] == "hosts"


def test_missing_folder_is_not_found(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(StorageNotFound) as excinfo:
        make_sftp(sshd, tmp_path / "nope").check()
    assert "does not exist" in excinfo.value.message


# -- temporary files and servers without posix-rename -----------------------------------


def test_a_dead_writers_temporary_file_is_removed_a_live_ones_kept(
    sshd: SshServer, tmp_path: Path
) -> None:
    from strongroom.storage.providers import sftp as sftp_module

    dead = subprocess.Popen(["true"])
    dead.wait()
    machine = sftp_module._machine_id()
    dead_tmp = tmp_path / f".strongroom-tmp-{machine}-{dead.pid}-abcdef012345"
    live_tmp = tmp_path / f".strongroom-tmp-{machine}-{sshd.proc.pid}-abcdef012345"
    other_machine = tmp_path / f".strongroom-tmp-00000000-{dead.pid}-abcdef012345"
    for path in (dead_tmp, live_tmp, other_machine):
        path.write_bytes(b"partial")
    make_sftp(sshd, tmp_path).put("copy.html", b"new")
    assert not dead_tmp.exists()
    assert live_tmp.exists() and other_machine.exists()  # maybe a live writer: kept
    assert (tmp_path / "copy.html").read_bytes() == b"new"


def test_replace_without_posix_rename(
    sshd: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that does not offer posix-rename@openssh.com: OpenSSH's plain RENAME
    refuses an existing target, so the old copy is removed and the rename repeated."""
    from strongroom.storage.providers import sftp as sftp_module

    real = sftp_module._client_class()

    class WithoutPosixRename(real):  # type: ignore[misc, valid-type]
        def _send_version(self) -> int:
            version = super()._send_version()
            self.extensions.pop("posix-rename@openssh.com", None)
            return version

    monkeypatch.setattr(sftp_module, "_client_class", lambda: WithoutPosixRename)
    provider = make_sftp(sshd, tmp_path)
    provider.put("copy.html", b"first")
    provider.put("copy.html", b"second, longer")
    assert (tmp_path / "copy.html").read_bytes() == b"second, longer"
    assert sorted(os.listdir(tmp_path)) == ["copy.html"]


# -- through the administrator's HTTP proxy ----------------------------------------------


def test_through_the_admins_proxy_with_credentials(sshd: SshServer, tmp_path: Path) -> None:
    from strongroom.storage.base import ProxyConfig, StoragePermanentError

    from .faultproxy import FaultProxy
    from .helpers import allow_internal_proxy

    proxy = FaultProxy()
    try:
        proxy.proxy_auth = ("relay", "proxy-Secret-7")
        allow_internal_proxy(proxy.port)
        pinned = net.proxy_pin(
            ProxyConfig(
                host="127.0.0.1", port=proxy.port, username="relay", password="proxy-Secret-7"
            )
        )
        provider = make_sftp(sshd, tmp_path)
        provider.proxy = pinned
        provider.put("copy.html", b"through the proxy")
        assert (tmp_path / "copy.html").read_bytes() == b"through the proxy"
        tunnels = [r.target for r in proxy.requests if r.method == "CONNECT"]
        assert tunnels and set(tunnels) == {f"127.0.0.1:{sshd.port}"}
        scanned = SFTPProvider.host_key_scan(
            host="127.0.0.1",
            port=sshd.port,
            admin_config={"hosts": [f"127.0.0.1:{sshd.port}"]},
            proxy=pinned,
        )
        assert scanned.fingerprint == sshd.host_fingerprint

        provider.proxy = net.proxy_pin(
            ProxyConfig(host="127.0.0.1", port=proxy.port, username="relay", password="wrong")
        )
        with pytest.raises(StoragePermanentError) as excinfo:
            provider.check()
        assert "proxy refused the credentials (HTTP 407)" in excinfo.value.message
        assert "wrong" not in excinfo.value.message
    finally:
        proxy.close()
