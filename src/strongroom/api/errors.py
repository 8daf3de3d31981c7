"""One JSON error shape for every API failure, outages and bugs included.

The shape (documented in the OpenAPI schema as ``Error``)::

    {"error": {"code": "not_found", "message": "...", "details": {...}}}

Typed application errors carry their own code and status. What is left is classified here:
a database or queue that cannot be reached is a 503 the client may retry; anything else is
a 500 with a fixed message (the traceback goes to the log, never to the client).

``server_error`` and friends are Django's handler500/404/400/403 (config/urls.py): they
answer for failures outside the API's own views (a middleware that needs the database, an
unknown /api/ path, a refused Host header) in the same shape under /api/, and with the
web pages everywhere else.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views import defaults

from strongroom.core.errors import AppError, ErrorCode

API_PREFIX = "/api/"

# Codes of the errors this module produces (documented in docs/operations.md).
DATABASE_UNAVAILABLE = ErrorCode.DATABASE_UNAVAILABLE
QUEUE_UNAVAILABLE = ErrorCode.QUEUE_UNAVAILABLE
INTERNAL = ErrorCode.INTERNAL


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _is_queue_outage(exc: BaseException) -> bool:
    try:
        import redis
    except ImportError:  # pragma: no cover (redis is a runtime dependency)
        return False
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)


def classify(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and body an exception that escaped a view deserves."""
    if isinstance(exc, AppError):
        return exc.status, exc.as_dict()
    if isinstance(exc, MultiPartParserError | SuspiciousOperation):
        # A body Django refuses to parse (a multipart type without a boundary, too many
        # fields, too large): the client's fault, as Django itself would answer.
        return 400, error_body(ErrorCode.BAD_REQUEST, "the request body cannot be read")
    if isinstance(exc, OperationalError | InterfaceError):
        # Connection refused, server gone, too many clients: a retry may well succeed.
        return 503, error_body(
            DATABASE_UNAVAILABLE, "the database cannot be reached; try again shortly"
        )
    if _is_queue_outage(exc):
        return 503, error_body(
            QUEUE_UNAVAILABLE, "the task queue cannot be reached; try again shortly"
        )
    return 500, error_body(INTERNAL, "an internal error occurred; it was logged")


def json_error(status: int, body: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body), status=status, content_type="application/json; charset=utf-8"
    )
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    if not is_api(request):
        return defaults.server_error(request, template_name=template_name)
    # Django calls handler500 inside its ``except`` block: the exception is at hand.
    exc = sys.exc_info()[1]
    status, body = classify(exc) if exc is not None else (500, None)
    return json_error(status, body or error_body(INTERNAL, "an internal error occurred"))


def page_not_found(
    request: HttpRequest, exception: Exception, template_name: str = "404.html"
) -> HttpResponse:
    if not is_api(request):
        return defaults.page_not_found(request, exception, template_name=template_name)
    return json_error(404, error_body(ErrorCode.NOT_FOUND, "not found"))


def bad_request(
    request: HttpRequest, exception: Exception, template_name: str = "400.html"
) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception, template_name=template_name)
    return json_error(400, error_body(ErrorCode.BAD_REQUEST, "the request was refused"))


def permission_denied(
    request: HttpRequest, exception: Exception, template_name: str = "403.html"
) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception, template_name=template_name)
    return json_error(403, error_body(ErrorCode.FORBIDDEN, "permission denied"))
