"""SFTP (SSH File Transfer Protocol) servers: OpenSSH's sftp-server / internal-sftp and any
other SFTP server (paramiko, the client only).

- Config: host, port (22), user name, folder (absolute, or relative to the login
  directory); the pinned host key (``host_key``: ``<type> SHA256:<fingerprint>``).
  Credentials (sealed, write-only): a private key (OpenSSH or PEM text, with its passphrase
  when it has one) or a password.
- **Host key pinned, trust-on-first-use made explicit.** Nothing is sent to a server whose
  host key the user has not confirmed: a connection with no pinned key stops after the key
  exchange, before authentication, with ``HostKeyUnconfirmed`` naming the fingerprint the
  server presented; the user compares it (``ssh-keygen -lf``) and confirms, which stores
  it. A server presenting another key later is refused (``HostKeyChanged``, naming both
  fingerprints); only the user reconnecting and confirming the new key moves the pin. Key
  negotiation is restricted to the pinned key's algorithm, so a server that also holds
  keys of other types cannot be judged by one the user never saw.
- **SSRF.** The host is resolved once, every address checked, and the TCP connection made
  to a checked address (``net.connect_checked``). Loopback, private, link-local and other
  internal addresses are refused unless the administrator's allow-list names that exact
  host and port; a non-empty allow-list restricts users to the hosts on it
  (``host_policy``). With the admin's HTTP proxy set, the SSH connection is tunnelled
  through it (``CONNECT host:port``, the proxy's checked address, its credentials).
- **Atomic replace.** The data is written to ``.strongroom-tmp-<random>`` in the folder
  (created exclusively), ``fsync@openssh.com`` is sent when the server offers it, the
  temporary file is verified (size, then re-read and SHA-256 compared), and only then
  renamed over the target with ``posix-rename@openssh.com`` (atomic: readers see the old
  file or the new one). A server without that extension gets a plain rename, and when the
  target exists that fails, so the target is removed first and the rename repeated: the
  name is then briefly absent, never partial (documented in docs/providers/sftp.md). A
  failure at any point removes the temporary file; temporary files older than an hour (a
  writer that was killed) are removed by the next upload.
- Errors are classified at the edge (``_classify``); messages never hold a credential.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import io
import logging
import os
import re
import secrets
import socket
import stat as stat_module
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from strongroom.core.errors import ErrorCode, ValidationFailed
from strongroom.storage import base, net
from strongroom.storage.base import ConfigField, ObjectInfo, Provider
from strongroom.storage.names import check_object_name
from strongroom.storage.registry import register

logger = logging.getLogger(__name__)

TMP_PREFIX = ".strongroom-tmp-"
STALE_TMP_SECONDS = 3600
WRITE_BLOCK = 256 * 1024
USER_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._@+-]{0,63}$")
FINGERPRINT_RE = re.compile(r"^(?:(?P<type>[a-z0-9@.-]+)\s+)?(?P<fp>SHA256:[A-Za-z0-9+/]{43})=?$")
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)
#: RSA host key algorithms (SHA-1 "ssh-rsa" signatures are not offered: paramiko and
#: OpenSSH dropped them); a pin typed "ssh-rsa" (ssh-keygen's name for any RSA key) means these.
RSA_TYPES = ("rsa-sha2-512", "rsa-sha2-256")
MAX_KEY_CHARS = 16_384


# ---------------------------------------------------------------------------------------
# Host keys
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostKey:
    """A server's host key as the user sees it: type and OpenSSH SHA256 fingerprint."""

    key_type: str
    fingerprint: str  # "SHA256:<43 base64 characters>", as ``ssh-keygen -lf`` prints

    @property
    def pin(self) -> str:
        return f"{self.key_type} {self.fingerprint}"

    @classmethod
    def of(cls, transport: Any) -> HostKey:
        """The key the server presented on ``transport``, named by the algorithm that was
        negotiated (an RSA key is "rsa-sha2-512", not paramiko's "ssh-rsa", which servers
        refuse for host keys today)."""
        key = transport.get_remote_server_key()
        digest = hashlib.sha256(key.asbytes()).digest()
        key_type = str(transport.host_key_type or key.get_name())
        return cls(key_type, "SHA256:" + base64.b64encode(digest).decode().rstrip("="))


class HostKeyUnconfirmed(base.StorageError):
    """The user has not confirmed this server's host key yet: nothing was sent to it."""

    code = ErrorCode.SFTP_HOST_KEY_UNCONFIRMED

    def __init__(self, host: str, port: int, key: HostKey) -> None:
        super().__init__(
            f"confirm the host key of {host}:{port} before connecting: the server presented "
            f"the {key.key_type} key {key.fingerprint}. Compare it with the server's own "
            "(ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and trust it only if it matches."
        )
        self.host_key = key

    @property
    def details(self) -> dict[str, Any]:
        return {
            "field": "host_key",
            "host_key": self.host_key.pin,
            "fingerprint": self.host_key.fingerprint,
            # The web form offers this value behind a "Trust this host key" button.
            "confirm": {
                "field": "host_key",
                "value": self.host_key.pin,
                "label": "Trust this host key",
            },
        }


class HostKeyChanged(base.StorageAuthError):
    """The server presented another host key than the pinned one: refused before
    authentication (a man in the middle, or a reinstalled server)."""

    code = ErrorCode.SFTP_HOST_KEY_CHANGED

    def __init__(self, host: str, port: int, pinned: str, presented: HostKey | None) -> None:
        now = (
            f"the server presented {presented.pin}"
            if presented is not None
            else "the server no longer offers a key of that type"
        )
        super().__init__(
            f"the host key of {host}:{port} has changed: the pinned key is {pinned}, {now}. "
            "Nothing was sent to the server. This is "
            "what an attack (someone between you and the server) looks like, or the server "
            "was reinstalled: check the new fingerprint with the server's administrator, "
            "then reconnect and trust the new key."
        )
        self.presented = presented

    @property
    def details(self) -> dict[str, Any]:
        if self.presented is None:
            return {"field": "host_key"}
        return {
            "field": "host_key",
            "host_key": self.presented.pin,
            "fingerprint": self.presented.fingerprint,
        }


def parse_pin(value: str) -> tuple[str | None, str]:
    """(key type or None, ``SHA256:...``) of a pinned/confirmed fingerprint text."""
    text = (value or "").strip()
    match = FINGERPRINT_RE.match(text)
    if not match or (match.group("type") and match.group("type") not in KEY_TYPES):
        raise ValidationFailed(
            "the host key must be an OpenSSH SHA256 fingerprint, e.g. "
            "ssh-ed25519 SHA256:abc… (43 characters after SHA256:)",
            field="host_key",
        )
    return match.group("type"), match.group("fp")


# ---------------------------------------------------------------------------------------
# Addresses: the administrator's allow-list
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostEntry:
    host: str  # normalised host name or IP literal; "*.example.com" for a wildcard
    port: int

    @property
    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 22 else f"{host}:{self.port}"


def parse_host_entry(entry: str, *, field: str = "hosts") -> HostEntry:
    """``host``, ``host:port``, ``[v6]:port`` or ``*.example.com[:port]`` (port 22 when
    omitted)."""
    raw = (entry or "").strip()
    host, port_text = raw, ""
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValidationFailed(f"{raw!r} is not a valid host", field=field)
        port_text = rest[1:]
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    port = 22
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValidationFailed(f"{raw!r}: the port must be 1-65535", field=field)
        port = int(port_text)
    if host.startswith("*."):
        return HostEntry("*." + net.check_host(host[2:], field=field), port)
    return HostEntry(net.check_host(host, field=field), port)


def normalize_hosts(entries: Iterable[str] | str) -> list[str]:
    if isinstance(entries, str):
        entries = entries.split()
    out: list[str] = []
    for entry in entries:
        if (entry or "").strip():
            text = parse_host_entry(entry).text
            if text not in out:
                out.append(text)
    return out


def host_policy(host: str, port: int, allow_list: Iterable[str]) -> bool:
    """May the user connect to ``host:port``? Returns whether the connection may reach an
    internal address (only an exact allow-list entry); ValidationFailed (field "host") when
    refused. Empty allow-list: any host that resolves to public addresses only."""
    target = parse_host_entry(f"[{host}]:{port}" if ":" in host else f"{host}:{port}", field="host")
    entries = [parse_host_entry(e) for e in allow_list or []]
    exact = any(e == target for e in entries)
    wildcard = any(
        e.host.startswith("*.")
        and e.port == target.port
        and target.host.endswith(e.host[1:])
        and len(target.host) > len(e.host) - 1
        for e in entries
    )
    if entries and not (exact or wildcard):
        raise ValidationFailed(
            f"the SFTP server {target.text} is not on the administrator's allow-list",
            field="host",
        )
    # An early, clear answer; the connection resolves and checks again for itself.
    if not exact and any(net.is_internal_address(a) for a in net.resolve(target.host, target.port)):
        raise ValidationFailed(
            f"the SFTP server {target.text} resolves to an internal address (loopback, "
            "private, link-local...); the administrator must allow-list this exact host",
            field="host",
        )
    return exact


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def _classify(exc: BaseException, *, where: str) -> base.StorageError:
    import paramiko

    if isinstance(exc, base.StorageError):
        return exc
    if isinstance(exc, paramiko.BadAuthenticationType):
        allowed = ", ".join(getattr(exc, "allowed_types", []) or []) or "none"
        return base.StorageAuthError(
            f"the server does not accept this kind of login (it allows: {allowed})"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return base.StorageAuthError("the server refused the user name and key or password")
    if isinstance(exc, socket.gaierror):
        return net.NameNotResolved(f"the host name of {where} does not resolve")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return base.StorageTransientError(f"{where}: the server did not answer in time (timed out)")
    if isinstance(exc, ConnectionRefusedError):
        return base.StorageTransientError(f"{where}: the server refused the connection")
    if isinstance(exc, (EOFError, ConnectionError, paramiko.SSHException)):
        text = str(exc).lower()
        if "timeout" in text or "timed out" in text:
            return base.StorageTransientError(
                f"{where}: the server did not answer in time (timed out)"
            )
        return base.StorageTransientError(f"{where}: the connection was reset")
    if isinstance(exc, OSError):
        code = exc.errno
        if code == errno.ENOENT:
            return base.StorageNotFound(f"{where} does not exist")
        if code in (errno.EACCES, errno.EPERM):
            return base.StoragePermissionError(f"access denied: cannot write to {where}")
        if code in (errno.ENOSPC, errno.EDQUOT):
            return base.StorageTransientError(f"{where}: the server is out of space")
        # SFTP v3's generic SSH_FX_FAILURE is how OpenSSH reports a full disk or a quota
        # (ENOSPC has no code of its own): retried, like any other unexplained failure.
        return base.StorageTransientError(
            f"{where}: the server reported a failure (a full disk or quota, for example)"
        )
    return base.StoragePermanentError(f"SFTP request failed ({type(exc).__name__})")


# ---------------------------------------------------------------------------------------
# The provider
# ---------------------------------------------------------------------------------------


class _Session:
    """One authenticated SFTP session and the extensions the server advertised."""

    def __init__(self, transport: Any, sftp: Any, extensions: dict[str, bytes]) -> None:
        self.transport = transport
        self.sftp = sftp
        self.extensions = extensions

    def stat(self, path: str, *, missing: str) -> Any:
        """The attributes of ``path``; StorageNotFound(``missing``) when it does not exist."""
        try:
            return self.sftp.stat(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise base.StorageNotFound(missing) from None
            raise

    def fsync(self, handle: bytes) -> bool:
        if "fsync@openssh.com" not in self.extensions:
            return False
        from paramiko.sftp import CMD_EXTENDED

        self.sftp._request(CMD_EXTENDED, "fsync@openssh.com", handle)
        return True


def _client_class() -> Any:
    import paramiko
    from paramiko.message import Message
    from paramiko.sftp import CMD_INIT, CMD_VERSION, SFTPError

    class Client(paramiko.SFTPClient):
        """paramiko's client, keeping the extensions the server lists in its VERSION
        packet (paramiko drops them): posix-rename and fsync are used only when offered."""

        extensions: dict[str, bytes]

        def _send_version(self) -> int:
            m = Message()
            m.add_int(3)
            self._send_packet(CMD_INIT, m)
            t, data = self._read_packet()
            if t != CMD_VERSION:
                raise SFTPError("Incompatible sftp protocol")
            reply = Message(data)
            version = reply.get_int()
            self.extensions = {}
            while True:
                name = reply.get_string()
                if not name:
                    break
                self.extensions[name.decode("utf-8", "replace")] = reply.get_string()
            return int(version)

    return Client


class SFTPProvider(Provider):
    name: ClassVar[str] = "sftp"
    label: ClassVar[str] = "SFTP server"
    order: ClassVar[int] = 60
    fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("host", "Host", max_length=253, help="The SSH server's name or address"),
        ConfigField("port", "Port", required=False, max_length=5, initial="22"),
        ConfigField("username", "User name", max_length=64),
        ConfigField(
            "private_key",
            "Private key",
            secret=True,
            required=False,
            kind="textarea",
            max_length=MAX_KEY_CHARS,
            help="OpenSSH or PEM private key text (Ed25519, ECDSA or RSA); or use a password. "
            "Write-only: stored encrypted, never shown again.",
        ),
        ConfigField(
            "key_passphrase",
            "Key passphrase",
            secret=True,
            required=False,
            kind="password",
            help="Only if the private key is encrypted",
        ),
        ConfigField("password", "Password", secret=True, required=False, kind="password"),
        ConfigField(
            "folder",
            "Folder",
            max_length=500,
            help="Where the copy goes: an absolute path, or one relative to the login directory. "
            "It must exist.",
        ),
        ConfigField(
            "host_key",
            "Host key fingerprint",
            required=False,
            max_length=120,
            help="Leave empty: Strongroom shows the fingerprint the server presents, for you to "
            "compare with the server's own (ssh-keygen -lf) and trust.",
        ),
        ConfigField(
            "hosts",
            "Allowed SFTP servers",
            level="admin",
            kind="lines",
            required=False,
            help="One per line: host, host:port or *.example.com. Empty: any server that "
            "resolves to public addresses. Internal addresses (loopback, private, link-local) "
            "only when the exact host and port is listed.",
        ),
    )
    default_chunk_threshold: ClassVar[int] = WRITE_BLOCK

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_admin_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        out = dict(config)
        out["hosts"] = normalize_hosts(config.get("hosts") or [])
        return out

    @classmethod
    def validate_config(
        cls, config: dict[str, Any], credentials: dict[str, Any], admin_config: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host = net.check_host(str(config.get("host") or "").strip(), field="host")
        port_text = str(config.get("port") or "22").strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValidationFailed("the port must be a number from 1 to 65535", field="port")
        port = int(port_text)
        username = str(config.get("username") or "").strip()
        if not USER_RE.match(username):
            raise ValidationFailed(
                "the user name must be 1-64 letters, digits or . _ @ + -", field="username"
            )
        folder = _check_folder(str(config.get("folder") or ""))
        pin = str(config.get("host_key") or "").strip()
        if pin:
            key_type, fingerprint = parse_pin(pin)
            pin = f"{key_type} {fingerprint}" if key_type else fingerprint
        key_text = str(credentials.get("private_key") or "").strip()
        passphrase = str(credentials.get("key_passphrase") or "")
        password = str(credentials.get("password") or "")
        if not key_text and not password:
            raise ValidationFailed("give a private key or a password", field="private_key")
        creds: dict[str, Any] = {}
        if key_text:
            if len(key_text) > MAX_KEY_CHARS:
                raise ValidationFailed("the private key is too long", field="private_key")
            _load_private_key(key_text, passphrase)  # refuses a bad key or passphrase now
            creds["private_key"] = key_text + "\n"
            if passphrase:
                creds["key_passphrase"] = passphrase
        if password:
            creds["password"] = password
        host_policy(host, port, admin_config.get("hosts") or [])
        out = {"host": host, "port": port, "username": username, "folder": folder}
        if pin:
            out["host_key"] = pin
        return out, creds

    @classmethod
    def host_key_scan(
        cls,
        *,
        host: str,
        port: int,
        admin_config: dict[str, Any],
        timeout: float = 15.0,
        proxy: base.ProxyConfig | None = None,
    ) -> HostKey:
        """The host key the server presents (key exchange only; nothing is authenticated
        or sent), for the user to confirm. Same address rules as a connection."""
        host = net.check_host(host, field="host")
        allow_internal = host_policy(host, port, admin_config.get("hosts") or [])
        where = f"{host}:{port}"
        transport = None
        try:
            transport = _transport(
                host, port, allow_internal=allow_internal, timeout=timeout, proxy=proxy
            )
            _negotiate(transport, where, timeout)
            return HostKey.of(transport)
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise _classify(exc, where=where) from None
        finally:
            if transport is not None:
                transport.close()

    @classmethod
    def test_connection(
        cls, *, admin_config: dict[str, Any], proxy: base.ProxyConfig | None
    ) -> base.TestResult:
        """Each exact allow-listed server answers an SSH key exchange (no login)."""
        hosts = [parse_host_entry(h) for h in admin_config.get("hosts") or []]
        exact = [h for h in hosts if not h.host.startswith("*.")]
        if not exact:
            return base.TestResult(
                True, cls.name, "ok", "no exact SFTP server to test: users name their own"
            )
        for entry in exact:
            try:
                key = cls.host_key_scan(
                    host=entry.host,
                    port=entry.port,
                    admin_config=admin_config,
                    timeout=10,
                    proxy=proxy,
                )
            except base.StorageError as exc:
                return base.TestResult(False, cls.name, "connect", exc.message, target=entry.text)
        return base.TestResult(
            True, cls.name, "ok", f"{entry.text} answered ({key.pin})", target=entry.text
        )

    # -- connection ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self.config["host"])

    @property
    def port(self) -> int:
        return int(self.config.get("port") or 22)

    @property
    def folder(self) -> str:
        return str(self.config["folder"])

    @property
    def where(self) -> str:
        """``sftp://user@host[:port]/abs/path``, or ``.../~/rel/path`` for a folder relative
        to the login directory."""
        folder = self.folder if self.folder.startswith("/") else f"/~/{self.folder}"
        return f"sftp://{self.config.get('username')}@{self._hostport()}{folder}"

    def _hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 22 else f"{host}:{self.port}"

    def path(self, name: str) -> str:
        return f"{self.folder.rstrip('/') or '/'}/{check_object_name(name)}".replace("//", "/")

    def describe(self) -> str:
        return self.where

    @contextlib.contextmanager
    def _session(self) -> Iterator[_Session]:
        """Connect (checked address), verify the host key against the pin BEFORE anything
        else is sent, authenticate, open SFTP."""
        import paramiko

        transport = None
        where = self._hostport()
        try:
            allow_internal = host_policy(self.host, self.port, self.admin_config.get("hosts") or [])
        except ValidationFailed as exc:  # the allow-list changed since the user connected
            raise base.StoragePermanentError(exc.message) from None
        try:
            transport = _transport(
                self.host,
                self.port,
                allow_internal=allow_internal,
                timeout=self.timeout,
                proxy=self.proxy,
            )
            pin_type, pin_fp = (None, "")
            if self.config.get("host_key"):
                pin_type, pin_fp = parse_pin(str(self.config["host_key"]))
            if pin_type:
                # Judge the server by the key the user confirmed, never by another of its
                # keys; "ssh-rsa" (what ssh-keygen calls any RSA key) means RSA with any hash.
                transport.get_security_options().key_types = (
                    RSA_TYPES if pin_type in (*RSA_TYPES, "ssh-rsa") else (pin_type,)
                )
            try:
                _negotiate(transport, where, self.timeout)
            except paramiko.SSHException as exc:
                if pin_type and "host key" in str(exc).lower():
                    raise HostKeyChanged(
                        self.host,
                        self.port,
                        str(self.config["host_key"]),
                        None,
                    ) from None
                raise
            presented = HostKey.of(transport)
            if not pin_fp:
                raise HostKeyUnconfirmed(self.host, self.port, presented)
            if presented.fingerprint != pin_fp:
                raise HostKeyChanged(self.host, self.port, str(self.config["host_key"]), presented)
            self._authenticate(transport)
            sftp = _client_class().from_transport(transport)
            if sftp is None:
                raise base.StorageTransientError(f"{where}: the server did not open SFTP")
            sftp.get_channel().settimeout(self.timeout)
            session = _Session(transport, sftp, sftp.extensions)
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            if transport is not None:
                transport.close()
            raise _classify(exc, where=where) from None
        try:
            yield session
        except base.StorageError:
            raise
        except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
            raise _classify(exc, where=self.where) from None
        finally:
            transport.close()

    def _authenticate(self, transport: Any) -> None:
        username = str(self.config.get("username") or "")
        key_text = self.credentials.get("private_key")
        password = self.credentials.get("password")
        if key_text:
            key = _load_private_key(str(key_text), self.credentials.get("key_passphrase") or "")
            try:
                transport.auth_publickey(username, key)
                return
            except Exception:
                if not password:
                    raise
        transport.auth_password(username, str(password or ""))

    def _require_folder(self, session: _Session) -> None:
        attrs = session.stat(
            self.folder, missing=f"folder {self.folder} does not exist on {self._hostport()}"
        )
        if not stat_module.S_ISDIR(attrs.st_mode or 0):
            raise base.StorageNotFound(f"{self.folder} on {self._hostport()} is not a folder")

    # -- operations ----------------------------------------------------------------------

    def check(self) -> str:
        """Log in, find the folder, write and remove a probe file: proves the host key, the
        credentials, the folder and the permission to upload."""
        with self._session() as session:
            self._require_folder(session)
            probe = f"{self.folder.rstrip('/')}/{TMP_PREFIX}check-{secrets.token_hex(4)}"
            with session.sftp.open(probe, "wbx") as f:
                f.write(b"")
            session.sftp.remove(probe)
        return f"{self.where} (host key {self.config.get('host_key')})"

    def put(self, name: str, data: bytes) -> ObjectInfo:
        target = self.path(name)
        with self._session() as session:
            self._require_folder(session)
            self._sweep_stale(session)
            tmp = f"{self.folder.rstrip('/')}/{_tmp_name()}"
            try:
                with session.sftp.open(tmp, "wbx") as f:
                    f.set_pipelined(True)
                    for offset in range(0, len(data), WRITE_BLOCK):
                        f.write(data[offset : offset + WRITE_BLOCK])
                    f.flush()
                    fsynced = session.fsync(f.handle)
                digest = self._verify(session, tmp, data, target)
                self._rename_over(session, tmp, target)
            except BaseException:
                self._remove_tmp(session, tmp)
                raise
            info = self._stat(session, name, content_hash=digest)
        self.verify_landed(info, data, None)
        logger.info("sftp: stored %d bytes at %s (fsync %s)", len(data), info.location, fsynced)
        return info

    def _remove_tmp(self, session: _Session, tmp: str) -> None:
        """Best effort: on this session, or (the connection was cut) on a fresh one; what
        is left behind is swept by a later upload."""
        try:
            session.sftp.remove(tmp)
            return
        except FileNotFoundError:
            return
        except Exception:  # noqa: S110, BLE001  the session is gone (any error): try a new one below
            pass
        try:
            with self._session() as fresh:
                fresh.sftp.remove(tmp)
        except (base.StorageError, OSError):
            logger.info("sftp: could not remove a temporary file in %s yet", self.where)

    def _verify(self, session: _Session, tmp: str, data: bytes, target: str) -> str:
        """Size, then the bytes re-read from the server hashed: before the rename, so a copy
        that did not land whole never replaces the good one."""
        size = int(session.sftp.stat(tmp).st_size or 0)
        name = target.rsplit("/", 1)[-1]
        landed = ObjectInfo(name=name, size=size, location=f"{self.where.rstrip('/')}/{name}")
        self.verify_landed(landed, data, None)
        expected = hashlib.sha256(data).hexdigest()
        got = self._read_hash(session, tmp)
        if got != expected:
            raise base.StorageTransientError(
                f"upload verification failed for {self.where}: the SHA-256 of the stored "
                "bytes differs from what was sent"
            )
        return got

    def _read_hash(self, session: _Session, path: str) -> str:
        digest = hashlib.sha256()
        with session.sftp.open(path, "rb") as f:
            f.prefetch()
            while chunk := f.read(WRITE_BLOCK):
                digest.update(chunk)
        return digest.hexdigest()

    def _rename_over(self, session: _Session, tmp: str, target: str) -> None:
        if "posix-rename@openssh.com" in session.extensions:
            session.sftp.posix_rename(tmp, target)
            return
        try:
            session.sftp.rename(tmp, target)
        except OSError:
            # SFTPv3 RENAME refuses an existing target: remove it, rename again (the name
            # is briefly absent; the complete, verified file is in the temporary name).
            with contextlib.suppress(FileNotFoundError):
                session.sftp.remove(target)
            session.sftp.rename(tmp, target)

    def _sweep_stale(self, session: _Session) -> None:
        """Remove temporary files whose writer is gone: any older than an hour, and, at
        once, those written from this machine by a process that no longer exists (a worker
        killed mid-upload; its job is retried by another worker). A live writer's file is
        never removed: at worst one from another machine that shares this machine's id,
        whose rename then fails and is retried."""
        now = time.time()
        for entry in session.sftp.listdir_attr(self.folder):
            if not entry.filename.startswith(TMP_PREFIX):
                continue
            if now - float(entry.st_mtime or now) > STALE_TMP_SECONDS or _writer_is_dead(
                entry.filename
            ):
                with contextlib.suppress(OSError):
                    session.sftp.remove(f"{self.folder.rstrip('/')}/{entry.filename}")
                    logger.info("sftp: removed a stale temporary file in %s", self.where)

    def _stat(self, session: _Session, name: str, content_hash: str | None = None) -> ObjectInfo:
        path = self.path(name)
        attrs = session.stat(path, missing=f"no such file: {self.where.rstrip('/')}/{name}")
        return ObjectInfo(
            name=name,
            size=int(attrs.st_size or 0),
            content_hash=content_hash,
            hash_algorithm="sha256" if content_hash else None,
            modified=datetime.fromtimestamp(attrs.st_mtime, UTC) if attrs.st_mtime else None,
            location=f"{self.where.rstrip('/')}/{name}",
        )

    def stat(self, name: str) -> ObjectInfo:
        check_object_name(name)
        with self._session() as session:
            return self._stat(session, name)

    def delete(self, name: str) -> None:
        path = self.path(name)
        with self._session() as session:
            try:
                session.sftp.remove(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise


@functools.cache
def _machine_id() -> str:
    """8 hex digits naming this machine (its machine-id, else its host name)."""
    try:
        raw = Path("/etc/machine-id").read_text().strip()
    except OSError:
        raw = ""
    raw = raw or socket.gethostname()
    return hashlib.sha256(raw.encode()).hexdigest()[:8]


def _tmp_name() -> str:
    """``.strongroom-tmp-<machine>-<pid>-<random>``: who wrote it, so a later upload can
    tell a dead writer's leftover from a live writer's file."""
    return f"{TMP_PREFIX}{_machine_id()}-{os.getpid()}-{secrets.token_hex(6)}"


def _writer_is_dead(filename: str) -> bool:
    parts = filename[len(TMP_PREFIX) :].split("-")
    if len(parts) != 3 or parts[0] != _machine_id() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # this process: another thread's upload may be in flight
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists (another user's process): alive
    return False


def _check_folder(folder: str) -> str:
    folder = unicodedata.normalize("NFC", folder.strip())
    if not folder:
        raise ValidationFailed("choose a folder", field="folder")
    if len(folder) > 500 or any(unicodedata.category(c) == "Cc" for c in folder):
        raise ValidationFailed("the folder is not valid", field="folder")
    parts = folder.split("/")
    if any(p in {".", ".."} for p in parts) or "\\" in folder:
        raise ValidationFailed("the folder may not contain '.', '..' or '\\'", field="folder")
    return folder if folder == "/" else folder.rstrip("/")


def _load_private_key(text: str, passphrase: str) -> Any:
    """A paramiko key from OpenSSH/PEM text: ValidationFailed for a bad key or passphrase
    (never echoing either)."""
    import paramiko

    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase or None)
        except paramiko.PasswordRequiredException:
            raise ValidationFailed(
                "the private key is encrypted: give its passphrase", field="key_passphrase"
            ) from None
        except (paramiko.SSHException, ValueError, IndexError, TypeError):
            continue
    raise ValidationFailed(
        "the private key is not a valid OpenSSH or PEM private key (or the passphrase is wrong)",
        field="private_key",
    )


def _negotiate(transport: Any, where: str, timeout: float) -> None:
    """Key exchange within ``timeout`` (paramiko's own ``start_client(timeout=)`` returns
    silently when the time is up)."""
    import paramiko

    done = threading.Event()
    transport.start_client(event=done)
    if not done.wait(timeout):
        raise base.StorageTransientError(f"{where}: the server did not answer in time (timed out)")
    if not transport.is_active():
        raise transport.get_exception() or paramiko.SSHException("negotiation failed")


def _tunnel(proxy: base.ProxyConfig, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``host:port`` through the admin's HTTP proxy (``CONNECT``). The
    proxy's address is the one ``net.proxy_pin`` resolved and checked; the proxy resolves
    the target itself (the target's name was checked here by ``host_policy``)."""
    if not proxy.address:
        raise net.AddressRefused("the proxy was not resolved and checked; refusing to use it")
    try:
        sock = socket.create_connection((proxy.address, proxy.port), timeout)
    except OSError:
        raise base.StorageTransientError("the proxy refused the connection") from None
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if proxy.username:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
        request += f"Proxy-Authorization: Basic {token}\r\n"
    try:
        sock.sendall((request + "\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: SSH's banner follows at once
            byte = sock.recv(1)
            if not byte or len(head) > 8192:
                raise base.StorageTransientError("the proxy closed the connection")
            head += byte
        parts = head.split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except BaseException:
        sock.close()
        raise
    if status == 200:
        return sock
    sock.close()
    if status == 407:
        raise base.StoragePermanentError("the proxy refused the credentials (HTTP 407)")
    raise base.StorageTransientError(
        f"the proxy refused the connection to {target} (HTTP {status})"
    )


def _transport(
    host: str,
    port: int,
    *,
    allow_internal: bool,
    timeout: float,
    proxy: base.ProxyConfig | None = None,
) -> Any:
    import paramiko

    if proxy is not None:
        sock = _tunnel(proxy, host, port, timeout)
    else:
        sock = net.connect_checked(host, port, allow_internal=allow_internal, timeout=timeout)
    sock.settimeout(timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout + 5  # ``_negotiate`` reports the time-out itself
    transport.auth_timeout = timeout
    transport.handshake_timeout = timeout
    return transport


register(SFTPProvider)
