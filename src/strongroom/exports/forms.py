"""Forms of the Export menu and of Admin → Export / Offline Access. They check shape only;
the policy itself is enforced by the services."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import MinValueValidator

from strongroom.accounts.models import Role, User, UserGroup
from strongroom.exports import policy as export_policy
from strongroom.exports.models import (
    HTML_ATTACHMENT_CEILING_BYTES,
    HTML_ATTACHMENTS_TOTAL_CEILING_BYTES,
)

SCOPE_CHOICES = (("all", "Everything I can view"), ("groups", "Only the resource groups I choose"))


class _ScopeForm(forms.Form):
    scope = forms.ChoiceField(
        choices=SCOPE_CHOICES, initial="all", widget=forms.RadioSelect, label="What to export"
    )
    resource_groups = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Resource groups"
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        strip=True,
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 2000}),
    )

    def __init__(self, *args: Any, groups: list[tuple[str, str]], reason_required: bool, **kw: Any):
        super().__init__(*args, **kw)
        cast(forms.ChoiceField, self.fields["resource_groups"]).choices = groups
        self.fields["reason"].required = reason_required
        if reason_required:
            self.fields["reason"].help_text = "The administrator requires a reason for exports."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == "groups" and not data.get("resource_groups"):
            self.add_error("resource_groups", "Choose at least one resource group.")
        return data

    def resource_group_ids(self) -> list[str] | None:
        if self.cleaned_data.get("scope") != "groups":
            return None
        return list(self.cleaned_data.get("resource_groups") or [])


class HtmlExportForm(_ScopeForm):
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

    field_order = [
        "format",
        "scope",
        "resource_groups",
        "passphrase",
        "passphrase_confirm",
        "reason",
    ]

    def __init__(self, *args: Any, policy: export_policy.Policy, **kw: Any) -> None:
        super().__init__(*args, reason_required=policy.reason_required, **kw)
        # Only the formats the policy allows are offered (the service refuses the others).
        fmt = cast(forms.ChoiceField, self.fields["format"])
        fmt.choices = [(f, export_policy.FORMAT_LABELS[f]) for f in policy.offline_formats]
        fmt.initial = policy.offline_formats[0] if policy.offline_formats else "html"
        fmt.help_text = (
            "The web page opens in any browser; the KeePass database opens in KeePassXC, "
            "KeePassDX, Keepass2Android or Strongbox (with TOTP codes and autofill)."
        )
        self.fields["passphrase"].help_text = (
            f"At least {policy.passphrase_min_length} characters, hard to guess (strength "
            f"{policy.passphrase_min_score} of 4 or more), and not your sign-in password. "
            "Strongroom never stores it: without it the file cannot be opened."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "format" in self.fields and not data.get("format"):
            data["format"] = self.fields["format"].initial  # the first allowed format
        first, second = data.get("passphrase"), data.get("passphrase_confirm")
        if first and second is not None and first != second:
            self.add_error("passphrase_confirm", "The two passphrases differ.")
        return data


class SpreadsheetExportForm(_ScopeForm):
    format = forms.ChoiceField(
        choices=(("xlsx", "Excel workbook (.xlsx)"), ("csv", "CSV (.csv)")),
        initial="xlsx",
        label="Format",
    )
    with_passwords = forms.BooleanField(
        required=False, label="Include passwords, TOTP seeds and notes"
    )

    field_order = ["format", "with_passwords", "scope", "resource_groups", "reason"]

    def __init__(self, *args: Any, policy: export_policy.Policy, **kw: Any) -> None:
        super().__init__(*args, reason_required=policy.reason_required, **kw)
        if policy.plain_text_allowed:
            self.fields[
                "with_passwords"
            ].help_text = (
                "The file will hold them in plain text: keep it safe and delete it after use."
            )
        else:
            self.fields["with_passwords"].disabled = True
            self.fields["with_passwords"].help_text = (
                "The export policy does not allow plain-text passwords; take the encrypted "
                "HTML file instead."
            )


class PolicyForm(forms.Form):
    export_enabled = forms.BooleanField(
        required=False,
        label="Allow exports for everyone without a rule of their own",
        help_text="Rules below override this for a user, a user group or a role.",
    )
    plain_text_allowed = forms.BooleanField(
        required=False,
        label="Allow spreadsheets with plain-text passwords",
        help_text="Off by default. Spreadsheets without passwords are always possible.",
    )
    reason_required = forms.BooleanField(required=False, label="Require a reason for every export")
    passphrase_min_length = forms.IntegerField(
        label="Passphrase minimum length",
        min_value=export_policy.MIN_LENGTH_FLOOR,
        max_value=export_policy.MIN_LENGTH_CEILING,
    )
    passphrase_min_score = forms.TypedChoiceField(
        label="Passphrase minimum strength",
        coerce=int,
        choices=[(i, f"{i}: {label}") for i, label in enumerate(export_policy.SCORE_LABELS)],
        help_text="zxcvbn's estimate of how hard the passphrase is to guess (0 to 4).",
    )
    kdf_iterations = forms.IntegerField(
        label="PBKDF2 iterations",
        max_value=export_policy.MAX_ITERATIONS,
    )
    max_age_days = forms.IntegerField(
        label="Maximum age of an offline copy (days)",
        min_value=0,
        max_value=export_policy.MAX_AGE_CEILING_DAYS,
        help_text="Written into each file as an advisory expiry date; 0 for none.",
    )
    offline_formats = forms.MultipleChoiceField(
        label="Offline copy formats users may choose",
        choices=list(export_policy.FORMAT_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        help_text="At least one. Turn exports off above to allow none.",
    )
    kdbx_memory_mib = forms.IntegerField(
        label="KeePass copies: Argon2id memory (MiB)",
        min_value=8,
        max_value=1024,
        help_text="64 MiB with 3 passes takes about half a second on a recent phone.",
    )
    kdbx_iterations = forms.IntegerField(
        label="KeePass copies: Argon2id passes", min_value=1, max_value=100
    )
    kdbx_parallelism = forms.IntegerField(
        label="KeePass copies: Argon2id lanes", min_value=1, max_value=16
    )
    html_attachment_max_bytes = forms.IntegerField(
        label="Encrypted web page copies: largest attachment carried (bytes)",
        min_value=0,
        max_value=HTML_ATTACHMENT_CEILING_BYTES,
        help_text="Larger files are listed by name and size, marked \u201cnot included in "
        "the offline copy\u201d. 0 carries none. KeePass copies always carry every file.",
    )
    html_attachments_total_bytes = forms.IntegerField(
        label="Encrypted web page copies: all attachments carried together (bytes)",
        min_value=0,
        max_value=HTML_ATTACHMENTS_TOTAL_CEILING_BYTES,
        help_text="In list order, a file is carried if it still fits in what the files "
        "before it left of this total; the rest are listed only. Keeps the copy quick to open "
        "on a phone.",
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        minimum = export_policy.iterations_minimum()
        field = cast(forms.IntegerField, self.fields["kdf_iterations"])
        field.min_value = minimum
        field.widget.attrs["min"] = minimum
        field.help_text = (
            f"Work needed to test one passphrase guess; at least {minimum:,}. Higher is slower "
            "to unlock on a phone and slower to attack."
        )
        field.validators.append(MinValueValidator(minimum))


class RuleForm(forms.Form):
    subject_type = forms.ChoiceField(
        label="Applies to",
        choices=(("user", "A user"), ("user_group", "A user group"), ("role", "A role")),
    )
    user = forms.ChoiceField(required=False, label="User")
    user_group = forms.ChoiceField(required=False, label="User group")
    role = forms.ChoiceField(required=False, label="Role", choices=[("", "—"), *Role.choices])
    allowed = forms.TypedChoiceField(
        label="Export",
        choices=(("allow", "Allowed"), ("refuse", "Refused")),
        coerce=lambda v: v == "allow",
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        users = (
            User.objects.filter(is_active=True).order_by("username").values_list("pk", "username")
        )
        groups = UserGroup.objects.order_by("name").values_list("pk", "name")
        cast(forms.ChoiceField, self.fields["user"]).choices = [
            ("", "—"),
            *((str(pk), name) for pk, name in users),
        ]
        cast(forms.ChoiceField, self.fields["user_group"]).choices = [
            ("", "—"),
            *((str(pk), name) for pk, name in groups),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("subject_type")
        if kind and not data.get(kind):
            self.add_error(kind, "Choose one.")
        return data

    def subject(self) -> dict[str, Any]:
        kind = self.cleaned_data["subject_type"]
        key = {"user": "user_id", "user_group": "user_group_id", "role": "role"}[kind]
        return {key: self.cleaned_data[kind]}
