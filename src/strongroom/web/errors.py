"""The one web error seam: a typed service error on a form, or as JSON for a page script.

Pages show an :class:`~strongroom.core.errors.AppError` on the form field it names (or above
the form) with :func:`form_error`. Page-script endpoints answer errors in the API's one
shape (``api/errors.py``)::

    {"error": {"code": "...", "message": "...", "details": {...}}}

with field-level problems always in ``details.fields`` as a list of
``{"field": <form field name>, "problem": <sentence>}``, like the API's 422 answer
(:func:`error_json`, :func:`form_errors_json`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, JsonResponse

from strongroom.core.errors import AppError, Throttled
from strongroom.web.helpers import sentence, throttle_message


def _message(exc: AppError) -> str:
    """The sentence a page shows for ``exc``: its ``problems`` joined, or its message."""
    if isinstance(exc, Throttled):
        return throttle_message(exc)
    problems = exc.details.get("problems")
    if isinstance(problems, list) and problems:
        return " ".join(sentence(str(problem)) for problem in problems)
    return sentence(exc.message)


def _form_field(name: Any, form_fields: Any, fields: dict[str, str] | None) -> str | None:
    """The form field a service's field name means: mapped through ``fields``, else itself,
    else its head (``custom_fields.x`` or ``custom_fields[0]`` -> ``custom_fields``)."""
    if not isinstance(name, str):
        return None
    name = (fields or {}).get(name, name)
    if name in form_fields:
        return name
    head = name.split(".", 1)[0].split("[", 1)[0]
    return head if head in form_fields else None


def field_problems(exc: AppError, *, fields: dict[str, str] | None = None) -> list[dict[str, str]]:
    """``exc``'s field-level problems as ``[{"field", "problem"}]`` (service field names,
    mapped through ``fields``): its ``details.fields`` list, or its single ``details.field``."""
    problems = exc.details.get("fields")
    if isinstance(problems, list):
        return [
            {
                "field": (fields or {}).get(str(p.get("field")), str(p.get("field"))),
                "problem": sentence(str(p.get("problem", ""))),
            }
            for p in problems
            if isinstance(p, dict) and p.get("field")
        ]
    field = exc.details.get("field")
    if isinstance(field, str) and not isinstance(exc, Throttled):
        return [{"field": (fields or {}).get(field, field), "problem": _message(exc)}]
    return []


def form_error(
    form: forms.Form,
    exc: AppError,
    *,
    fields: dict[str, str] | None = None,
    verbatim: bool = False,
) -> None:
    """Show a service error on the form: each problem on the field it names when the form has
    that field, otherwise above the form. ``fields`` maps service field names to form ones.

    Messages become sentences (capitalised, full stop); ``verbatim=True`` shows a single
    field's or the form's message exactly as the service wrote it (the vault pages, whose
    messages quote field names such as ``resource_name is required``)."""
    placed = False
    for problem in field_problems(exc, fields=fields):
        target = _form_field(problem["field"], form.fields, None)
        if target is not None:
            text = exc.message if verbatim and "fields" not in exc.details else problem["problem"]
            form.add_error(target, text)
            placed = True
    if not placed:
        form.add_error(None, exc.message if verbatim else _message(exc))


def error_json(exc: AppError, *, fields: dict[str, str] | None = None) -> JsonResponse:
    """``exc`` exactly as the API answers it (``exc.as_dict()``: the service's message as
    is, which page scripts capitalise), plus ``details.fields`` as a list when the error
    names fields."""
    body = exc.as_dict()
    problems = field_problems(exc, fields=fields)
    if problems:
        body["error"]["details"] = {**exc.details, "fields": problems}
    return JsonResponse(body, status=exc.status)


def form_errors_json(form: forms.Form, *, status: int = 400, code: str = "invalid") -> JsonResponse:
    """A bound, invalid form in the API's shape: the message is the non-field errors, or
    ``Label: first problem`` per field; every problem is listed in ``details.fields``
    (non-field errors under ``__all__``)."""
    problems = [
        {"field": name, "problem": str(message)}
        for name, messages in form.errors.items()
        for message in messages
    ]
    texts = [str(e) for e in form.non_field_errors()]
    if not texts:
        texts = [
            f"{form.fields[name].label}: {messages[0]}"
            for name, messages in form.errors.items()
            if name in form.fields and name != NON_FIELD_ERRORS
        ]
    body = {"error": {"code": code, "message": " ".join(texts), "details": {"fields": problems}}}
    return JsonResponse(body, status=status)


def wants_json(request: HttpRequest) -> bool:
    """Whether a page script sent this (``X-Requested-With: fetch``) and reads JSON back."""
    return request.headers.get("X-Requested-With") == "fetch"
