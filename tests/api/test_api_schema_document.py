"""The OpenAPI document Swagger UI, schemathesis and client generators read: every schema
name means one class, and no key appears twice in a JSON object (Swagger UI refuses such a
document: "duplicated mapping key"; a lenient JSON parser silently keeps the last one)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from ninja import Schema

from strongroom.api.main import api as ninja_api

pytestmark = pytest.mark.django_db


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicated, f"duplicated keys {duplicated} in an object with keys {keys[:12]}"
    return dict(pairs)


def test_the_served_document_has_no_key_twice():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content, object_pairs_hook=_no_duplicate_keys)
    download = document["paths"][
        "/api/v1/accounts/{account_id}/attachments/{attachment_id}/download"
    ]
    assert "application/octet-stream" in download["post"]["responses"]["200"]["content"]


def _schemas_in_use() -> set[type[Schema]]:
    """Every Schema class an operation of the API reads or answers with, and their parts."""
    ninja_api.get_openapi_schema()  # imports every router
    found: set[type[Schema]] = set()

    def visit(cls: Any) -> None:
        if isinstance(cls, type) and issubclass(cls, Schema) and cls not in found:
            found.add(cls)
            for field in cls.model_fields.values():
                for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
                    visit(arg)
                    for inner in getattr(arg, "__args__", ()):
                        visit(inner)

    for router in ninja_api._routers:
        for path_view in router[1].path_operations.values():
            for operation in path_view.operations:
                for model in operation.models:
                    for field in model.model_fields.values():
                        visit(field.annotation)
                for response in operation.response_models.values():
                    for field in getattr(response, "model_fields", {}).values():
                        visit(field.annotation)
                        for arg in getattr(field.annotation, "__args__", ()):
                            visit(arg)
    return found


def test_each_schema_name_is_one_class():
    """Two classes with one name become one entry under components/schemas: the operations
    of one of them are then documented with the other's fields (found by schemathesis when
    the health report's PolicyOut and AccountOut shadowed the export policy's and the
    vault's)."""
    by_name: dict[str, set[str]] = {}
    for cls in _schemas_in_use():
        by_name.setdefault(cls.__name__, set()).add(f"{cls.__module__}.{cls.__qualname__}")
    assert len(by_name) > 50
    clashes = {name: sorted(where) for name, where in by_name.items() if len(where) > 1}
    assert clashes == {}
