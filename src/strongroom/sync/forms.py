"""The "Sync with <provider> for Mobile Access" dialog. Shape only: the policy itself is
enforced by ``sync.services.sync_request``."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from strongroom.exports import policy as export_policy


class SyncForm(forms.Form):
    format = forms.ChoiceField(widget=forms.RadioSelect, label="File type", required=False)
    passphrase = forms.CharField(
        strip=False,
        max_length=1024,
        label="Passphrase",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    passphrase_confirm = forms.CharField(
        strip=False,
        max_length=1024,
        label="Passphrase again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        strip=True,
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 2000}),
    )

    keep_in_sync = forms.BooleanField(
        required=False,
        label="Keep this copy up to date",
        help_text=(
            "Strongroom rebuilds the file when anything you can see changes (about a minute "
            "later) and once a day. The same passphrase keeps opening it; it is not stored."
        ),
    )

    def __init__(self, *args: Any, policy: export_policy.Policy, **kw: Any) -> None:
        super().__init__(*args, **kw)
        # The formats the policy allows (the service refuses the others, audited).
        fmt = cast(forms.ChoiceField, self.fields["format"])
        fmt.choices = [(f, export_policy.FORMAT_LABELS[f]) for f in policy.offline_formats]
        fmt.initial = policy.offline_formats[0] if policy.offline_formats else "html"
        fmt.help_text = (
            "The KeePass database (strongroom-offline.kdbx) opens in KeePassXC, KeePassDX, "
            "Keepass2Android or Strongbox; the web page in any browser."
        )
        self.fields["reason"].required = policy.reason_required
        if policy.reason_required:
            self.fields["reason"].help_text = "The administrator requires a reason for exports."
        self.fields["passphrase"].help_text = (
            f"At least {policy.passphrase_min_length} characters, hard to guess, and not your "
            "sign-in password. Strongroom never stores it: you will type it on your phone to "
            "open the copy."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "format" in self.fields and not data.get("format"):
            data["format"] = self.fields["format"].initial  # the first allowed format
        first, second = data.get("passphrase"), data.get("passphrase_confirm")
        if first and second is not None and first != second:
            self.add_error("passphrase_confirm", "The two passphrases differ.")
        return data


class RekeyForm(SyncForm):
    """A new passphrase for a synced copy (the same rules as a first sync)."""

    def __init__(self, *args: Any, policy: export_policy.Policy, **kw: Any) -> None:
        super().__init__(*args, policy=policy, **kw)
        del self.fields["keep_in_sync"]
        del self.fields["format"]  # a copy keeps its format
        self.fields["passphrase"].label = "New passphrase"
        self.fields["passphrase_confirm"].label = "New passphrase again"
