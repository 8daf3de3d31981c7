"""Administration: user groups and their members.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from strongroom.accounts import selectors, services
from strongroom.accounts.forms import MemberAddForm, UserGroupForm
from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.web.errors import form_error
from strongroom.web.helpers import paginate, perm_required, sentence


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
            form_error(form, exc)
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
                form_error(rename_form, exc)
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
                    form_error(member_form, exc, fields={"user_id": "username"})
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
