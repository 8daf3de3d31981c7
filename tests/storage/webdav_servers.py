"""Real WebDAV servers on 127.0.0.1 for the tests, each in its own process with a temporary
root and HTTP Basic authentication, stopped when the test session ends:

- ``wsgidav`` (PyPI), served by cheroot, laid out like Nextcloud: the user's files at
  ``/remote.php/dav/files/<user>/``. Two Nextcloud behaviours that wsgidav lacks are added
  by this module's own WSGI layer (``python webdav_servers.py wsgidav ...`` runs it): the
  ``oc:checksums`` property (SHA1 of the stored bytes, computed from the file on disk, so it
  reports what is really stored) and chunking v2 (``/remote.php/dav/uploads/<user>/<id>``:
  MKCOL, chunk PUTs, MOVE ``.file`` assembles into the Destination atomically). The layer
  can be switched off (``chunking=False``) to be a plain server whose upload collection
  answers 405.
- ``rclone serve webdav`` (Debian's rclone): a plain RFC 4918 server with no checksums and
  no chunking, so the provider reads back and hashes, and uses a single PUT.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

USER = "alice"
PASSWORD = "app-pass-Zq7-webdav-tests"
FOLDER = "Strongroom"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    """Wait until the server accepts a TCP connection (fail fast if it exited)."""
    from cli.helpers import wait_until  # here: this file also runs as the server's script

    def accepting() -> bool:
        if proc.poll() is not None:
            out = log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"WebDAV server exited with {proc.returncode}: {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_until(accepting, timeout=timeout, what=f"the WebDAV server on port {port}", interval=0.05)


@dataclass
class DavServer:
    """A running WebDAV server: ``url`` is the user's WebDAV root (ends in /), ``root`` the
    directory that holds the user's files."""

    kind: str
    origin: str
    url: str
    root: Path
    process: subprocess.Popen[bytes]
    username: str = USER
    password: str = PASSWORD
    checksums: bool = False
    chunking: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def folder(self, name: str = FOLDER) -> Path:
        """A fresh, existing folder under the root (the user's target folder)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root.parent, ignore_errors=True)


def start_wsgidav(*, chunking: bool = True, tls_pem: Path | None = None) -> DavServer:
    """wsgidav in its own process; ``tls_pem`` (a key and certificate chain, PEM) serves
    HTTPS instead of HTTP."""
    base = Path(tempfile.mkdtemp(prefix="strongroom-wsgidav-"))
    root = base / "files"
    uploads = base / "uploads"
    root.mkdir()
    uploads.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "wsgidav",
            str(port),
            str(root),
            str(uploads),
            "1" if chunking else "0",
            str(tls_pem or ""),
        ],
        stdin=subprocess.DEVNULL,
        stdout=(base / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": ""},
    )
    _wait_listening(port, proc, base / "server.log")
    origin = f"{'https' if tls_pem else 'http'}://127.0.0.1:{port}"
    return DavServer(
        kind="wsgidav" if chunking else "wsgidav-plain",
        origin=origin,
        url=f"{origin}/remote.php/dav/files/{USER}/",
        root=root,
        process=proc,
        checksums=chunking,
        chunking=chunking,
    )


def start_rclone() -> DavServer:
    base = Path(tempfile.mkdtemp(prefix="strongroom-rclone-dav-"))
    root = base / "files"
    root.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [
            "rclone",
            "serve",
            "webdav",
            str(root),
            "--addr",
            f"127.0.0.1:{port}",
            "--user",
            USER,
            "--pass",
            PASSWORD,
            "--config",
            os.devnull,
            "--log-level",
            "ERROR",
            # The tests make folders and read files on disk behind rclone's back.
            "--dir-cache-time",
            "0s",
        ],
        stdin=subprocess.DEVNULL,
        stdout=(base / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    _wait_listening(port, proc, base / "server.log")
    origin = f"http://127.0.0.1:{port}"
    return DavServer(kind="rclone", origin=origin, url=f"{origin}/", root=root, process=proc)


@pytest.fixture(scope="session")
def wsgidav_server() -> Any:
    """wsgidav laid out like Nextcloud (checksums, chunking v2), for the whole session."""
    server = start_wsgidav()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rclone_server() -> Any:
    """``rclone serve webdav``, for the whole session."""
    server = start_rclone()
    yield server
    server.stop()


def rclone_remote_args(server: DavServer) -> list[str]:
    """``rclone`` arguments naming ``server`` as an on-the-fly remote (``:webdav:``), with
    the password obscured as rclone requires."""
    obscured = subprocess.run(
        ["rclone", "obscure", server.password, "--config", os.devnull],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    vendor = "nextcloud" if server.kind.startswith("wsgidav") else "other"
    return [
        "--config",
        os.devnull,
        "--webdav-url",
        server.url,
        "--webdav-user",
        server.username,
        "--webdav-pass",
        obscured,
        "--webdav-vendor",
        vendor,
    ]


# ---------------------------------------------------------------------------------------
# The wsgidav process (run as a script)
# ---------------------------------------------------------------------------------------

OC_NS = "{http://owncloud.org/ns}"


def _wsgidav_app(root: str, uploads: str, chunking: bool) -> Any:
    from wsgidav.fs_dav_provider import FileResource, FilesystemProvider
    from wsgidav.wsgidav_app import WsgiDAVApp
    from wsgidav.xml_tools import etree

    class ChecksumFile(FileResource):
        """Reports ``oc:checksums`` (SHA1 of the bytes on disk), as Nextcloud does."""

        def get_property_names(self, *, is_allprop: bool) -> list[str]:
            names = list(super().get_property_names(is_allprop=is_allprop))
            if chunking:
                names.append(f"{OC_NS}checksums")
            return names

        def get_property_value(self, name: str) -> Any:
            if chunking and name == f"{OC_NS}checksums":
                digest = hashlib.sha1(Path(self._file_path).read_bytes()).hexdigest()  # noqa: S324
                element = etree.Element(name)
                etree.SubElement(element, f"{OC_NS}checksum").text = f"SHA1:{digest}"
                return element
            return super().get_property_value(name)

    class Provider(FilesystemProvider):
        def get_resource_inst(self, path: str, environ: dict) -> Any:
            res = super().get_resource_inst(path, environ)
            if res is not None and not res.is_collection:
                return ChecksumFile(path, environ, self._loc_to_file_path(path, environ))
            return res

    prefix = f"/remote.php/dav/files/{USER}"
    config = {
        "host": "127.0.0.1",
        "provider_mapping": {prefix: Provider(root)},
        "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
        "http_authenticator": {
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "lock_storage": True,
        "property_manager": True,
        "verbose": 1,
        "logging": {"enable": False},
    }
    dav = WsgiDAVApp(config)
    upload_prefix = f"/remote.php/dav/uploads/{USER}/"
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def reply(start_response: Any, status: str, body: bytes = b"") -> list[bytes]:
        start_response(status, [("Content-Length", str(len(body)))])
        return [body]

    def uploads_app(environ: dict, start_response: Any) -> list[bytes]:
        """Nextcloud chunking v2 on top of the same files (what Nextcloud's uploads
        collection does): chunks are kept apart, ``.file`` is assembled into the
        Destination through a temporary file and a rename."""
        if environ.get("HTTP_AUTHORIZATION") != f"Basic {token}":
            return reply(start_response, "401 Unauthorized")
        if not chunking:
            return reply(start_response, "405 Method Not Allowed")
        rest = unquote(environ["PATH_INFO"][len(upload_prefix) :]).strip("/")
        parts = rest.split("/")
        if not parts[0] or ".." in parts or len(parts) > 2:
            return reply(start_response, "400 Bad Request")
        upload_dir = Path(uploads) / parts[0]
        method = environ["REQUEST_METHOD"]
        if method == "MKCOL" and len(parts) == 1:
            upload_dir.mkdir()
            return reply(start_response, "201 Created")
        if method == "DELETE" and len(parts) == 1:
            shutil.rmtree(upload_dir, ignore_errors=True)
            return reply(start_response, "204 No Content")
        if not upload_dir.is_dir():
            return reply(start_response, "404 Not Found")
        if method == "PUT" and len(parts) == 2 and parts[1].isdigit():
            length = int(environ.get("CONTENT_LENGTH") or 0)
            data = environ["wsgi.input"].read(length)
            if len(data) != length:
                return reply(start_response, "400 Bad Request")
            (upload_dir / parts[1]).write_bytes(data)
            return reply(start_response, "201 Created")
        if method == "MOVE" and parts[1:] == [".file"]:
            dest = urlsplit(environ.get("HTTP_DESTINATION", ""))
            dest_path = unquote(dest.path)
            if not dest_path.startswith(prefix + "/"):
                return reply(start_response, "400 Bad Request")
            target = Path(root) / dest_path[len(prefix) + 1 :]
            if not target.parent.is_dir():
                return reply(start_response, "409 Conflict")
            chunks = sorted(upload_dir.iterdir(), key=lambda p: int(p.name))
            total = int(environ.get("HTTP_OC_TOTAL_LENGTH") or -1)
            if total >= 0 and sum(c.stat().st_size for c in chunks) != total:
                return reply(start_response, "400 Bad Request")
            existed = target.exists()
            partial = target.with_name(f".{target.name}.assembling")
            with open(partial, "wb") as out:
                for chunk in chunks:
                    out.write(chunk.read_bytes())
            partial.replace(target)
            shutil.rmtree(upload_dir, ignore_errors=True)
            return reply(start_response, "204 No Content" if existed else "201 Created")
        return reply(start_response, "405 Method Not Allowed")

    def app(environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith(upload_prefix):
            return uploads_app(environ, start_response)
        return dav(environ, start_response)

    return app


def _serve_wsgidav(port: int, root: str, uploads: str, chunking: bool, tls_pem: str) -> None:
    from cheroot import wsgi

    server = wsgi.Server(("127.0.0.1", port), _wsgidav_app(root, uploads, chunking))
    if tls_pem:
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        server.ssl_adapter = BuiltinSSLAdapter(tls_pem, tls_pem)
    server.timeout = 30
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    kind, port_text, root_dir, uploads_dir, chunking_flag, pem = sys.argv[1:7]
    assert kind == "wsgidav"
    _serve_wsgidav(int(port_text), root_dir, uploads_dir, chunking_flag == "1", pem)
