"""Administration: the general settings page (every key of core.settings_store.SETTINGS).

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from strongroom.accounts import settings as settings_service
from strongroom.accounts.permissions import Perm
from strongroom.core import settings_store
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.web.errors import form_error
from strongroom.web.helpers import perm_required


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _field_for(spec: settings_store.SettingSpec) -> forms.Field:
    """A form field that fits the setting's type (its default's type)."""
    help_text = f"{spec.description} Default: {_default_text(spec.default)}."
    if isinstance(spec.default, bool):
        return forms.BooleanField(required=False, help_text=help_text)
    # A number left empty (or not posted) keeps its current value.
    if isinstance(spec.default, int):
        return forms.IntegerField(required=False, help_text=help_text)
    if isinstance(spec.default, float):
        return forms.FloatField(required=False, help_text=help_text)
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
            settings_service.settings_update(
                actor=request.user,
                values={k: v for k, v in form.cleaned_data.items() if v is not None},
                client_ip=client_ip(request),
            )
        except AppError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "The settings were saved.")
            return redirect("accounts:settings")
    return render(request, "accounts/settings.html", {"form": form})
