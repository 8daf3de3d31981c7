"""Middleware of our own: health probes, the plain-http redirect, security headers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect

# One policy for every page, the API docs page (Swagger UI, served locally) included.
_CSP_DEFAULT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


def _probe_response(body: Mapping[str, object], status: int) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class HealthProbeMiddleware:
    """Answers /healthz and /readyz (see core/health.py) before any other middleware runs:
    no session, login, CSRF, Host-header check or https redirect stands in a probe's way."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path not in HEALTH_PATHS:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = _probe_response({"status": "method not allowed"}, 405)
            response.headers["Allow"] = "GET, HEAD"
            return response
        if request.path == "/healthz":
            return _probe_response({"status": "ok"}, 200)
        from strongroom.core import health

        ready, checks = health.readiness()
        body = {
            "status": "ok" if ready else "unavailable",
            "checks": {name: probe.as_dict() for name, probe in checks.items()},
        }
        return _probe_response(body, 200 if ready else 503)


class PlainHttpRedirectMiddleware:
    """In production mode behind a TLS-terminating balancer, a request the balancer marks
    as plain http (``X-Forwarded-Proto: http``) is redirected to the https public URL.

    Requests without the header (a client on the node's own address) are left alone, and so
    are the health probes (answered before this middleware). The target is built from
    STRONGROOM_PUBLIC_URL, never from the request's Host header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.enabled = settings.PRODUCTION and settings.PUBLIC_URL.startswith("https://")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.enabled:
            proto = request.META.get("HTTP_X_FORWARDED_PROTO", "")
            if proto.split(",")[0].strip().lower() == "http":
                # 308 for anything but GET/HEAD: it keeps the method and body.
                return HttpResponsePermanentRedirect(
                    settings.PUBLIC_URL + request.get_full_path(),
                    preserve_request=request.method not in ("GET", "HEAD"),
                )
        return self.get_response(request)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", _CSP_DEFAULT)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        if request.path.startswith("/api/"):
            # API responses may carry secrets; nothing of them belongs in a cache.
            response.headers["Cache-Control"] = "no-store"
        return response
