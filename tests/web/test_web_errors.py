"""The one web error seam (web/errors.py) and the one text validator (core/validation.py)."""

from __future__ import annotations

import json

import pytest
from django import forms

from strongroom.core.errors import ErrorCode, Throttled, ValidationFailed
from strongroom.core.validation import text_clean
from strongroom.web.errors import error_json, form_error, form_errors_json


class _Form(forms.Form):
    name = forms.CharField(label="Name", max_length=5)
    custom_fields = forms.CharField(required=False)


def test_error_json_is_the_api_shape_with_field_problems_as_a_list():
    exc = ValidationFailed("name is required", field="name", problem="required")
    response = error_json(exc)
    assert response.status_code == 400
    body = json.loads(response.content)
    assert body == {
        "error": {
            "code": "invalid",
            "message": "name is required",
            "details": {
                "field": "name",
                "problem": "required",
                "fields": [{"field": "name", "problem": "Name is required."}],
            },
        }
    }


def test_error_json_without_a_field_is_exactly_as_dict():
    exc = Throttled("too many", retry_after=30)
    response = error_json(exc)
    assert response.status_code == 429
    assert json.loads(response.content) == exc.as_dict()


def test_form_errors_json_lists_every_problem():
    form = _Form({"name": "toolong"})
    assert not form.is_valid()
    body = json.loads(form_errors_json(form).content)
    assert body["error"]["code"] == "invalid"
    assert body["error"]["message"].startswith("Name: ")
    assert body["error"]["details"]["fields"] == [
        {"field": "name", "problem": form.errors["name"][0]}
    ]


def test_form_error_puts_each_problem_on_its_field_or_above_the_form():
    form = _Form({"name": "ab"})
    assert form.is_valid()
    form_error(form, ValidationFailed("custom_fields.x name is required", field="custom_fields.x"))
    assert form.errors["custom_fields"] == ["Custom_fields.x name is required."]

    form = _Form({"name": "ab"})
    assert form.is_valid()
    problems = [{"field": "name", "problem": "too odd"}, {"field": "nope", "problem": "x"}]
    form_error(form, ValidationFailed("invalid value for name", fields=problems))
    assert form.errors["name"] == ["Too odd."]

    form = _Form({"name": "ab"})
    assert form.is_valid()
    form_error(form, Throttled("slow down", retry_after=61))
    assert "Try again in 2 minutes." in form.non_field_errors()[0]

    form = _Form({"name": "ab"})
    assert form.is_valid()
    form_error(form, ValidationFailed("name is required", field="name"), verbatim=True)
    assert form.errors["name"] == ["name is required"]


def test_error_codes_are_their_strings():
    assert ErrorCode.NOT_FOUND == "not_found"
    assert json.dumps({"code": ErrorCode.NOT_FOUND}) == '{"code": "not_found"}'


@pytest.mark.parametrize(
    ("value", "kwargs", "problem"),
    [
        (3, {}, None),
        ("a\x00b", {}, "nul"),
        ("\ud800", {}, "unicode"),
        ("abcdef", {"max_length": 5}, "too_long"),
        ("   ", {"required": True}, "required"),
        ("  abcdef  ", {"strip": True, "max_length": 5}, "too_long"),
    ],
)
def test_text_clean_refuses(value, kwargs, problem):
    kwargs.setdefault("max_length", 10)
    with pytest.raises(ValidationFailed) as caught:
        text_clean("name", value, **kwargs)
    assert caught.value.details["field"] == "name"
    assert caught.value.details.get("problem") == problem


def test_text_clean_keeps_or_strips():
    assert text_clean("name", "  a b  ", max_length=10) == "  a b  "
    assert text_clean("name", "  a b  ", max_length=5, strip=True) == "a b"
