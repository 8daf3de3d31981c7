"""The admin and user forms are generated from each provider's declared fields
(``Provider.fields``): no view, form or template names a provider, every declared field is
on its form, secrets are write-only, and "lines" fields round-trip as lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import strongroom.storage as storage_pkg
from strongroom.storage import registry
from strongroom.storage.forms import ConnectForm, ProviderSettingsForm

STORAGE = Path(storage_pkg.__file__).parent


def test_no_view_form_or_template_names_a_provider() -> None:
    names = registry.provider_names()
    assert {"local", "s3", "dropbox", "box"} <= set(names)
    generic = [STORAGE / "views.py", STORAGE / "forms.py"]
    generic += [
        p
        for p in (STORAGE / "templates" / "storage").glob("*.html")
        if "admin_guide_" not in p.name
    ]
    for path in generic:
        text = path.read_text(encoding="utf-8")
        for name in names:
            assert not re.search(rf"[\"']{name}[\"']", text), (path.name, name)


@pytest.mark.parametrize("name", registry.provider_names())
def test_every_declared_field_is_on_its_form(name: str) -> None:
    cls = registry.provider_class(name)
    admin = ProviderSettingsForm(provider=name)
    assert list(admin.fields) == ["enabled"] + [f.name for f in cls.fields if f.level == "admin"]
    for spec in cls.fields:
        form_field = admin.fields.get(spec.name) if spec.level == "admin" else None
        if form_field is not None:
            assert form_field.label == spec.label and form_field.help_text == spec.help
    if cls.auth_kind == "keys":
        user = ConnectForm(provider=name, admin_config={})
        assert list(user.fields) == [f.name for f in cls.fields if f.level == "user"]


def test_admin_secrets_are_write_only_and_lines_are_lists() -> None:
    box = ProviderSettingsForm({"enabled": "on"}, provider="box")
    assert box.is_valid() and box.secret() is None  # all empty: keep the stored secret
    box = ProviderSettingsForm(
        {"enabled": "on", "client_id": " abcdefgh12 ", "client_secret": "s3cret-value"},
        provider="box",
    )
    assert box.is_valid()
    assert box.secret() == {"client_id": "abcdefgh12", "client_secret": "s3cret-value"}
    assert box.config() == {}
    assert "s3cret-value" not in str(box["client_secret"])  # a password input, not echoed
    s3 = ProviderSettingsForm(
        {"endpoints": "https://a.example.com\n\nhttps://b.example.com:9000 "}, provider="s3"
    )
    assert s3.is_valid()
    assert s3.config() == {"endpoints": ["https://a.example.com", "https://b.example.com:9000"]}
    initial = ProviderSettingsForm.initial_from("s3", enabled=True, config=s3.config())
    assert initial == {
        "enabled": True,
        "endpoints": "https://a.example.com\nhttps://b.example.com:9000",
    }


def test_user_secrets_go_to_credentials_and_admin_choices_fill_the_form() -> None:
    data = {
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "not-shown",
        "bucket": "vault-copies",
        "region": "eu-west-1",
        "prefix": "",
        "endpoint": "https://minio.example.com:9000",
    }
    form = ConnectForm(data, provider="s3", admin_config={"endpoints": [data["endpoint"]]})
    assert form.is_valid(), form.errors
    config, credentials = form.split()
    assert credentials == {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "not-shown"}
    assert config["endpoint"] == data["endpoint"] and "secret_access_key" not in config
    refused = ConnectForm(
        {**data, "endpoint": "https://elsewhere.example.com"},
        provider="s3",
        admin_config={"endpoints": [data["endpoint"]]},
    )
    assert not refused.is_valid() and "endpoint" in refused.errors
    hidden = ConnectForm(provider="s3", admin_config={})
    assert hidden.fields["endpoint"].widget.is_hidden  # no admin list: AWS only
