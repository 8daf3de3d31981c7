"""The provider kit's HTTP half: one guarded ``requests`` session factory, one CA rule, one
``retry_after()`` and one classifier of transport errors. Every HTTP provider builds its
session here and copies none of it.

- ``guarded_session(origins, proxy=..., timeout=...)``: ``trust_env=False`` (the machine's
  ``HTTPS_PROXY``/``REQUESTS_CA_BUNDLE`` are not ours), the admin's proxy (credentials in its
  URL, host already pinned by ``net.proxy_pin``), ``verify=ca_bundle()``, a default timeout,
  and a send guard: a request to an origin (scheme://host:port) outside ``origins`` is refused
  before it is sent. Redirects are never followed to another origin; with
  ``follow_redirects=False`` (the default) no redirect is followed at all.
- CA rule (one for every provider): ``settings.PROVIDER_CA_BUNDLE`` ADDS to certifi's store
  (a TLS-inspecting proxy's CA, the tests' stand-ins); it never replaces it. Empty: certifi.
- ``retry_after(value)``: seconds (``"7"``, ``7``) or an HTTP-date, from a value or from a
  headers mapping; ``None`` when absent or unreadable; never negative.
- ``transport_error(exc, service)``: requests/urllib3/socket failures as typed errors whose
  messages name the service and never a URL, token or header.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strongroom.storage.base import (
    ProxyConfig,
    StorageError,
    StoragePermanentError,
    StorageTransientError,
)


class RefusedRequest(StoragePermanentError):
    """A request to an origin the provider may not reach, or a redirect: refused unsent."""


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower case, default ports written out."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return ""
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


class Origins:
    """The origins a provider may send requests to (its API, upload, token hosts)."""

    def __init__(self, urls: Iterable[str], *, service: str) -> None:
        self.allowed = frozenset(origin(u) for u in urls if u)
        self.service = service

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and origin(url) in self.allowed

    def check(self, url: str) -> None:
        if url not in self:
            raise RefusedRequest(f"refused a request to a host other than {self.service}'s")


_CA_LOCK = threading.Lock()


def ca_bundle() -> str | bool:
    """``verify`` for requests: certifi's store plus ``settings.PROVIDER_CA_BUNDLE`` (a
    combined file, cached by content digest), or True (certifi alone)."""
    path = ca_file()
    return path if path is not None else True


def ca_file() -> str | None:
    """The combined CA file when the operator set ``PROVIDER_CA_BUNDLE``, else None."""
    from django.conf import settings

    bundle = settings.PROVIDER_CA_BUNDLE
    if not bundle:
        return None
    import certifi

    extra = Path(bundle).read_bytes()
    digest = hashlib.sha256(extra).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"strongroom-ca-{digest}.pem"
    with _CA_LOCK:
        if not target.exists():
            tmp = target.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + extra)
            tmp.replace(target)
    return str(target)


def guarded_session(
    origins: Origins,
    *,
    proxy: ProxyConfig | None,
    timeout: float,
    follow_redirects: bool = False,
) -> Any:
    """A ``requests.Session`` that reaches ``origins`` only (see the module docstring)."""
    import requests

    class GuardedSession(requests.Session):
        def send(self, request: Any, **kwargs: Any) -> Any:
            origins.check(str(request.url))
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            if not follow_redirects:
                kwargs["allow_redirects"] = False
            response = super().send(request, **kwargs)
            if not follow_redirects and response.is_redirect:
                response.close()
                raise RefusedRequest(f"refused to follow a redirect from {origins.service}")
            return response

        def get_redirect_target(self, resp: Any) -> str | None:
            target = super().get_redirect_target(resp)
            if target and urlsplit(target).netloc and target not in origins:
                raise RefusedRequest(f"refused a redirect to a host other than {origins.service}'s")
            return target

    session = GuardedSession()
    session.trust_env = False
    session.verify = ca_bundle()
    if proxy is not None:
        session.proxies = {"http": proxy.url(), "https": proxy.url()}
    return session


def retry_after(value: Any, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), or from a
    headers mapping holding one (any case); None when absent or unreadable."""
    if isinstance(value, Mapping):
        value = next((v for k, v in value.items() if str(k).lower() == "retry-after"), None)
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def transport_error(exc: BaseException, service: str) -> StorageError | None:
    """A requests/urllib3/socket failure as a typed error; None when ``exc`` is not one."""
    import requests

    from strongroom.storage import net

    for inner in net.exception_chain(exc):
        if isinstance(inner, StorageError):
            return inner
    if isinstance(exc, requests.exceptions.SSLError):
        if net.tls_connection_cut(exc):
            return StorageTransientError(f"the TLS connection to {service} was cut")
        return StoragePermanentError(f"{service} unreachable: TLS verification failed")
    if isinstance(exc, requests.exceptions.ProxyError):
        return StorageTransientError(f"{service} unreachable: the proxy refused the connection")
    if isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
        return StorageTransientError(f"{service} unreachable: the request timed out")
    if isinstance(exc, (requests.exceptions.RequestException, ConnectionError)):
        return StorageTransientError(f"the connection to {service} was reset")
    return None


def edge_error(exc: BaseException, service: str, message: str) -> StorageError:
    """What a provider raises for an SDK or transport exception at its edge: the typed
    ``transport_error`` when it is one, else ``StoragePermanentError(message)``."""
    return transport_error(exc, service) or StoragePermanentError(message)


@contextlib.contextmanager
def at_edge(service: str, failure: str) -> Iterator[None]:
    """Runs a block of SDK or transport calls: a StorageError passes as it is, any other
    exception becomes ``edge_error(exc, service, "<failure> (<exception type>)")``."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001  any SDK or transport error, classified at the edge
        raise edge_error(exc, service, f"{failure} ({type(exc).__name__})") from None


def unavailable(status: int, service: str, *, headers: Any = None) -> StorageTransientError:
    """429 or 5xx: transient, waiting what the Retry-After said (when it said)."""
    wait = retry_after(headers)
    state = "rate limiting" if status == 429 else "unavailable"
    message = f"{service} is {state} (HTTP {status})"
    if wait is not None:
        message += f"; retry after {wait:g} s"
    return StorageTransientError(message, retry_after=wait)


def status_error(
    status: int, service: str, *, headers: Any = None, code: str = ""
) -> StorageError | None:
    """The shared reading of an HTTP status: 407 (proxy), 429/5xx (transient, with the
    Retry-After), 403 (permission). None for statuses a provider reads itself."""
    from strongroom.storage.base import StoragePermissionError

    if status == 407:
        return StoragePermanentError("the proxy refused the credentials (HTTP 407)")
    if status == 429 or status >= 500:
        return unavailable(status, service, headers=headers)
    if status == 403:
        return StoragePermissionError(
            f"{service} denied access (HTTP 403)" + (f" ({code})" if code else "")
        )
    return None
