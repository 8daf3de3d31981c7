"""General settings page: every key of core.settings_store.SETTINGS, one form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from strongroom.accounts.permissions import Perm
from strongroom.core import settings_store
from strongroom.core.errors import AppError, ValidationFailed
from strongroom.core.request import client_ip
from strongroom.web.helpers import apply_error, perm_required, sentence


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _field_for(spec: settings_store.SettingSpec) -> forms.Field:
    """A form field that fits the setting's type (its default's type)."""
    help_text = f"{spec.description} Default: {_default_text(spec.default)}."
    if isinstance(spec.default, bool):
        return forms.BooleanField(required=False, help_text=help_text)
    if isinstance(spec.default, int):
        return forms.IntegerField(help_text=help_text)
    if isinstance(spec.default, float):
        return forms.FloatField(help_text=help_text)
    return forms.CharField(required=False, max_length=2000, help_text=help_text)


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


class SettingsForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, spec in settings_store.SETTINGS.items():
            field = _field_for(spec)
            field.label = _label(key)
            self.fields[key] = field


@perm_required(Perm.SETTINGS_MANAGE)
def settings_view(request: HttpRequest) -> HttpResponse:
    current = settings_store.setting_all()
    form = SettingsForm(request.POST if request.method == "POST" else None, initial=current)
    if request.method == "POST" and form.is_valid():
        try:
            settings_store.settings_update(
                actor=request.user, values=form.cleaned_data, client_ip=client_ip(request)
            )
        except ValidationFailed as exc:
            for problem in exc.details.get("fields", []):
                if problem.get("field") in form.fields:
                    form.add_error(problem["field"], sentence(problem.get("problem", "")))
            if not form.errors:
                form.add_error(None, sentence(exc.message))
        except AppError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, "The settings were saved.")
            return redirect("core:settings")
    return render(request, "core/settings.html", {"form": form})
