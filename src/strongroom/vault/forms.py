"""Forms of the vault's web pages.

They only shape what the browser sent (text exactly as typed: nothing is stripped, the
services store values as given) and carry the HTML hints (maxlength, autocomplete). The
rules themselves live in ``vault.validation`` and are applied by the services; a
``ValidationFailed`` the service raises is put back on the form by ``web.errors.form_error``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from strongroom.vault import validation as v
from strongroom.vault.importers import FORMAT_LABELS, FORMATS, MODES
from strongroom.vault.models import AccessLevel

RESOURCE_TYPES = (
    "Linux",
    "Windows",
    "macOS",
    "Network device",
    "Firewall",
    "Database",
    "Web site",
    "Application",
    "Cloud",
    "Wi-Fi",
)

LEVEL_HELP = {
    AccessLevel.VIEW: "see the resource and retrieve its passwords",
    AccessLevel.MODIFY: "also add and change accounts",
    AccessLevel.MANAGE: "also edit or delete the resource, delete accounts and share it",
}


def _text(
    label: str,
    *,
    max_length: int,
    required: bool = False,
    help_text: str = "",
    textarea: bool = False,
    **attrs: Any,
) -> forms.CharField:
    widget_attrs = {"maxlength": str(max_length), **attrs}
    widget = forms.Textarea(attrs=widget_attrs) if textarea else forms.TextInput(attrs=widget_attrs)
    return forms.CharField(
        label=label, required=required, strip=False, help_text=help_text, widget=widget
    )


class ResourceForm(forms.Form):
    name = _text("Name", max_length=v.MAX_RESOURCE_NAME, required=True, autofocus=True)
    resource_type = _text(
        "Type", max_length=v.MAX_RESOURCE_TYPE, list="resource-types", autocomplete="off"
    )
    host = _text(
        "Host name or IP address", max_length=v.MAX_HOST, autocomplete="off", spellcheck="false"
    )
    url = _text("URL", max_length=v.MAX_URL, autocomplete="off", spellcheck="false")
    department = _text("Department", max_length=v.MAX_DEPARTMENT)
    location = _text("Location", max_length=v.MAX_LOCATION)
    description = _text("Description", max_length=v.MAX_DESCRIPTION, textarea=True, rows="3")
    # Rendered by hand (rows of name/value inputs); this field only carries its errors.
    custom_fields = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.custom_field_rows: list[tuple[str, str]] = []
        if self.is_bound:
            data: QueryDict = self.data  # type: ignore[assignment]
            names = data.getlist("cf_name")
            values = data.getlist("cf_value")
            self.custom_field_rows = list(zip(names, values, strict=False))
        elif self.initial.get("custom_fields"):
            self.custom_field_rows = list(self.initial["custom_fields"].items())

    def clean_custom_fields(self) -> dict[str, str]:
        """Rows of the editor as a mapping. Blank rows are dropped; a value without a name
        and a name given twice are mistakes the person should see."""
        result: dict[str, str] = {}
        for name, value in self.custom_field_rows:
            if not name.strip() and not value:
                continue
            if not name.strip():
                raise forms.ValidationError("Every custom field with a value needs a name.")
            if name in result:
                raise forms.ValidationError(f"The custom field “{name}” is given twice.")
            result[name] = value
        return result

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        return {key: data[key] for key in self.fields}


class AccountForm(forms.Form):
    username = _text(
        "Username",
        max_length=v.MAX_USERNAME,
        autocomplete="off",
        spellcheck="false",
        autocapitalize="none",
        help_text="May be left empty, for a Wi-Fi key or a PIN.",
    )
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(
            attrs={
                "maxlength": str(v.MAX_PASSWORD),
                "autocomplete": "new-password",
                "spellcheck": "false",
                "autocapitalize": "none",
                "data-password-input": "",
            }
        ),
    )
    notes = _text(
        "Notes",
        max_length=v.MAX_NOTES,
        textarea=True,
        rows="3",
        help_text="Stored encrypted; shown to everyone who can see this resource.",
    )
    totp_seed = forms.CharField(
        label="TOTP seed",
        required=False,
        strip=False,
        help_text="Base32 secret or otpauth://totp/ URI, for accounts with a second factor.",
        widget=forms.PasswordInput(
            attrs={
                "maxlength": str(v.MAX_TOTP_SEED),
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "none",
            }
        ),
    )
    totp_remove = forms.BooleanField(label="Remove the TOTP seed", required=False)

    def __init__(self, *args: Any, editing: bool = False, has_totp: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.has_totp = has_totp
        if editing:
            self.fields["password"].label = "New password"
            self.fields["password"].help_text = "Leave empty to keep the current password."
            if has_totp:
                self.fields[
                    "totp_seed"
                ].help_text = (
                    "A seed is set. Enter a new one to replace it, or leave empty to keep it."
                )
        if not (editing and has_totp):
            del self.fields["totp_remove"]

    def create_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "username": data["username"],
            "password": data["password"],
            "notes": data["notes"],
            "totp_seed": data["totp_seed"] or None,
        }

    def update_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        totp_seed: str | None = None
        if data.get("totp_remove"):
            totp_seed = ""
        elif data["totp_seed"].strip():
            totp_seed = data["totp_seed"]
        return {
            "username": data["username"],
            "password": data["password"] or None,
            "notes": data["notes"],
            "totp_seed": totp_seed,
        }


class ResourceGroupForm(forms.Form):
    name = _text("Name", max_length=v.MAX_GROUP_NAME, required=True, autofocus=True)
    description = _text("Description", max_length=v.MAX_GROUP_DESCRIPTION, textarea=True, rows="3")


class ShareForm(forms.Form):
    """Whom to share with (``user:<id>`` or ``group:<id>``) and at which level."""

    grantee = forms.ChoiceField(label="Share with")
    level = forms.TypedChoiceField(
        label="Access level",
        choices=[(int(level), level.label.capitalize()) for level in AccessLevel],
        coerce=int,
        initial=int(AccessLevel.VIEW),
    )

    def __init__(
        self,
        *args: Any,
        users: list[Any],
        user_groups: list[Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        user_choices = [
            (f"user:{u.pk}", f"{u.username} ({u.full_name})" if u.full_name else u.username)
            for u in users
        ]
        group_choices = [(f"group:{g.pk}", g.name) for g in user_groups]
        choices: list[Any] = [("", "Choose a user or user group…")]
        if user_choices:
            choices.append(("Users", user_choices))
        if group_choices:
            choices.append(("User groups", group_choices))
        self.fields["grantee"].choices = choices  # type: ignore[attr-defined]

    def grantee_label(self) -> str:
        value = self.cleaned_data["grantee"]
        for _, options in self.fields["grantee"].choices[1:]:  # type: ignore[attr-defined]
            for key, label in options:
                if key == value:
                    return str(label)
        return ""

    def grantee_kwargs(self) -> dict[str, str]:
        kind, _, pk = self.cleaned_data["grantee"].partition(":")
        return {"user_id": pk} if kind == "user" else {"user_group_id": pk}


IMPORT_MODE_LABELS = {
    "skip": "Skip entries already in the vault (same resource and username)",
    "update": "Update them: new password, notes and TOTP (the old password goes to its history)",
    "duplicate": "Import them again as new accounts",
}


class ImportForm(forms.Form):
    format = forms.ChoiceField(
        label="Format",
        choices=[(fmt, FORMAT_LABELS[fmt]) for fmt in ("auto", *FORMATS)],
        initial="auto",
    )
    file = forms.FileField(
        label="File",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.json,.xml,.kdbx,.1pux,text/csv,application/json,text/xml"}
        ),
    )
    mode = forms.ChoiceField(
        label="Entries already in the vault",
        choices=[(mode, IMPORT_MODE_LABELS[mode]) for mode in MODES],
        initial="skip",
        required=False,  # a form from before modes existed means the default
        widget=forms.RadioSelect,
    )
    password = forms.CharField(
        label="KeePass database password",
        required=False,
        strip=False,
        max_length=v.MAX_PASSWORD,
        help_text="Only for a .kdbx file; it opens the file and is not kept.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
