"""The REST API at /api/v1/: one NinjaAPI, one JSON error shape for every failure.

Error shape::

    {"error": {"code": "not_found", "message": "...", "details": {...}}}
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from strongroom.api import scopes
from strongroom.api.auth import api_auth
from strongroom.core.errors import AppError

logger = logging.getLogger(__name__)


class StrongroomAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        scopes.openapi_document(schema)
        return schema


api = StrongroomAPI(
    title="Strongroom API",
    version="1",
    description="Team password vault. Authenticate with `Authorization: Bearer <API token>`.",
    auth=api_auth,
    urls_namespace="api-v1",
)


def _error(
    request: HttpRequest, status: int, code: str, message: str, **details: object
) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, "details": details}}, status=status
    )


@api.exception_handler(AppError)
def _app_error(request: HttpRequest, exc: AppError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields = [
        {"field": ".".join(str(p) for p in err.get("loc", [])[1:]), "problem": err.get("msg", "")}
        for err in exc.errors
    ]
    return _error(request, 422, "invalid", "the request is not valid", fields=fields)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = str(exc)
    if not message or message == "Unauthorized":
        message = "a valid API token or signed-in session is required"
    return _error(request, 401, "unauthenticated", message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", "not found")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, "http_error", str(exc))


def _register() -> None:
    from strongroom.accounts.api import router as accounts_router
    from strongroom.audit.api import router as audit_router
    from strongroom.core.api import router as core_router
    from strongroom.exports.api import router as exports_router
    from strongroom.notifications.api import router as notifications_router
    from strongroom.storage.api import router as storage_router
    from strongroom.sync.api import router as sync_router
    from strongroom.vault.api import router as vault_router

    api.add_router("/", accounts_router)
    api.add_router("/", vault_router)
    api.add_router("/", audit_router)
    api.add_router("/", core_router)
    api.add_router("/", notifications_router)
    api.add_router("/", exports_router)
    api.add_router("/", storage_router)
    api.add_router("/", sync_router)


_register()
