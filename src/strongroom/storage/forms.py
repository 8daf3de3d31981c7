"""Forms of the cloud storage pages (shape only; the services validate and verify)."""

from __future__ import annotations

from typing import Any

from django import forms


class S3ConnectForm(forms.Form):
    access_key_id = forms.CharField(label="Access key ID", max_length=128)
    secret_access_key = forms.CharField(
        label="Secret access key",
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    bucket = forms.CharField(label="Bucket", max_length=63)
    region = forms.CharField(label="Region", max_length=40, initial="us-east-1")
    # Django's form metaclass moves declared fields out of the class, so this does not
    # shadow Form.prefix at run time; mypy only sees the class attribute.
    prefix = forms.CharField(  # type: ignore[assignment]
        label="Key prefix", max_length=200, required=False, help_text="For example strongroom/"
    )
    endpoint = forms.ChoiceField(label="Endpoint", required=False)

    def __init__(self, *args: Any, endpoints: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "Amazon S3 (AWS)")] + [(e, e) for e in endpoints or []]
        endpoint_field = self.fields["endpoint"]
        assert isinstance(endpoint_field, forms.ChoiceField)  # noqa: S101 - narrows for mypy
        endpoint_field.choices = choices
        if not endpoints:
            self.fields["endpoint"].widget = forms.HiddenInput()

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        data = self.cleaned_data
        config = {k: data.get(k, "") for k in ("bucket", "region", "prefix", "endpoint")}
        creds = {k: data[k] for k in ("access_key_id", "secret_access_key")}
        return config, creds


class LocalConnectForm(forms.Form):
    folder = forms.CharField(
        label="Folder name",
        max_length=100,
        help_text="A folder inside the server's sync directory; created when missing.",
    )

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"folder": self.cleaned_data["folder"]}, {}


CONNECT_FORMS: dict[str, type[forms.Form]] = {"s3": S3ConnectForm, "local": LocalConnectForm}


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
    enabled = forms.BooleanField(label="Enabled for users", required=False)
    endpoints = forms.CharField(
        label="Allowed S3-compatible endpoints",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, e.g. https://minio.example.com:9000. Empty: Amazon S3 only.",
    )
    base_dir = forms.CharField(
        label="Base directory on the server",
        required=False,
        max_length=500,
        help_text="An absolute path; each user's folder is created inside it.",
    )
    # Dropbox: the App key of the organisation's Dropbox app (PKCE: no app secret).
    app_key = forms.CharField(
        label="App key",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="From the Dropbox App Console (Settings → App key). No app secret needed.",
    )

    # Box: the Custom App's OAuth 2.0 credentials, write-only (sealed together; never shown).
    client_id = forms.CharField(
        label="Client ID",
        required=False,
        max_length=128,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Write-only. From the Box developer console (Configuration → OAuth 2.0 "
        "Credentials). Leave both fields empty to keep the stored ones.",
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: stored encrypted and never shown again.",
    )

    def __init__(self, *args: Any, provider: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        if provider != "box":
            del self.fields["client_id"]
            del self.fields["client_secret"]
        if provider != "s3":
            del self.fields["endpoints"]
        if provider != "local":
            del self.fields["base_dir"]
        if provider != "dropbox":
            del self.fields["app_key"]

    def secret(self) -> dict[str, Any] | None:
        """The admin secret to seal, or None to keep the stored one (write-only fields)."""
        if self.provider == "box":
            data = self.cleaned_data
            client_id = (data.get("client_id") or "").strip()
            client_secret = (data.get("client_secret") or "").strip()
            if client_id or client_secret:  # both required; the service validates them
                return {"client_id": client_id, "client_secret": client_secret}
        return None

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        if self.provider == "s3":
            return {"endpoints": [line for line in data["endpoints"].split() if line]}
        if self.provider == "local":
            return {"base_dir": data["base_dir"].strip()}
        if self.provider == "dropbox":
            return {"app_key": data["app_key"].strip()}
        return {}


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
