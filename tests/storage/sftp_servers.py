"""Real SFTP servers for the tests, started by the suite itself on 127.0.0.1:

- ``SshServer``: Debian's OpenSSH ``sshd`` with a temporary sshd_config, host key and
  authorized_keys, run as the current user (``-D -e``, ``UsePAM no``, ``StrictModes no``,
  ``Subsystem sftp internal-sftp``); public-key login only. ``restart(new_host_key=True)``
  gives the same address a different host key (the host-key-change test).
- ``RcloneSftpServer``: ``rclone serve sftp`` (Debian's rclone) over a temporary directory,
  password login: a second, independent server implementation.
- ``TcpFaultProxy``: a TCP relay in front of either server for fault injection: reset the
  connection after N bytes went upstream (mid-upload), or stop relaying (a stalled server,
  for timeouts).
- ``rclone_remote()``: rclone's own SFTP client options for reading back what we wrote.

Every readiness wait polls for the condition (the SSH banner on the port), never sleeps.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cli.helpers import wait_until
from standins.faults import Faults

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
RCLONE = shutil.which("rclone") or "/usr/bin/rclone"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _banner_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Create an unencrypted key pair at ``path``; return the public key line."""
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "strongroom-test", "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def key_pair() -> tuple[str, str]:
    """(OpenSSH private key text, public key line) of a fresh Ed25519 key, made in memory."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


def fingerprint_of(public_key_file: Path) -> str:
    """``SHA256:...`` as OpenSSH's own ``ssh-keygen -lf`` prints it."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


@dataclass
class SshServer:
    """OpenSSH's sshd on 127.0.0.1 as the current user."""

    workdir: Path
    port: int = 0
    user: str = field(default_factory=lambda: os.environ.get("USER") or _current_user())
    proc: subprocess.Popen[bytes] | None = None
    #: More host key files (other algorithms) the server offers besides its ed25519 key.
    extra_host_keys: list[Path] = field(default_factory=list)
    #: False: the server offers only ``extra_host_keys`` (say, an RSA-only server).
    ed25519_host_key: bool = True

    @property
    def host_key_file(self) -> Path:
        return self.workdir / "ssh_host_ed25519_key"

    @property
    def client_key_file(self) -> Path:
        return self.workdir / "client_ed25519"

    @property
    def client_key(self) -> str:
        return self.client_key_file.read_text()

    def authorize(self, public_key: str) -> None:
        """Let one more key log in (read by sshd at every login)."""
        with (self.workdir / "authorized_keys").open("a") as f:
            f.write(public_key.strip() + "\n")

    def revoke(self, public_key: str) -> None:
        path = self.workdir / "authorized_keys"
        kept = [line for line in path.read_text().splitlines() if line != public_key.strip()]
        path.write_text("".join(line + "\n" for line in kept))

    @property
    def host_fingerprint(self) -> str:
        return fingerprint_of(self.host_key_file.with_suffix(".pub"))

    def start(self, *, new_host_key: bool = False) -> SshServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if new_host_key or not self.host_key_file.exists():
            keygen(self.host_key_file)
        if not self.client_key_file.exists():
            (self.workdir / "authorized_keys").write_text(keygen(self.client_key_file) + "\n")
        if os.geteuid() == 0:  # root's sshd insists on its privilege separation directory
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.port = self.port or free_port()
        config = self.workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    *([f"HostKey {self.host_key_file}"] if self.ed25519_host_key else []),
                    *(f"HostKey {k}" for k in self.extra_host_keys),
                    f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
                    "PidFile none",
                    "UsePAM no",
                    "StrictModes no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [SSHD, "-f", str(config), "-D", "-e"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: (
                self.proc is not None and (self.proc.poll() is not None or _banner_ready(self.port))
            ),
            timeout=20,
            what="sshd to answer",
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {self.proc.returncode}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, *, new_host_key: bool = False) -> None:
        self.stop()
        self.start(new_host_key=new_host_key)


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


@dataclass
class RcloneSftpServer:
    """``rclone serve sftp`` over ``root`` on 127.0.0.1, user/password login."""

    root: Path
    workdir: Path
    user: str = "sync-user"
    password: str = "rclone-Canary-pass-0451"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key_file(self) -> Path:
        return self.workdir / "rclone_host_key"

    @property
    def host_fingerprint(self) -> str:
        return fingerprint_of(self.host_key_file.with_suffix(".pub"))

    def start(self) -> RcloneSftpServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.host_key_file.exists():
            keygen(self.host_key_file)
        self.port = self.port or free_port()
        env = {**os.environ, "RCLONE_CONFIG": str(self.workdir / "rclone.conf")}
        (self.workdir / "rclone.conf").write_text("")
        self.proc = subprocess.Popen(
            [
                RCLONE,
                "serve",
                "sftp",
                str(self.root),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--user",
                self.user,
                "--pass",
                self.password,
                "--key",
                str(self.host_key_file),
                # The tests make folders on disk behind rclone's back: no directory cache.
                "--dir-cache-time",
                "0s",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: (
                self.proc is not None and (self.proc.poll() is not None or _banner_ready(self.port))
            ),
            timeout=30,
            what="rclone serve sftp to answer",
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"rclone serve sftp exited with {self.proc.returncode}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


def rclone_read(
    *, port: int, user: str, path: str, key_file: Path | None = None, password: str = ""
) -> tuple[list[str], bytes]:
    """rclone's own SFTP client: (names listed in ``path``'s folder, bytes of ``path``)."""
    workdir = Path(tempfile.mkdtemp(prefix="rclone-client-"))
    try:
        env = {**os.environ, "RCLONE_CONFIG": str(workdir / "rclone.conf")}
        (workdir / "rclone.conf").write_text("")
        flags = ["--sftp-host", "127.0.0.1", "--sftp-port", str(port), "--sftp-user", user]
        if key_file is not None:
            flags += ["--sftp-key-file", str(key_file)]
        if password:
            obscured = subprocess.run(
                [RCLONE, "obscure", password], env=env, capture_output=True, text=True, check=True
            ).stdout.strip()
            flags += ["--sftp-pass", obscured]
        folder, _, _name = path.rpartition("/")
        listing = subprocess.run(
            [RCLONE, "lsf", *flags, f":sftp:{folder}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.splitlines()
        data = subprocess.run(
            [RCLONE, "cat", *flags, f":sftp:{path}"],
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        return listing, data
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class TcpFaultProxy:
    """A TCP relay on 127.0.0.1 in front of ``upstream_port``.

    ``reset_after(n)``: the next connection is cut (RST) once more than ``n`` bytes went
    upstream (client to server) on it. ``stall()``: nothing is relayed until ``clear()``
    (the server seems to hang); ``stall_for(s)``: the same for ``s`` seconds.
    ``slow_next(n, delay)``: each of the next ``n`` connections pauses ``delay`` seconds
    once, after its first 16 KiB upstream (an upload in flight on a slow link).
    ``clear()`` undoes them all. ``connections`` counts accepted ones."""

    SLOW_AFTER = 16 * 1024

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._reset_after: int | None = None
        self._slow: list[float] = []
        self._flowing = threading.Event()
        self._flowing.set()
        self._timer: threading.Timer | None = None
        self._closed = False
        self.connections = 0
        self.resets = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def reset_after(self, nbytes: int) -> None:
        with self._lock:
            self._reset_after = nbytes

    def stall(self) -> None:
        self._flowing.clear()

    def stall_for(self, seconds: float) -> None:
        self._flowing.clear()
        self._timer = threading.Timer(seconds, self._flowing.set)
        self._timer.daemon = True
        self._timer.start()

    def slow_next(self, n: int, delay: float) -> None:
        with self._lock:
            self._slow.extend([delay] * n)

    def clear(self) -> None:
        with self._lock:
            self._reset_after = None
            self._slow.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                limit, self._reset_after = self._reset_after, None
                delay = self._slow.pop(0) if self._slow else 0.0
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            threading.Thread(
                target=self._pump, args=(client, upstream, limit, delay), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, limit: int | None, delay: float = 0.0
    ) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # a stalled relay holds the bytes until clear()
                if delay and sent > self.SLOW_AFTER:
                    # A slow link, simulated: this connection's bytes are held once.
                    threading.Event().wait(delay)
                    delay = 0.0
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: max(0, limit - sent)])
                    self.resets += 1
                    for s in (src, dst):  # RST, not FIN: a cut connection
                        with contextlib.suppress(OSError):
                            s.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                            )
                            s.close()
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class SftpFaults(Faults):
    """The conformance suite's fault protocol for SFTP, through a ``TcpFaultProxy`` in front
    of the server: SFTP has no HTTP status, so "unavailable" is a connection dropped at
    once (no Retry-After), a reset mid-upload is an RST after the login, a stall holds the
    bytes; upload parts are the SSH_FXP_WRITE requests paramiko sends."""

    #: Upstream bytes of the key exchange, login and SFTP set-up are well below this; the
    #: upload's first writes take it past.
    PAST_LOGIN = 20_000
    #: A stalled connection the client gave up on never renames its temporary file.
    stalled_upload_lands = False

    def __init__(self, relay: TcpFaultProxy) -> None:
        self.relay = relay

    def reset_mid_upload(self) -> None:
        self.relay.reset_after(self.PAST_LOGIN)

    def unavailable(self, retry_after: float) -> None:
        self.relay.reset_after(0)

    def stall(self, seconds: float) -> None:
        self.relay.stall_for(seconds)

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        import paramiko

        parts: list[int] = []
        real_write = paramiko.SFTPFile._write

        def write(f: Any, data: bytes) -> Any:
            parts.append(len(data))
            return real_write(f, data)

        mp = pytest.MonkeyPatch()
        mp.setattr(paramiko.SFTPFile, "_write", write)
        try:
            yield parts
        finally:
            mp.undo()

    def clear(self) -> None:
        self.relay.clear()
