"""Administration: users.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from strongroom.accounts import selectors, services
from strongroom.accounts.forms import UserCreateForm, UserEditForm
from strongroom.accounts.models import Role, User
from strongroom.accounts.permissions import Perm
from strongroom.accounts.reauth import reauth_from_request
from strongroom.accounts.views.reauth import reauth_redirect
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.web.errors import form_error
from strongroom.web.helpers import paginate, perm_required, query_without_page, sentence

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
            form_error(form, exc)
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
            return reauth_redirect(request, reverse("accounts:user_detail", args=[subject.pk]))
        except AppError as exc:
            form_error(form, exc)
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
        return reauth_redirect(request, reverse("accounts:user_detail", args=[subject.pk]))
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
        return reauth_redirect(request, reverse("accounts:user_detail", args=[subject.pk]))
    return render(
        request,
        "accounts/admin/user_password.html",
        {"subject": reset.user, "password": reset.generated_password, "created": False},
    )
