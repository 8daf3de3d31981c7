"""Forms of the sign-in, "My account" and people administration pages.

Forms only parse and shape input; every rule (password strength, unique names, the last
administrator) is the services' and comes back as a typed error shown on the field.
"""

from __future__ import annotations

from typing import Any

from django import forms

from strongroom.accounts.models import Role, Scope

_NO_AUTOCORRECT = {"autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"}


def _text(**attrs: Any) -> forms.TextInput:
    return forms.TextInput(attrs={**_NO_AUTOCORRECT, **attrs})


def _password(autocomplete: str, **attrs: Any) -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": autocomplete, **_NO_AUTOCORRECT, **attrs})


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=150, widget=_text(autocomplete="username", autofocus=True)
    )
    password = forms.CharField(max_length=4096, strip=False, widget=_password("current-password"))


class LoginCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=64,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=_text(autocomplete="one-time-code", autofocus=True, inputmode="text"),
    )


class ReauthForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        max_length=4096,
        strip=False,
        widget=_password("current-password", autofocus=True),
    )
    otp = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=64,
        required=False,
        widget=_text(autocomplete="one-time-code"),
    )


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        max_length=4096, strip=False, widget=_password("current-password")
    )
    new_password = forms.CharField(
        max_length=4096,
        strip=False,
        help_text="At least 12 characters; not a common password, not all digits, not like "
        "your username.",
        widget=_password("new-password"),
    )
    new_password_again = forms.CharField(
        label="New password (again)", max_length=4096, strip=False, widget=_password("new-password")
    )
    otp = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=64,
        required=False,
        widget=_text(autocomplete="one-time-code"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("new_password")
            and data.get("new_password_again")
            and data["new_password"] != data["new_password_again"]
        ):
            self.add_error("new_password_again", "The two new passwords do not match.")
        return data


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=64,
        widget=_text(autocomplete="one-time-code", inputmode="numeric"),
    )


class TotpDisableForm(forms.Form):
    password = forms.CharField(
        label="Your password", max_length=4096, strip=False, widget=_password("current-password")
    )
    code = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=64,
        widget=_text(autocomplete="one-time-code"),
    )


TOKEN_EXPIRY_CHOICES = [
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("7", "7 days"),
    ("never", "Never"),
]


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=200,
        help_text="What the token is for, e.g. “backup script on build01”.",
        widget=_text(),
    )
    expires_in_days = forms.ChoiceField(
        label="Expires after", choices=TOKEN_EXPIRY_CHOICES, initial="90"
    )
    scopes = forms.MultipleChoiceField(
        label="What the token may do",
        choices=Scope.choices,
        initial=[Scope.READ],
        widget=forms.CheckboxSelectMultiple,
        help_text="Never more than your role allows. Give a script only what it needs.",
    )


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150, widget=_text(autocomplete="off"))
    full_name = forms.CharField(max_length=300, required=False)
    email = forms.CharField(label="E-mail", max_length=254, required=False, widget=_text())
    role = forms.ChoiceField(choices=Role.choices, initial=Role.PASSWORD_USER)
    password = forms.CharField(
        label="Initial password",
        max_length=4096,
        strip=False,
        required=False,
        help_text="Leave empty to generate one; it is shown once, on the next page.",
        widget=_password("new-password"),
    )
    must_change_password = forms.BooleanField(
        label="The user must choose a new password at first sign-in",
        required=False,
        initial=True,
    )


class UserEditForm(forms.Form):
    full_name = forms.CharField(max_length=300, required=False)
    email = forms.CharField(label="E-mail", max_length=254, required=False, widget=_text())
    role = forms.ChoiceField(choices=Role.choices)


class UserGroupForm(forms.Form):
    name = forms.CharField(max_length=200, widget=_text())
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(
        label="Add a member",
        max_length=150,
        help_text="Username of an active user.",
        widget=_text(list="member-candidates", autocomplete="off"),
    )
