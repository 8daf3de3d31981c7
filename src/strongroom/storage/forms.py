"""Forms of the cloud storage pages (shape only; the services validate and verify). The
provider forms are generated from each provider's declared fields (``Provider.fields``):
nothing here names a provider."""

from __future__ import annotations

from typing import Any

from django import forms

from strongroom.storage import registry
from strongroom.storage.base import ConfigField


class _SecretTextarea(forms.Textarea):
    """A textarea that, like ``PasswordInput(render_value=False)``, never sends a value back
    to the browser (a form re-shown after an error asks for the secret again)."""

    def format_value(self, value: Any) -> str | None:
        return None


def _form_field(spec: ConfigField, admin_config: dict[str, Any]) -> forms.Field:
    """A form field for one declared provider field."""
    common: dict[str, Any] = {
        "label": spec.label,
        "required": spec.required,
        "help_text": spec.help,
    }
    admin = spec.level == "admin"
    if spec.kind == "choice":
        options = list(spec.choices)
        if spec.choices_from_admin:
            options = [(e, e) for e in admin_config.get(spec.choices_from_admin) or []]
        field = forms.ChoiceField(choices=[("", spec.empty_label or "—"), *options], **common)
        if spec.choices_from_admin and not options:
            field.widget = forms.HiddenInput()
        return field
    if spec.kind == "lines":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    if spec.kind == "textarea":  # multi-line text (a private key); a secret is never re-shown
        area = _SecretTextarea if spec.secret else forms.Textarea
        return forms.CharField(
            max_length=spec.max_length,
            strip=False,
            widget=area(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
            **common,
        )
    if spec.kind == "password":
        widget: forms.Widget = forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password" if admin else "off"}
        )
    elif admin:
        widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
    else:
        widget = forms.TextInput()
    return forms.CharField(
        max_length=spec.max_length, initial=spec.initial or None, widget=widget, **common
    )


def _fields(provider: str, level: str) -> tuple[ConfigField, ...]:
    cls = registry.provider_class(provider)
    return tuple(f for f in cls.fields if f.level == level)


class ConnectForm(forms.Form):
    """The user's connect form of a "keys" provider, from its user-level fields."""

    def __init__(
        self, *args: Any, provider: str, admin_config: dict[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.specs = _fields(provider, "user")
        for spec in self.specs:
            self.fields[spec.name] = _form_field(spec, admin_config)

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, credentials): secret fields go to the sealed credentials."""
        data = self.cleaned_data
        config = {f.name: data.get(f.name, "") for f in self.specs if not f.secret}
        creds = {f.name: data.get(f.name, "") for f in self.specs if f.secret}
        return config, creds


class OAuthCodeForm(forms.Form):
    """The paste flow's code (shape only: ``storage.oauth`` validates and exchanges it)."""

    code = forms.CharField(
        label="Authorisation code",
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="The code the provider shows after you allow access.",
    )


class DisconnectForm(forms.Form):
    delete_remote_copy = forms.BooleanField(label="Also delete the synced copy", required=False)


class ProviderSettingsForm(forms.Form):
    """A provider's admin card: "enabled" plus its admin-level fields. Secret fields are
    write-only: never shown, and all left empty keeps the stored secret."""

    enabled = forms.BooleanField(label="Enabled for users", required=False)

    def __init__(self, *args: Any, provider: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.specs = _fields(provider, "admin")
        for spec in self.specs:
            self.fields[spec.name] = _form_field(spec, {})

    @classmethod
    def initial_from(cls, provider: str, *, enabled: bool, config: dict[str, Any]) -> dict:
        """The card's initial values from the stored settings (secrets never)."""
        initial: dict[str, Any] = {"enabled": enabled}
        for spec in _fields(provider, "admin"):
            if spec.secret:
                continue
            value = config.get(spec.name)
            if spec.kind == "lines":
                value = "\n".join(value or [])
            initial[spec.name] = value or ""
        return initial

    def secret(self) -> dict[str, Any] | None:
        """The admin secret to seal, or None to keep the stored one (write-only fields)."""
        data = self.cleaned_data
        values = {f.name: (data.get(f.name) or "").strip() for f in self.specs if f.secret}
        # Every secret field together (the service validates them), or none at all.
        return values if any(values.values()) else None

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for spec in self.specs:
            if spec.secret:
                continue
            value = data.get(spec.name) or ""
            out[spec.name] = value.split() if spec.kind == "lines" else value.strip()
        return out


class ProxyForm(forms.Form):
    enabled = forms.BooleanField(label="Use a proxy for outbound connections", required=False)
    host = forms.CharField(label="Host", required=False, max_length=253)
    port = forms.IntegerField(label="Port", min_value=1, max_value=65535, initial=3128)
    username = forms.CharField(label="User name", required=False, max_length=150)
    password = forms.CharField(
        label="Password",
        required=False,
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(label="Remove the stored password", required=False)
