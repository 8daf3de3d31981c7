"""Outbound network rules for providers: the SSRF guard (endpoint allow-list, host syntax,
resolve-once-check-connect pinning, the proxy host) and the admin's "Test connection" probe.

Endpoint guard: a user-supplied S3-compatible endpoint must be on the admin's allow-list.
Allow-list entries are exact endpoints (``https://minio.example.com:9000``) or host
wildcards (``https://*.r2.cloudflarestorage.com``). An endpoint whose host is, or resolves
to, a loopback, link-local (169.254.169.254), private, reserved or unspecified address is
refused unless that *exact* endpoint is on the allow-list. Host names must be real host
names or IP literals (``*``, spaces, user info, numeric look-alikes such as ``2130706433``
are refused with a field error). Redirects are never followed.

Pinning: the check and the connection use ONE resolution. Every new connection resolves the
name once (``connect_checked``), checks every address it got, and connects to those checked
addresses only, while TLS (SNI, certificate) and the Host header keep the name. urllib3
connection classes do this (``pinned_pool_classes``); the S3 client (botocore) and the probe
use them. A DNS answer that changes between the allow-list check and the connection
(rebinding) cannot move a connection to an unchecked address.

Proxy: the admin's proxy host obeys the same rules: resolved once when the provider is built
(``proxy_pin``), every address checked, and the proxy URL then names the checked address.
An internal proxy address (loopback, private, link-local...) is refused unless the operator
lists that ``host:port`` in ``STRONGROOM_PROXY_INTERNAL_ALLOWED`` (a deployment setting, not
an admin setting: an administrator account alone cannot point Strongroom at 127.0.0.1:6379).
Through a proxy, the proxy resolves and connects to the target: Strongroom checks the name
(allow-list, and what it resolves to from here) but cannot pin the proxy's own lookup.

Probe ("Test connection"): reports the stage that failed; the remote's HTTP status and error
text only for targets that were connected to at public addresses. For internal targets, or
through a proxy to a target that does not resolve here to public addresses only, it says the
stage and a fixed message (the button must not be a port scanner).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from strongroom.core.errors import ValidationFailed
from strongroom.storage.base import (
    ProxyConfig,
    StoragePermanentError,
    StorageTransientError,
    TestResult,
)


class AddressRefused(StoragePermanentError):
    """A connection refused before it was made: the name resolved to an address the rules
    do not allow (or a proxy that was not resolved and checked)."""


class NameNotResolved(StorageTransientError):
    """The name did not resolve (retry later: DNS may be down)."""


_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL_RE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def check_host(host: str, *, field: str) -> str:
    """A host name (IDNA, lower case, no trailing dot) or an IP literal; anything else
    (``*``, empty, spaces, user info, ``%`` zones, numeric look-alikes like ``2130706433``
    or ``0x7f.1`` that resolvers would read as addresses) raises ValidationFailed."""
    raw = host or ""
    if any(c.isspace() for c in raw):
        raise ValidationFailed(f"{raw!r} is not a valid host name (spaces)", field=field)
    text = raw
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.lower().rstrip(".")
    if not text:
        raise ValidationFailed("the host name is empty", field=field)
    if "%" not in text and ":" in text:
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            pass
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    try:
        name = text.encode("idna").decode("ascii")
    except UnicodeError:
        name = ""
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValidationFailed(
            f"{raw!r} is not a valid host name or IP address", field=field
        ) from None
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        raise ValidationFailed(
            f"{raw!r} looks like a numeric address but is not a valid IP address",
            field=field,
        )
    return name


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str  # lower case, no brackets
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")


def parse_endpoint(url: str, *, field: str = "endpoint") -> Endpoint:
    """Parse ``scheme://host[:port]`` (no user info, path, query or fragment)."""
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValidationFailed(f"{raw!r} is not a valid endpoint URL", field=field) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationFailed(
            f"{raw!r} is not a valid endpoint URL (use https://host[:port])", field=field
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationFailed(
            "an endpoint URL may not contain a user name, password, query or fragment",
            field=field,
        )
    if parts.path not in {"", "/"}:
        raise ValidationFailed("an endpoint URL may not contain a path", field=field)
    host = check_host(parts.hostname, field=field)
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, host, port)


def normalize_endpoint(url: str) -> str:
    return parse_endpoint(url).url


def normalize_allow_list(entries: Iterable[str], *, field: str = "endpoints") -> list[str]:
    """Validate the admin's allow-list; entries may use a ``*.`` host wildcard. A bad entry
    is refused with ValidationFailed naming ``field``."""
    out: list[str] = []
    for entry in entries:
        entry = (entry or "").strip()
        if not entry:
            continue
        wildcard = "://*." in entry
        probe = entry.replace("://*.", "://wildcard.") if wildcard else entry
        ep = parse_endpoint(probe, field=field)
        url = ep.url.replace("://wildcard.", "://*.", 1) if wildcard else ep.url
        if url not in out:
            out.append(url)
    return out


def _matches(ep: Endpoint, entry: str) -> tuple[bool, bool]:
    """(matches, exact) of endpoint against one normalised allow-list entry."""
    if entry == ep.url:
        return True, True
    if "://*." in entry:
        pattern = parse_endpoint(entry.replace("://*.", "://wildcard.", 1))
        suffix = pattern.host[len("wildcard") :]  # ".example.com"
        if (
            ep.scheme == pattern.scheme
            and ep.port == pattern.port
            and ep.host.endswith(suffix)
            and len(ep.host) > len(suffix)
        ):
            return True, False
    return False, False


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_internal_address(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address carried inside IPv6 (mapped, 6to4, NAT64) is judged as IPv4.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_internal_address(str(embedded))
    return bool(
        not ip.is_global
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_multicast
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
        # Deprecated IPv6 site-local (fec0::/10): still routed inside some sites, and
        # ipaddress calls it global.
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the host itself when it is an IP literal)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def endpoint_policy(url: str, allow_list: Iterable[str]) -> tuple[str, bool]:
    """(normalised endpoint, may its connections reach internal addresses) when allowed;
    ValidationFailed (field "endpoint") when not. Only an exact allow-list entry may be
    internal (the administrator named that endpoint); a wildcard match must resolve to
    public addresses, here and again at every connection (``connect_checked``)."""
    ep = parse_endpoint(url)
    allowed = normalize_allow_list(allow_list)
    exact = False
    matched = False
    for entry in allowed:
        m, e = _matches(ep, entry)
        matched = matched or m
        exact = exact or e
    if not matched:
        raise ValidationFailed(
            f"the endpoint {ep.url} is not on the administrator's allow-list", field="endpoint"
        )
    if not exact:
        # An early, clear answer; the connection resolves and checks again for itself.
        addresses = resolve(ep.host, ep.port)
        if any(is_internal_address(a) for a in addresses):
            raise ValidationFailed(
                f"the endpoint {ep.url} resolves to an internal address; the administrator "
                "must allow-list this exact endpoint",
                field="endpoint",
            )
    return ep.url, exact


def check_endpoint(url: str, allow_list: Iterable[str]) -> str:
    """The normalised endpoint when allowed; ValidationFailed (field "endpoint") when not."""
    return endpoint_policy(url, allow_list)[0]


# ---------------------------------------------------------------------------------------
# Resolve once, check every address, connect to the checked address
# ---------------------------------------------------------------------------------------

#: Addresses ``connect_checked`` connected to (or tried) in this context, when someone
#: listens (the probe decides from them whether the remote's answer may be shown).
_CONNECTED: ContextVar[list[str] | None] = ContextVar("strongroom_net_connected", default=None)


def addresses_checked(host: str, port: int, *, allow_internal: bool) -> list[str]:
    """Resolve ``host`` ONCE and check every address: AddressRefused when any is internal
    and ``allow_internal`` is false; socket.gaierror when nothing resolves. The addresses
    in the resolver's order."""
    host = host.strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no address") from None
    if not allow_internal and any(is_internal_address(a) for a in addresses):
        raise AddressRefused(
            f"refused to connect to {host}: it resolves to an internal address "
            "(loopback, private, link-local...) that is not allow-listed"
        )
    return addresses


def connect_checked(
    host: str,
    port: int,
    *,
    allow_internal: bool,
    timeout: Any = None,
    source_address: tuple[str, int] | None = None,
    socket_options: Iterable[tuple[int, int, Any]] | None = None,
) -> socket.socket:
    """A TCP connection to one of the addresses ``host`` resolved to, each checked first:
    the name is never resolved a second time for connecting."""
    addresses = addresses_checked(host, port, allow_internal=allow_internal)
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)):
        timeout = socket.getdefaulttimeout()  # urllib3's "default timeout" sentinel
    listening = _CONNECTED.get()
    error: OSError | None = None
    for address in addresses:
        if listening is not None:
            listening.append(address)
        try:
            sock = socket.create_connection((address, port), timeout, source_address)
        except OSError as exc:
            error = exc
            continue
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
        except OSError:
            sock.close()
            raise
        return sock
    assert error is not None  # noqa: S101  (addresses is never empty)
    raise error


class _PinnedConnection:
    """Mixed into a urllib3 connection class: ``_new_conn`` goes through
    ``connect_checked``. A connection to the proxy needs the proxy's checked IP address
    (``proxy_pin``); TLS and Host use the name, as urllib3 does."""

    strongroom_allow_internal: bool = False

    def _new_conn(self) -> socket.socket:
        from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

        conn: Any = self
        host: str = conn._dns_host
        allow_internal = self.strongroom_allow_internal
        if getattr(conn, "proxy", None) is not None:
            try:
                ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                raise AddressRefused(
                    "refused to connect to a proxy that was not resolved and checked first"
                ) from None
            allow_internal = True  # checked by proxy_pin against the operator's list
        try:
            return connect_checked(
                host,
                conn.port,
                allow_internal=allow_internal,
                timeout=conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except socket.gaierror as exc:
            raise NameResolutionError(conn.host, conn, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc


@functools.cache
def _pinned_pool_class(pool: type, allow_internal: bool) -> type:
    base_conn = pool.ConnectionCls  # type: ignore[attr-defined]
    conn_cls = type(
        f"Pinned{base_conn.__name__}",
        (_PinnedConnection, base_conn),
        {"strongroom_allow_internal": allow_internal},
    )
    return type(f"Pinned{pool.__name__}", (pool,), {"ConnectionCls": conn_cls})


def pinned_pool_classes(pools: dict[str, type], *, allow_internal: bool) -> dict[str, type]:
    """urllib3 pool classes (``PoolManager.pool_classes_by_scheme``) whose connections
    resolve once, check, and connect to the checked address."""
    return {scheme: _pinned_pool_class(pool, allow_internal) for scheme, pool in pools.items()}


def pin_botocore_client(client: Any, *, allow_internal: bool) -> None:
    """Make every connection of a botocore client (and of its proxy managers) pinned. Fails
    closed when botocore's HTTP session is not laid out as expected (a new version)."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    pools = getattr(session, "_pool_classes_by_scheme", None)
    manager = getattr(session, "_manager", None)
    if not isinstance(pools, dict) or set(pools) != {"http", "https"} or manager is None:
        raise StoragePermanentError(
            "cannot pin S3 connections to checked addresses with this botocore version"
        )
    # URLLib3Session shares this dict with its pool manager and every proxy manager.
    pools.update(pinned_pool_classes(dict(pools), allow_internal=allow_internal))
    manager.pool_classes_by_scheme = pools


# ---------------------------------------------------------------------------------------
# The proxy host
# ---------------------------------------------------------------------------------------


def _proxy_key(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def proxy_internal_allowed() -> set[str]:
    """``host:port`` entries the operator allows as internal proxies
    (``STRONGROOM_PROXY_INTERNAL_ALLOWED``), normalised."""
    from django.conf import settings

    out: set[str] = set()
    for entry in getattr(settings, "STORAGE_PROXY_INTERNAL_ALLOWED", ()) or ():
        entry = str(entry).strip()
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        try:
            out.add(_proxy_key(check_host(host, field="proxy"), int(port)))
        except (ValidationFailed, ValueError):
            continue  # a malformed entry allows nothing (fail closed)
    return out


def check_proxy(host: str, port: int, *, field: str = "host") -> str:
    """Validate the admin's proxy host and resolve it once: the checked address to connect
    to. ValidationFailed for a malformed host; AddressRefused for an internal address the
    operator did not allow; NameNotResolved when the name does not resolve."""
    name = check_host(host, field=field)
    allowed = _proxy_key(name, int(port)) in proxy_internal_allowed()
    try:
        addresses = addresses_checked(name, int(port), allow_internal=allowed)
    except socket.gaierror:
        raise NameNotResolved(f"DNS lookup failed for the proxy {name}") from None
    except AddressRefused:
        raise AddressRefused(
            f"the proxy {_proxy_key(name, int(port))} is an internal address (loopback, "
            "private, link-local...); an operator must allow it with "
            "STRONGROOM_PROXY_INTERNAL_ALLOWED"
        ) from None
    return addresses[0]


def proxy_pin(proxy: ProxyConfig) -> ProxyConfig:
    """The proxy with its checked address: its URL names the address, never the name again
    (see ``check_proxy``)."""
    try:
        address = check_proxy(proxy.host, proxy.port)
    except ValidationFailed:  # stored before hosts were checked
        raise AddressRefused(f"the proxy host {proxy.host!r} is not valid") from None
    return replace(proxy, address=address)


# ---------------------------------------------------------------------------------------
# Probe ("Test connection")
# ---------------------------------------------------------------------------------------

#: What the probe says about a target whose answers must not be echoed (internal, or not
#: known to be public): the stage and these fixed words only.
FIXED_MESSAGES = {
    "ok": "the service answered",
    "http": "the service answered with an error",
    "dns": "DNS lookup failed",
    "tls": "TLS handshake failed",
    "connect": "could not connect",
    "timeout": "no answer in time",
    "proxy": "the proxy could not reach the service",
    "refused": "not contacted: the address is internal and not allow-listed",
}


@contextlib.contextmanager
def _recording_connections() -> Iterator[list[str]]:
    seen: list[str] = []
    token = _CONNECTED.set(seen)
    try:
        yield seen
    finally:
        _CONNECTED.reset(token)


def _target_is_public(host: str, port: int) -> bool:
    """Through a proxy: does the target resolve, here, to public addresses only?"""
    addresses = resolve(host, port)
    return bool(addresses) and not any(is_internal_address(a) for a in addresses)


def probe(
    provider: str,
    url: str,
    *,
    proxy: ProxyConfig | None,
    timeout: float = 10.0,
    ok_statuses: Iterable[int] = range(200, 500),
    ca_certs: str | None = None,
    allow_internal: bool = False,
) -> TestResult:
    """One GET of ``url`` (through ``proxy`` when set, redirects not followed) and a
    diagnosis: refused / dns / proxy / tls / connect / timeout / http / ok. Any HTTP answer
    in ``ok_statuses`` (by default anything but 5xx: an unauthenticated API answers 4xx)
    means the service is reachable. A direct connection is pinned (``connect_checked``):
    internal addresses only when ``allow_internal`` (an exact allow-list entry, or a host
    the operator configured). The remote's status and error text are reported only when
    the target was reached at public addresses; otherwise the stage and a fixed message."""
    import urllib3
    from urllib3 import exceptions as u3e

    via = proxy.display() if proxy else ""
    target = url
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    kwargs: dict[str, Any] = {
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,
    }
    if ca_certs:
        kwargs["ca_certs"] = ca_certs
    manager: urllib3.PoolManager
    if proxy is not None:
        headers = None
        if proxy.username:
            headers = urllib3.make_headers(proxy_basic_auth=f"{proxy.username}:{proxy.password}")
        manager = urllib3.ProxyManager(proxy.url(with_auth=False), proxy_headers=headers, **kwargs)
    else:
        manager = urllib3.PoolManager(**kwargs)
    manager.pool_classes_by_scheme = pinned_pool_classes(
        dict(manager.pool_classes_by_scheme), allow_internal=allow_internal
    )

    reveal = False

    def result(
        ok: bool, stage: str, message: str, status: int | None = None, *, remote: bool = True
    ) -> TestResult:
        """``remote``: the message or status comes from the target (or the path to it)."""
        if remote and not reveal:
            message, status = FIXED_MESSAGES.get(stage, "failed"), None
        return TestResult(ok, provider, stage, message, target=target, via_proxy=via, status=status)

    with _recording_connections() as connected:
        try:
            resp = manager.request("GET", url, redirect=False, preload_content=True)
        except AddressRefused:
            return result(False, "refused", FIXED_MESSAGES["refused"], remote=False)
        except u3e.ProxyError as exc:
            reveal = _target_is_public(host, port)
            return _proxy_result(exc, via, result)
        except u3e.NameResolutionError:
            return result(False, "dns", f"DNS lookup failed for {host}", remote=False)
        except u3e.SSLError as exc:
            reveal = _reached_public(connected, proxy, host, port)
            return result(False, "tls", f"TLS handshake failed: {_reason(exc)}")
        except u3e.NewConnectionError as exc:  # (a subclass of ConnectTimeoutError)
            reveal = _reached_public(connected, proxy, host, port)
            return result(False, "connect", f"connection refused or unreachable: {_reason(exc)}")
        except (u3e.ConnectTimeoutError, u3e.ReadTimeoutError):
            return result(False, "timeout", f"no answer within {timeout:g} s", remote=False)
        except u3e.HTTPError as exc:
            reveal = _reached_public(connected, proxy, host, port)
            return result(False, "connect", f"request failed: {_reason(exc)}")
        finally:
            manager.clear()
    if proxy is not None and resp.status == 407:
        return result(
            False, "proxy", f"the proxy {via} refused the credentials (HTTP 407)", 407, remote=False
        )
    reveal = _reached_public(connected, proxy, host, port)
    if resp.status in set(ok_statuses):
        return result(True, "ok", f"the service answered (HTTP {resp.status})", resp.status)
    return result(False, "http", f"the service answered HTTP {resp.status}", resp.status)


def _reached_public(connected: list[str], proxy: ProxyConfig | None, host: str, port: int) -> bool:
    if proxy is not None:
        return _target_is_public(host, port)
    return bool(connected) and not any(is_internal_address(a) for a in connected)


def _proxy_result(exc: BaseException, via: str, result: Any) -> TestResult:
    text = str(exc)
    if "407" in text:
        return result(
            False, "proxy", f"the proxy {via} refused the credentials (HTTP 407)", remote=False
        )
    original = getattr(exc, "original_error", None)
    if isinstance(original, u3_name_error()):
        return result(False, "proxy", f"DNS lookup failed for the proxy {via}", remote=False)
    if "Tunnel connection failed" in text:
        # The proxy's answer about the target: shown only for a public target.
        return result(
            False,
            "proxy",
            f"the proxy {via} refused the connection: {text.split(':', 1)[-1].strip()[:120]}",
        )
    return result(False, "proxy", f"could not connect to the proxy {via}", remote=False)


# TLS failures that mean the connection was cut after the handshake (a reset mid-upload,
# a proxy or load balancer dropping the stream): worth retrying, unlike a certificate that
# does not verify or a handshake that cannot succeed.
_TLS_CUT_TYPES = (
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    ssl.SSLSyscallError,
    ConnectionResetError,
    BrokenPipeError,
)
_TLS_CUT_REASONS = ("EOF", "BAD_RECORD_MAC", "DECRYPTION_FAILED", "RECORD_LAYER_FAILURE")


def exception_chain(exc: BaseException) -> Iterable[BaseException]:
    """The exception and what it wraps: __cause__/__context__, urllib3's ``reason``, and
    requests' habit of wrapping the urllib3 error as its first argument."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        todo.extend(e for e in linked if isinstance(e, BaseException))


def tls_connection_cut(exc: BaseException) -> bool:
    """True when a TLS error means the connection broke mid-stream (transient), False when
    the handshake or certificate verification failed (permanent until someone fixes it)."""
    chain = list(exception_chain(exc))
    if any(isinstance(e, ssl.CertificateError) for e in chain):
        return False
    for e in chain:
        if isinstance(e, _TLS_CUT_TYPES):
            return True
        if isinstance(e, ssl.SSLError) and any(r in (e.reason or "") for r in _TLS_CUT_REASONS):
            return True
    return False


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    if isinstance(inner, ssl.SSLError) and inner.reason:
        text = inner.reason
    return text[:200]


def u3_name_error() -> type[BaseException]:
    from urllib3.exceptions import NameResolutionError

    return NameResolutionError
