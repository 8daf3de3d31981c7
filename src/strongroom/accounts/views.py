"""People pages: sign-in (with the one-time code step), sign-out, "My account" (password,
two-factor sign-in, recovery codes, API tokens) and the administrators' users, user groups
and roles pages.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors. Secrets that exist in clear only
once (recovery codes, a new API token, a generated password) are rendered in the response
to the POST that created them and never stored or redirected through the session.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pyotp
import segno
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from strongroom.accounts import selectors, services
from strongroom.accounts.forms import (
    LoginCodeForm,
    LoginForm,
    MemberAddForm,
    PasswordChangeForm,
    ReauthForm,
    TokenCreateForm,
    TotpCodeForm,
    TotpDisableForm,
    UserCreateForm,
    UserEditForm,
    UserGroupForm,
)
from strongroom.accounts.models import Role, User
from strongroom.accounts.permissions import MATRIX, Perm, has_perm
from strongroom.accounts.reauth import confirm_url, reauth_from_request, session_reauth_store
from strongroom.core import keys
from strongroom.core import secrets as sealed
from strongroom.core.errors import AppError, AuthenticationFailed, Conflict, Throttled
from strongroom.core.request import client_ip
from strongroom.crypto import envelope
from strongroom.web import session
from strongroom.web.helpers import (
    apply_error,
    paginate,
    perm_required,
    query_without_page,
    safe_next,
    sentence,
    throttle_message,
)
from strongroom.web.middleware import allowed_before_password_change

logger = logging.getLogger(__name__)


# --- sign-in -----------------------------------------------------------------------------

# Between the password step and the code step, the session holds the username and the
# password sealed under the active data key (AES-256-GCM, bound to a random nonce and the
# username), for at most PENDING_SECONDS. The code step hands both to login_authenticate,
# so the service still makes every decision (throttling, password, code, replay, audit).
# Nothing of it reaches the browser, and the database alone cannot unseal it.
PENDING_KEY = "strongroom.login_pending"
PENDING_SECONDS = 300


@dataclass(frozen=True)
class _PendingLogin:
    username: str
    password: str = field(repr=False)
    next_url: str = "/"


def _pending_aad(nonce: str, username: str) -> bytes:
    return envelope.field_aad(
        "web_session", nonce, "login_password:" + username.replace("\x00", "")
    )


@sensitive_variables("password")
def _pending_store(request: HttpRequest, *, username: str, password: str, next_url: str) -> None:
    nonce = secrets.token_hex(16)
    data_key_id, key = keys.active_data_key()
    blob = envelope.encrypt(
        key, password.encode("utf-8"), _pending_aad(nonce, username), data_key_id=data_key_id
    )
    request.session[PENDING_KEY] = {
        "username": username,
        "nonce": nonce,
        "sealed": base64.b64encode(blob).decode("ascii"),
        "expires": int(time.time()) + PENDING_SECONDS,
        "next": next_url,
    }


@sensitive_variables("password")
def _pending_load(request: HttpRequest) -> _PendingLogin | None:
    state = request.session.get(PENDING_KEY)
    if not isinstance(state, dict) or state.get("expires", 0) < time.time():
        request.session.pop(PENDING_KEY, None)
        return None
    try:
        blob = base64.b64decode(state["sealed"])
        key = keys.data_key(envelope.sealed_key_id(blob))
        password = envelope.decrypt(key, blob, _pending_aad(state["nonce"], state["username"]))
    except (KeyError, ValueError, envelope.DecryptionError, keys.UnknownDataKey):
        logger.warning("discarded a half-finished sign-in that could not be unsealed")
        request.session.pop(PENDING_KEY, None)
        return None
    return _PendingLogin(
        username=state["username"],
        password=password.decode("utf-8"),
        next_url=state.get("next") or "/",
    )


def _signed_in(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    session.session_begin(request, user)
    response = redirect(next_url)
    session.mark_signed_in(response)
    return response


@sensitive_post_parameters("password")
@allowed_before_password_change
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "GET":
        request.session.pop(PENDING_KEY, None)  # coming back here starts over
    elif form.is_valid():
        username = form.cleaned_data["username"]
        password = form.cleaned_data["password"]
        try:
            user = services.login_authenticate(
                username=username, password=password, otp_code=None, client_ip=client_ip(request)
            )
        except Throttled as exc:
            form.add_error(None, throttle_message(exc))
            status = 429
        except AuthenticationFailed as exc:
            if exc.code == "otp_required":
                _pending_store(request, username=username, password=password, next_url=next_url)
                return redirect("accounts:login_code")
            form.add_error(None, "The username or password is not correct.")
        else:
            return _signed_in(request, user, next_url)
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


@sensitive_post_parameters("code")
@sensitive_variables("pending")
@allowed_before_password_change
def login_code_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    pending = _pending_load(request)
    if pending is None:
        messages.info(request, "Your sign-in took too long or was not started. Please start again.")
        return redirect("accounts:login")
    form = LoginCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.login_authenticate(
                username=pending.username,
                password=pending.password,
                otp_code=form.cleaned_data["code"],
                client_ip=client_ip(request),
            )
        except Throttled as exc:
            form.add_error(None, throttle_message(exc))
            status = 429
        except AuthenticationFailed:
            form.add_error("code", "That code is not correct, or it was already used.")
        else:
            return _signed_in(request, user, pending.next_url)
    return render(
        request,
        "accounts/login_code.html",
        {"form": form, "username": pending.username},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@allowed_before_password_change
def logout_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if request.method == "GET":
        return render(request, "accounts/logout.html")
    services.user_logout(user=request.user, client_ip=client_ip(request))
    session.session_end(request)
    messages.success(request, "You have signed out.")
    response = redirect("accounts:login")
    session.clear_signed_in(response)
    return response


# --- confirm it's you (re-authentication) ------------------------------------------------


def _reauth_fresh(request: HttpRequest) -> bool:
    return services.reauth_is_fresh(
        user=request.user,  # type: ignore[arg-type]
        reauth=reauth_from_request(request),
    )


def _reauth_redirect(request: HttpRequest, next_url: str) -> HttpResponse:
    """Off to "Confirm it's you", coming back to the page of the action (a POST cannot be
    replayed through a redirect, so the user repeats it there)."""
    messages.info(request, "Confirm it's you to continue.")
    return redirect(confirm_url(next_url))


@login_required
@allowed_before_password_change
@sensitive_post_parameters("password", "otp")
@sensitive_variables("password")
def reauth_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    next_url = safe_next(request, default=reverse("accounts:account"))
    form = ReauthForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            proof = services.reauth_verify(
                user=user,
                password=form.cleaned_data["password"],
                otp=form.cleaned_data["otp"],
                client_ip=client_ip(request),
            )
        except Throttled as exc:
            form.add_error(None, throttle_message(exc))
            status = 429
        except AuthenticationFailed as exc:
            if exc.details.get("field") == "otp":
                form.add_error("otp", "That code is not correct, or it was already used.")
            else:
                form.add_error("password", "That password is not correct.")
        else:
            session_reauth_store(request, proof)
            return redirect(next_url)
    return render(
        request,
        "accounts/reauth.html",
        {
            "form": form,
            "next": next_url,
            "needs_code": user.totp_enabled,
            "minutes": max(1, round(services.reauth_max_age().total_seconds() / 60)),
        },
        status=status,
    )


# --- my account --------------------------------------------------------------------------


@login_required
def account_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    tokens = list(selectors.api_token_list(user=user))
    now = timezone.now()
    active_tokens = [
        t for t in tokens if t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
    ]
    return render(
        request,
        "accounts/account.html",
        {
            "account": user,
            "role_label": Role(user.role).label,
            "active_token_count": len(active_tokens),
            "recovery_codes_left": _recovery_codes_left(user),
        },
    )


@login_required
@allowed_before_password_change
@sensitive_post_parameters()
def password_change_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    # The form is its own re-authentication: the current password and, with 2FA, a code
    # (not asked again if the user confirmed it's them in the last minutes).
    needs_code = user.totp_enabled and not _reauth_fresh(request)
    form = PasswordChangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_password_change(
                user=user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
                otp=form.cleaned_data["otp"],
                reauth=reauth_from_request(request),
                client_ip=client_ip(request),
            )
        except services.ReauthRequired:
            form.add_error("otp", "Enter a code from your authenticator app, or a recovery code.")
        except AuthenticationFailed as exc:
            if exc.details.get("field") == "otp":
                form.add_error("otp", "That code is not correct, or it was already used.")
            else:
                apply_error(form, exc)
        except AppError as exc:
            apply_error(form, exc)
        else:
            # This session stays signed in; every other session of the user ends.
            update_session_auth_hash(request, user)
            messages.success(request, "Your password was changed.")
            return redirect("accounts:account")
    return render(
        request,
        "accounts/password_change.html",
        {"form": form, "must_change": user.must_change_password, "needs_code": needs_code},
    )


def _recovery_codes_left(user: User) -> int:
    return user.recovery_codes.filter(used_at__isnull=True).count()  # type: ignore[attr-defined]


def _group4(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _pending_enrolment(user: User) -> dict[str, str] | None:
    """The secret of an enrolment that was started but not confirmed, for display."""
    if user.totp_enabled or user.totp_secret is None:
        return None
    secret = sealed.unseal(user, "totp_secret")
    if secret is None:
        return None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=services.TOTP_ISSUER)
    qr = segno.make(uri, error="m")
    return {
        "secret": _group4(secret),
        "uri": uri,
        # An <img> data URI: no markup of ours is built from the URI, which holds the username.
        "qr_data_uri": qr.svg_data_uri(scale=5, border=2, dark="#000", light="#fff"),
    }


def _two_factor_page(
    request: HttpRequest,
    *,
    confirm_form: TotpCodeForm | None = None,
    disable_form: TotpDisableForm | None = None,
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    user.refresh_from_db(fields=["totp_secret", "totp_enabled"])
    return render(
        request,
        "accounts/two_factor.html",
        {
            "account": user,
            "pending": _pending_enrolment(user),
            "recovery_codes_left": _recovery_codes_left(user) if user.totp_enabled else 0,
            "confirm_form": confirm_form or TotpCodeForm(),
            "disable_form": disable_form or TotpDisableForm(auto_id="id_disable_%s"),
        },
    )


@login_required
def two_factor_view(request: HttpRequest) -> HttpResponse:
    return _two_factor_page(request)


@login_required
@require_POST
def two_factor_start_view(request: HttpRequest) -> HttpResponse:
    try:
        services.user_totp_enrol(
            user=request.user,  # type: ignore[arg-type]
            reauth=reauth_from_request(request),
            client_ip=client_ip(request),
        )
    except services.ReauthRequired:
        return _reauth_redirect(request, reverse("accounts:two_factor"))
    except AppError as exc:
        messages.error(request, sentence(exc.message))
    return redirect("accounts:two_factor")


_TWO_FACTOR_STATE_CHANGED = (
    "Two-factor sign-in changed in the meantime (another tab or a second click); "
    "this is how it stands now."
)


def _recovery_codes_page(
    request: HttpRequest, codes: list[str], *, first_time: bool
) -> HttpResponse:
    return render(
        request, "accounts/recovery_codes.html", {"codes": codes, "first_time": first_time}
    )


@login_required
@require_POST
@sensitive_post_parameters("code")
def two_factor_confirm_view(request: HttpRequest) -> HttpResponse:
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        try:
            codes = services.user_totp_confirm(
                user=request.user,  # type: ignore[arg-type]
                code=form.cleaned_data["code"],
                reauth=reauth_from_request(request),
                client_ip=client_ip(request),
            )
        except services.ReauthRequired:
            return _reauth_redirect(request, reverse("accounts:two_factor"))
        except Conflict:
            # A second submit, or another tab: show the state as it is now.
            messages.info(request, _TWO_FACTOR_STATE_CHANGED)
            return redirect("accounts:two_factor")
        except AppError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, "Two-factor sign-in is on.")
            return _recovery_codes_page(request, codes, first_time=True)
    return _two_factor_page(request, confirm_form=form)


@login_required
@require_POST
def recovery_codes_regenerate_view(request: HttpRequest) -> HttpResponse:
    try:
        codes = services.user_recovery_codes_regenerate(
            user=request.user,  # type: ignore[arg-type]
            reauth=reauth_from_request(request),
            client_ip=client_ip(request),
        )
    except services.ReauthRequired:
        return _reauth_redirect(request, reverse("accounts:two_factor"))
    except Conflict:
        messages.info(request, _TWO_FACTOR_STATE_CHANGED)
        return redirect("accounts:two_factor")
    messages.success(request, "New recovery codes were made; the old ones no longer work.")
    return _recovery_codes_page(request, codes, first_time=False)


@login_required
@require_POST
@sensitive_post_parameters("password", "code")
def two_factor_disable_view(request: HttpRequest) -> HttpResponse:
    form = TotpDisableForm(request.POST, auto_id="id_disable_%s")
    if form.is_valid():
        try:
            services.user_totp_disable(
                user=request.user,  # type: ignore[arg-type]
                password=form.cleaned_data["password"],
                code=form.cleaned_data["code"],
                client_ip=client_ip(request),
            )
        except Conflict:
            messages.info(request, _TWO_FACTOR_STATE_CHANGED)
            return redirect("accounts:two_factor")
        except AppError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, "Two-factor sign-in is off.")
            return redirect("accounts:two_factor")
    return _two_factor_page(request, disable_form=form)


def _tokens_page(request: HttpRequest, form: TokenCreateForm | None = None) -> HttpResponse:
    now = timezone.now()
    tokens = []
    for token in selectors.api_token_list(user=request.user):  # type: ignore[arg-type]
        if token.revoked_at is not None:
            state = "revoked"
        elif token.expires_at is not None and token.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        tokens.append({"token": token, "state": state})
    return render(
        request,
        "accounts/tokens.html",
        {"tokens": tokens, "form": form or TokenCreateForm()},
    )


@login_required
def tokens_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _tokens_page(request)
    if not _reauth_fresh(request):
        return _reauth_redirect(request, reverse("accounts:tokens"))
    form = TokenCreateForm(request.POST)
    if form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = None if days == "never" else timezone.now() + timedelta(days=int(days))
        try:
            issued = services.api_token_create(
                user=request.user,  # type: ignore[arg-type]
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=expires_at,
                reauth=reauth_from_request(request),
                client_ip=client_ip(request),
            )
        except services.ReauthRequired:
            return _reauth_redirect(request, reverse("accounts:tokens"))
        except AppError as exc:
            apply_error(form, exc)
        else:
            return render(
                request,
                "accounts/token_created.html",
                {"token": issued.token, "raw_token": issued.raw},
            )
    return _tokens_page(request, form)


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    token = selectors.api_token_get(user=user, token_id=token_id)
    services.api_token_revoke(user=user, token=token, client_ip=client_ip(request))
    messages.success(request, f"The token “{token.name}” was revoked.")
    return redirect("accounts:tokens")


# --- administration: users ---------------------------------------------------------------

STATUS_FILTERS = {"all": "All users", "active": "Active", "inactive": "Deactivated"}


@perm_required(Perm.USERS_MANAGE)
def user_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:150].replace("\x00", "")
    status = request.GET.get("status", "all")
    if status not in STATUS_FILTERS:
        status = "all"
    users = selectors.user_list(actor=request.user, search=search or None)  # type: ignore[arg-type]
    if status != "all":
        users = users.filter(is_active=status == "active")
    return render(
        request,
        "accounts/admin/user_list.html",
        {
            "page": paginate(request, users),
            "q": search,
            "status": status,
            "status_filters": STATUS_FILTERS,
            "query": query_without_page(request),
        },
    )


@perm_required(Perm.USERS_MANAGE)
@sensitive_post_parameters("password")
def user_add_view(request: HttpRequest) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    form = UserCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = data["password"]
        ip = client_ip(request)
        try:
            # Without a chosen password the account starts with an unusable random one,
            # which the reset below replaces by a generated password shown once.
            user = services.user_create(
                actor=actor,
                username=data["username"],
                password=chosen or secrets.token_urlsafe(32),
                role=data["role"],
                email=data["email"],
                full_name=data["full_name"],
                client_ip=ip,
            )
        except AppError as exc:
            apply_error(form, exc)
        else:
            if not chosen:
                reset = services.user_password_reset(actor=actor, user=user, client_ip=ip)
                return render(
                    request,
                    "accounts/admin/user_password.html",
                    {"subject": reset.user, "password": reset.generated_password, "created": True},
                )
            if data["must_change_password"]:
                services.user_password_reset(
                    actor=actor, user=user, new_password=chosen, client_ip=ip
                )
            messages.success(request, f"User “{user.username}” was added.")
            return redirect("accounts:user_detail", user_id=user.pk)
    return render(request, "accounts/admin/user_add.html", {"form": form})


@perm_required(Perm.USERS_MANAGE)
def user_detail_view(request: HttpRequest, user_id: str) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    subject = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    initial = {"full_name": subject.full_name, "email": subject.email, "role": subject.role}
    form = UserEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                actor=actor,
                user=subject,
                full_name=form.cleaned_data["full_name"],
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                reauth=reauth_from_request(request),
                client_ip=client_ip(request),
            )
        except services.ReauthRequired:
            return _reauth_redirect(request, reverse("accounts:user_detail", args=[subject.pk]))
        except AppError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"User “{subject.username}” was saved.")
            return redirect("accounts:user_detail", user_id=subject.pk)
    return render(
        request,
        "accounts/admin/user_detail.html",
        {
            "subject": subject,
            "form": form,
            "role_label": Role(subject.role).label,
            "groups": list(subject.user_groups.order_by("name")),  # type: ignore[attr-defined]
            "is_self": subject.pk == actor.pk,
        },
    )


def _user_action(request: HttpRequest, user_id: str, action: str) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    subject = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    ip = client_ip(request)
    reauth = reauth_from_request(request)
    try:
        if action == "deactivate":
            services.user_deactivate(actor=actor, user=subject, reauth=reauth, client_ip=ip)
            messages.success(request, f"“{subject.username}” was deactivated and signed out.")
        elif action == "activate":
            services.user_activate(actor=actor, user=subject, reauth=reauth, client_ip=ip)
            messages.success(request, f"“{subject.username}” was reactivated.")
        elif action == "reset_totp":
            services.user_totp_reset(actor=actor, user=subject, reauth=reauth, client_ip=ip)
            messages.success(request, f"Two-factor sign-in of “{subject.username}” was reset.")
    except services.ReauthRequired:
        return _reauth_redirect(request, reverse("accounts:user_detail", args=[subject.pk]))
    except AppError as exc:
        messages.error(request, sentence(exc.message))
    return redirect("accounts:user_detail", user_id=subject.pk)


@perm_required(Perm.USERS_MANAGE)
@require_POST
def user_deactivate_view(request: HttpRequest, user_id: str) -> HttpResponse:
    return _user_action(request, user_id, "deactivate")


@perm_required(Perm.USERS_MANAGE)
@require_POST
def user_activate_view(request: HttpRequest, user_id: str) -> HttpResponse:
    return _user_action(request, user_id, "activate")


@perm_required(Perm.USERS_MANAGE)
@require_POST
def user_totp_reset_view(request: HttpRequest, user_id: str) -> HttpResponse:
    return _user_action(request, user_id, "reset_totp")


@perm_required(Perm.USERS_MANAGE)
@require_POST
def user_password_reset_view(request: HttpRequest, user_id: str) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    subject = selectors.user_get_for_manage(actor=actor, user_id=user_id)
    try:
        reset = services.user_password_reset(
            actor=actor,
            user=subject,
            reauth=reauth_from_request(request),
            client_ip=client_ip(request),
        )
    except services.ReauthRequired:
        return _reauth_redirect(request, reverse("accounts:user_detail", args=[subject.pk]))
    return render(
        request,
        "accounts/admin/user_password.html",
        {"subject": reset.user, "password": reset.generated_password, "created": False},
    )


# --- administration: user groups ---------------------------------------------------------


@perm_required(Perm.GROUPS_MANAGE)
def group_list_view(request: HttpRequest) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    form = UserGroupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.user_group_create(
                actor=actor,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                client_ip=client_ip(request),
            )
        except AppError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, f"User group “{group.name}” was added.")
            return redirect("accounts:group_detail", group_id=group.pk)
    return render(
        request,
        "accounts/admin/group_list.html",
        {"page": paginate(request, _groups_with_counts(actor)), "form": form},
    )


def _groups_with_counts(actor: User) -> Any:
    # Counted in the query: the list page needs how many members, not who they are.
    groups = selectors.user_group_list(actor=actor).prefetch_related(None)
    return groups.annotate(member_count=Count("members"))


def _member_candidates(actor: User, member_ids: set[Any]) -> list[User]:
    users = selectors.user_list(actor=actor, include_inactive=False)
    return [user for user in users[:1000] if user.pk not in member_ids]


@perm_required(Perm.GROUPS_MANAGE)
def group_detail_view(request: HttpRequest, group_id: str) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    group = selectors.user_group_get_for_manage(actor=actor, group_id=group_id)
    rename_form = UserGroupForm(
        request.POST if request.POST.get("form") == "rename" else None,
        initial={"name": group.name, "description": group.description},
    )
    member_form = MemberAddForm(request.POST if request.POST.get("form") == "member" else None)
    ip = client_ip(request)
    if request.method == "POST":
        if rename_form.is_bound and rename_form.is_valid():
            try:
                services.user_group_update(
                    actor=actor,
                    group=group,
                    name=rename_form.cleaned_data["name"],
                    description=rename_form.cleaned_data["description"],
                    client_ip=ip,
                )
            except AppError as exc:
                apply_error(rename_form, exc)
            else:
                messages.success(request, "The user group was saved.")
                return redirect("accounts:group_detail", group_id=group.pk)
        elif member_form.is_bound and member_form.is_valid():
            username = member_form.cleaned_data["username"].strip()
            match = [
                user
                for user in selectors.user_list(
                    actor=actor, search=username, include_inactive=False
                )
                if user.username.lower() == username.lower()
            ]
            if not match:
                member_form.add_error("username", f"There is no active user named “{username}”.")
            else:
                try:
                    services.user_group_add_member(
                        actor=actor, group=group, user=match[0], client_ip=ip
                    )
                except AppError as exc:
                    apply_error(member_form, exc, fields={"user_id": "username"})
                else:
                    messages.success(request, f"“{match[0].username}” was added to the group.")
                    return redirect("accounts:group_detail", group_id=group.pk)
    members = list(group.members.all())
    return render(
        request,
        "accounts/admin/group_detail.html",
        {
            "group": group,
            "members": members,
            "candidates": _member_candidates(actor, {m.pk for m in members}),
            "rename_form": rename_form,
            "member_form": member_form,
        },
    )


@perm_required(Perm.GROUPS_MANAGE)
@require_POST
def group_member_remove_view(request: HttpRequest, group_id: str, user_id: str) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    group = selectors.user_group_get_for_manage(actor=actor, group_id=group_id)
    member = selectors.user_get(actor=actor, user_id=user_id)
    try:
        services.user_group_remove_member(
            actor=actor, group=group, user=member, client_ip=client_ip(request)
        )
    except AppError as exc:
        messages.error(request, sentence(exc.message))
    else:
        messages.success(request, f"“{member.username}” was removed from the group.")
    return redirect("accounts:group_detail", group_id=group.pk)


@perm_required(Perm.GROUPS_MANAGE)
@require_POST
def group_delete_view(request: HttpRequest, group_id: str) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    group = selectors.user_group_get_for_manage(actor=actor, group_id=group_id)
    name = group.name
    services.user_group_delete(actor=actor, group=group, client_ip=client_ip(request))
    messages.success(request, f"User group “{name}” was deleted.")
    return redirect("accounts:group_list")


# --- administration: roles ---------------------------------------------------------------

PERMISSION_TEXT: dict[Perm, str] = {
    Perm.USERS_LIST: "See the user directory and user groups, to choose whom to share with",
    Perm.USERS_MANAGE: "Add, edit, deactivate and reactivate users; change roles; reset "
    "passwords and two-factor sign-in",
    Perm.GROUPS_MANAGE: "Add, rename and delete user groups; add and remove members",
    Perm.SETTINGS_MANAGE: "Change the general settings",
    Perm.AUDIT_READ: "Read the audit trail, download it and verify its hash chain",
    Perm.RESOURCES_CREATE: "Add resources (which they then own)",
    Perm.RESOURCE_GROUPS_CREATE: "Add resource groups (which they then own)",
    Perm.IMPORT: "Import CSV files into resources they will own",
}


@perm_required(Perm.USERS_MANAGE)
def roles_view(request: HttpRequest) -> HttpResponse:
    roles = [(role, label) for role, label in Role.choices]
    rows = [
        {
            "perm": perm.value,
            "text": PERMISSION_TEXT.get(perm, perm.value),
            "cells": [(label, perm in MATRIX.get(role, frozenset())) for role, label in roles],
        }
        for perm in Perm
    ]
    active = selectors.user_list(actor=request.user, include_inactive=False)  # type: ignore[arg-type]
    counts = dict(active.order_by().values_list("role").annotate(n=Count("id")))
    return render(
        request,
        "accounts/admin/roles.html",
        {
            "roles": [(label, counts.get(role, 0)) for role, label in roles],
            "rows": rows,
            "can_manage_users": has_perm(request.user, Perm.USERS_MANAGE),
        },
    )
