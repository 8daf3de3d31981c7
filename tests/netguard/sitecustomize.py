"""Loopback only: a process started with this directory on PYTHONPATH can resolve and connect
to 127.0.0.0/8 and ::1 and nothing else (tests that run the real server against inputs a
fuzzer chose: an issuer URL, an LDAP or SMTP host, a storage endpoint).

Python imports ``sitecustomize`` at start-up. Name lookups of anything but a loopback literal
or ``localhost`` fail as an unknown name (``socket.gaierror``) before any DNS query is sent;
a connection to any other address is refused before a packet leaves. Each refusal is written
to stderr as ``netguard: refused ...`` so the test can show what was attempted.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

_LOCAL_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def _loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0]
    if name.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _refuse(what: str, host: object) -> None:
    print(f"netguard: refused {what} {host!r}", file=sys.stderr, flush=True)


_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if host is not None and not _loopback(host):
        _refuse("lookup of", host)
        raise socket.gaierror(socket.EAI_NONAME, "netguard: only loopback in this test")
    return _getaddrinfo(host, *args, **kwargs)


def _checked(address: object) -> None:
    if isinstance(address, tuple) and address and not _loopback(address[0]):
        _refuse("connection to", address[0])
        raise ConnectionRefusedError("netguard: only loopback in this test")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def connect(self, address):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _checked(address)
    return _connect(self, address)


def connect_ex(self, address):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _checked(address)
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
