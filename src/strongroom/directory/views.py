"""Administration: the directory (LDAP / Active Directory) page.

Views parse the form, call a service, and show the result; every rule lives in the
services, whose typed errors come back as form errors or messages.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from strongroom.accounts.models import Role, UserGroup
from strongroom.accounts.permissions import Perm
from strongroom.core.errors import AppError, NotFound
from strongroom.core.request import client_ip
from strongroom.directory import services
from strongroom.directory.models import GroupMapping, Nesting, Security
from strongroom.web.errors import form_error
from strongroom.web.helpers import perm_required

_TEXT = {"class": "mono"}


class DirectoryForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Sign in with the directory")
    server_urls = forms.CharField(
        required=False,
        label="Server URLs",
        widget=forms.Textarea(attrs={"rows": 2, **_TEXT}),
        help_text="One per line, tried in order: ldaps://dc1.example.com or "
        "ldap://dc1.example.com with StartTLS.",
    )
    security = forms.ChoiceField(choices=Security.choices)
    ca_bundle = forms.CharField(
        required=False,
        label="CA certificates (PEM)",
        widget=forms.Textarea(attrs={"rows": 3, **_TEXT}),
        help_text="The CA that signed the directory's certificate; empty: the system's CAs.",
    )
    bind_dn = forms.CharField(required=False, label="Service account DN", max_length=1000)
    bind_password = forms.CharField(
        required=False,
        label="Service account password",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored sealed. Leave empty to keep the stored one.",
    )
    user_search_base = forms.CharField(required=False, max_length=1000)
    user_filter = forms.CharField(
        max_length=1000,
        help_text="Users who may sign in; disabled accounts excluded here, e.g. on AD "
        "(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))).",
    )
    username_attribute = forms.CharField(max_length=100, help_text="uid, or sAMAccountName")
    email_attribute = forms.CharField(max_length=100)
    name_attribute = forms.CharField(max_length=100)
    group_search_base = forms.CharField(required=False, max_length=1000)
    # (labels of the remaining fields come from their names)
    group_filter = forms.CharField(max_length=1000, help_text="(objectClass=group) on AD")
    nesting = forms.ChoiceField(choices=Nesting.choices, label="Nested groups")
    allowed_group_dn = forms.CharField(
        required=False,
        max_length=1000,
        label="Allowed group DN",
        help_text="Only its members (nested included) may sign in; empty: every user found.",
    )
    jit_create = forms.BooleanField(
        required=False, label="Create users on their first sign-in (just in time)"
    )
    default_role = forms.ChoiceField(choices=Role.choices)
    timeout_seconds = forms.IntegerField(min_value=1, max_value=120)


class MappingForm(forms.Form):
    group_dn = forms.CharField(max_length=1000, label="Directory group DN")
    user_group = forms.ModelChoiceField(
        queryset=UserGroup.objects.order_by("name"), required=False, label="User group"
    )
    role = forms.ChoiceField(choices=[("", "—"), *Role.choices], required=False)


def _initial() -> dict[str, Any]:
    config = services.directory_config()
    initial = {name: getattr(config, name) for name in DirectoryForm.base_fields}
    initial["bind_password"] = ""
    return initial


@perm_required(Perm.SETTINGS_MANAGE)
def directory_admin_view(request: HttpRequest) -> HttpResponse:
    form = DirectoryForm(request.POST if request.method == "POST" else None, initial=_initial())
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        password = data.pop("bind_password") or None
        try:
            services.directory_config_update(
                actor=request.user,  # type: ignore[arg-type]
                bind_password=password,
                client_ip=client_ip(request),
                **data,
            )
        except AppError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "The directory settings were saved.")
            return redirect("directory:admin")
    config = services.directory_config()
    return render(
        request,
        "directory/admin.html",
        {
            "form": form,
            "config": config,
            "mapping_form": MappingForm(),
            "mappings": GroupMapping.objects.select_related("user_group"),
        },
    )


@require_POST
@perm_required(Perm.SETTINGS_MANAGE)
def mapping_add_view(request: HttpRequest) -> HttpResponse:
    form = MappingForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The mapping needs a group DN (and a user group or a role).")
        return redirect("directory:admin")
    try:
        services.group_mapping_create(
            actor=request.user,  # type: ignore[arg-type]
            group_dn=form.cleaned_data["group_dn"],
            user_group=form.cleaned_data["user_group"],
            role=form.cleaned_data["role"],
            client_ip=client_ip(request),
        )
    except AppError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The group mapping was added.")
    return redirect("directory:admin")


@require_POST
@perm_required(Perm.SETTINGS_MANAGE)
def mapping_delete_view(request: HttpRequest, mapping_id: str) -> HttpResponse:
    mapping = GroupMapping.objects.filter(pk=mapping_id).first() if _uuid(mapping_id) else None
    if mapping is None:
        raise NotFound("no such group mapping")
    services.group_mapping_delete(
        actor=request.user,  # type: ignore[arg-type]
        mapping=mapping,
        client_ip=client_ip(request),
    )
    messages.success(request, "The group mapping was removed.")
    return redirect("directory:admin")


def _uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@require_POST
@perm_required(Perm.SETTINGS_MANAGE)
def directory_test_view(request: HttpRequest) -> HttpResponse:
    username = request.POST.get("username", "").strip() or None
    try:
        out = services.directory_test(actor=request.user, username=username)  # type: ignore[arg-type]
    except AppError as exc:
        messages.error(request, f"Directory test failed: {exc}")
        return redirect("directory:admin")
    text = f"Service bind OK: {out['users']} users match the user filter."
    if username:
        if out["user_found"]:
            text += f" {username}: found, in {len(out['groups'])} groups (nested included)."
        else:
            text += f" {username}: not found."
    messages.success(request, text)
    return redirect("directory:admin")


@require_POST
@perm_required(Perm.USERS_MANAGE)
def directory_sync_view(request: HttpRequest) -> HttpResponse:
    try:
        result = services.directory_sync(actor=request.user, client_ip=client_ip(request))  # type: ignore[arg-type]
    except AppError as exc:
        messages.error(request, f"Sync failed: {exc}")
    else:
        messages.success(
            request,
            f"Sync done: {result.checked} directory users checked, "
            f"{result.deactivated} deactivated.",
        )
    return redirect("directory:admin")
