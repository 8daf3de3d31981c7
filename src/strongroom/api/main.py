"""The REST API at /api/v1/: one NinjaAPI, one JSON error shape for every failure.

Error shape (``Error`` in the OpenAPI schema, documented for every operation)::

    {"error": {"code": "not_found", "message": "...", "details": {...}}}

Outages (database, Redis) and bugs get the same shape (see api/errors.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger, _csrf_needed
from ninja.parser import Parser

from strongroom.api import errors, scopes
from strongroom.api.auth import api_auth
from strongroom.core.errors import AppError

logger = logging.getLogger(__name__)

_ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "for people"},
                "details": {
                    "type": "object",
                    "description": "structured context (a field name, a row number)",
                },
            },
        }
    },
}

# Answers any operation may give besides its documented successes.
ERROR_RESPONSES: dict[int, str] = {
    400: "The request was refused by a rule of the service (see the error's code).",
    401: "No valid API token or signed-in session.",
    403: "Not allowed for this user or token.",
    404: "Not found, or not visible to this user.",
    409: "Conflicts with the current state.",
    422: "The request does not match this operation's schema (fields name the problems).",
    429: "Too many attempts; try again later.",
    500: "An internal error; it was logged.",
    503: "The database, the task queue or the audit trail is unavailable; retry later.",
}


class StrongroomAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_errors(schema)
        scopes.openapi_document(schema)
        return schema


def document_errors(schema: dict[str, Any]) -> None:
    """Add the error shape and the error answers to every operation of ``schema``."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            _no_null_body(operation)
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(str(status), {"description": description, **ref})


class BodyNotAnObject(ValueError):
    pass


class ObjectBodyParser(Parser):
    """Every JSON request body of this API is an object. ninja's schemas read attributes of
    whatever they are given, so ``[null, null]``, ``"x"`` or ``null`` validated as an empty
    object (every field at its default) and, for example, reset a password; refuse them."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise BodyNotAnObject(f"the request body must be a JSON object, not {_json_type(data)}")
        return data


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


def _no_null_body(operation: dict[str, Any]) -> None:
    """An optional body (``payload: X | None = None``) is documented by pydantic as "X or
    null"; the API means "X, or no body at all" (``required: false``) and refuses ``null``
    (ObjectBodyParser below), so the schema says that."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return
    any_of = content.get("schema", {}).get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [item for item in any_of if item != {"type": "null"}]
        content["schema"] = rest[0] if len(rest) == 1 else {"anyOf": rest}


class SwaggerPage(Swagger):
    """The API's documentation page (/api/v1/docs) from ninja's own template and the
    Swagger UI files it ships, served by this installation (never a CDN).

    ninja is not in INSTALLED_APPS (as an app it would be imported, with pydantic, by every
    process at start-up, the CLI's one-shot commands included: a quarter of their start-up
    time); settings.py adds its template and static folders instead. ninja's own page
    chooses between that template and a CDN copy by whether "ninja" is an installed app,
    so this renders the template always."""

    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            "swagger_settings": json.dumps(self.settings, indent=1),
            "api": api,
            "add_csrf": _csrf_needed(api),
        }
        return render(request, self.template, context)


api = StrongroomAPI(
    title="Strongroom API",
    version="1",
    description="Team password vault. Authenticate with `Authorization: Bearer <API token>`.",
    auth=api_auth,
    urls_namespace="api-v1",
    parser=ObjectBodyParser(),
    docs=SwaggerPage(),
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
    if isinstance(exc.__cause__, BodyNotAnObject):
        return _error(request, 422, "invalid", str(exc.__cause__))
    return _error(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Outages and bugs: the same JSON shape, whatever DEBUG says (never a traceback)."""
    status, body = errors.classify(exc)
    if status >= 500:
        logger.error(
            "API %s %s failed: %s (%s)",
            request.method,
            request.path,
            body["error"]["code"],
            type(exc).__name__,
            exc_info=status == 500,
        )
    return errors.json_error(status, body)


def _register() -> None:
    from strongroom.accounts.api import router as accounts_router
    from strongroom.accounts.settings_api import router as settings_router
    from strongroom.audit.api import router as audit_router
    from strongroom.directory.api import router as directory_router
    from strongroom.exports.api import router as exports_router
    from strongroom.exposure.api import router as exposure_router
    from strongroom.health.api import router as health_router
    from strongroom.notifications.api import router as notifications_router
    from strongroom.sso.api import router as sso_router
    from strongroom.storage.api import router as storage_router
    from strongroom.sync.api import router as sync_router
    from strongroom.vault.api import router as vault_router

    api.add_router("/", accounts_router)
    api.add_router("/", vault_router)
    api.add_router("/", audit_router)
    api.add_router("/", settings_router)
    api.add_router("/", notifications_router)
    api.add_router("/", exports_router)
    api.add_router("/", exposure_router)
    api.add_router("/", health_router)
    api.add_router("/", storage_router)
    api.add_router("/", sync_router)
    api.add_router("/", directory_router)
    api.add_router("/", sso_router)


_register()
