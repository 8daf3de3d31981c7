"""Outbound network rules for providers: the SSRF endpoint guard and the admin's
"Test connection" probe (through the proxy, saying what failed).

Endpoint guard: a user-supplied S3-compatible endpoint must be on the admin's allow-list.
Allow-list entries are exact endpoints (``https://minio.example.com:9000``) or host
wildcards (``https://*.r2.cloudflarestorage.com``). An endpoint whose host is, or resolves
to, a loopback, link-local (169.254.169.254), private, reserved or unspecified address is
refused unless that *exact* endpoint is on the allow-list. Redirects are never followed
(providers also refuse at send time any request to a host other than the endpoint's).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from strongroom.core.errors import ValidationFailed
from strongroom.storage.base import ProxyConfig, TestResult


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
    host = parts.hostname.lower().rstrip(".")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, host, port)


def normalize_endpoint(url: str) -> str:
    return parse_endpoint(url).url


def normalize_allow_list(entries: Iterable[str]) -> list[str]:
    """Validate the admin's allow-list; entries may use a ``*.`` host wildcard."""
    out: list[str] = []
    for entry in entries:
        entry = (entry or "").strip()
        if not entry:
            continue
        wildcard = "://*." in entry
        probe = entry.replace("://*.", "://wildcard.") if wildcard else entry
        ep = parse_endpoint(probe, field="endpoints")
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


def is_internal_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_multicast
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
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


def check_endpoint(url: str, allow_list: Iterable[str]) -> str:
    """The normalised endpoint when allowed; ValidationFailed (field "endpoint") when not."""
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
        addresses = resolve(ep.host, ep.port)
        if any(is_internal_address(a) for a in addresses):
            raise ValidationFailed(
                f"the endpoint {ep.url} resolves to an internal address; the administrator "
                "must allow-list this exact endpoint",
                field="endpoint",
            )
    return ep.url


def same_origin(request_url: str, endpoint_url: str) -> bool:
    a = urlsplit(request_url)
    b = parse_endpoint(endpoint_url)
    a_port = a.port or (443 if a.scheme == "https" else 80)
    return a.scheme == b.scheme and (a.hostname or "").lower() == b.host and a_port == b.port


# ---------------------------------------------------------------------------------------
# Probe ("Test connection")
# ---------------------------------------------------------------------------------------


def probe(
    provider: str,
    url: str,
    *,
    proxy: ProxyConfig | None,
    timeout: float = 10.0,
    ok_statuses: Iterable[int] = range(200, 500),
    ca_certs: str | None = None,
) -> TestResult:
    """One GET of ``url`` (through ``proxy`` when set, redirects not followed) and a
    diagnosis: dns / proxy / tls / connect / timeout / http / ok. Any HTTP answer in
    ``ok_statuses`` (by default anything but 5xx: an unauthenticated API answers 4xx) means
    the service is reachable."""
    import urllib3
    from urllib3 import exceptions as u3e

    via = proxy.display() if proxy else ""
    target = url
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

    def result(ok: bool, stage: str, message: str, status: int | None = None) -> TestResult:
        return TestResult(ok, provider, stage, message, target=target, via_proxy=via, status=status)

    try:
        resp = manager.request("GET", url, redirect=False, preload_content=True)
    except u3e.ProxyError as exc:
        return result(False, "proxy", _proxy_message(exc, via))
    except u3e.NameResolutionError:
        return result(False, "dns", f"DNS lookup failed for {urlsplit(url).hostname}")
    except u3e.SSLError as exc:
        return result(False, "tls", f"TLS handshake failed: {_reason(exc)}")
    except u3e.NewConnectionError as exc:  # (a subclass of ConnectTimeoutError)
        return result(False, "connect", f"connection refused or unreachable: {_reason(exc)}")
    except (u3e.ConnectTimeoutError, u3e.ReadTimeoutError):
        return result(False, "timeout", f"no answer within {timeout:g} s")
    except u3e.HTTPError as exc:
        return result(False, "connect", f"request failed: {_reason(exc)}")
    finally:
        manager.clear()
    if proxy is not None and resp.status == 407:
        return result(False, "proxy", f"the proxy {via} refused the credentials (HTTP 407)", 407)
    if resp.status in set(ok_statuses):
        return result(True, "ok", f"the service answered (HTTP {resp.status})", resp.status)
    return result(False, "http", f"the service answered HTTP {resp.status}", resp.status)


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


def _exception_chain(exc: BaseException) -> Iterable[BaseException]:
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
    chain = list(_exception_chain(exc))
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


def _proxy_message(exc: BaseException, via: str) -> str:
    text = str(exc)
    if "407" in text:
        return f"the proxy {via} refused the credentials (HTTP 407)"
    original = getattr(exc, "original_error", None)
    if isinstance(original, u3_name_error()):
        return f"DNS lookup failed for the proxy {via}"
    if "Tunnel connection failed" in text:
        return f"the proxy {via} refused the connection: {text.split(':', 1)[-1].strip()[:120]}"
    return f"could not connect to the proxy {via}"


def u3_name_error() -> type[BaseException]:
    from urllib3.exceptions import NameResolutionError

    return NameResolutionError
