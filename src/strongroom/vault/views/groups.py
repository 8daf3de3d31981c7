"""Vault pages: resource groups, their resources and sharing.

Thin like the REST API (``vault.api``): read through ``vault.selectors``, change through
``vault.services``; every response carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from strongroom.accounts.permissions import Perm, has_perm, require_perm
from strongroom.core.errors import Conflict, ValidationFailed
from strongroom.vault import selectors, services
from strongroom.vault.forms import ResourceGroupForm
from strongroom.vault.models import AccessLevel, Resource
from strongroom.vault.views.common import GROUP_ADD_RESULTS, _actor, _ip, _level_name, vault_page
from strongroom.vault.views.resources import _page_links, _resources_page
from strongroom.vault.views.sharing import _levels, _share_form, _share_grant
from strongroom.web.errors import form_error


@vault_page
def resource_group_list(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    search = request.GET.get("q", "")
    groups = list(selectors.resource_groups_visible(user=user, search=search or None))
    return render(
        request,
        "vault/resource_group_list.html",
        {
            "groups": groups,
            "q": search,
            "can_create": has_perm(user, Perm.RESOURCE_GROUPS_CREATE),
        },
    )


@vault_page
@require_http_methods(["GET", "POST"])
def resource_group_create(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    require_perm(user, Perm.RESOURCE_GROUPS_CREATE)
    form = ResourceGroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.resource_group_create(
                actor=user, client_ip=_ip(request), **form.cleaned_data
            )
        except (ValidationFailed, Conflict) as exc:
            form_error(form, exc, verbatim=True)
        else:
            messages.success(request, f"Resource group “{group.name}” created.")
            return redirect("vault:resource_group_detail", group_id=group.pk)
    return render(request, "vault/resource_group_form.html", {"form": form, "group": None})


@vault_page
def resource_group_detail(request: HttpRequest, group_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    group = selectors.resource_group_get(user=user, resource_group_id=group_id)
    level = group.access_level  # type: ignore[attr-defined]
    page = _resources_page(request, resource_group_id=group.pk)
    add_q = request.GET.get("add_q", "")
    candidates: list[Resource] = []
    if add_q and level >= AccessLevel.MANAGE:
        candidates = list(
            selectors.resources_visible(user=user, search=add_q)
            .filter(access_level=AccessLevel.MANAGE)  # type: ignore[misc]
            .order_by("name", "id")[:GROUP_ADD_RESULTS]
        )
    return render(
        request,
        "vault/resource_group_detail.html",
        {
            "group": group,
            "level": level,
            "level_name": _level_name(level),
            "can_manage": level >= AccessLevel.MANAGE,
            "resources": page.items,
            "total": page.total,
            "add_q": add_q,
            "candidates": candidates,
            "candidates_limit": GROUP_ADD_RESULTS,
            **_page_links(request, page),
        },
    )


@vault_page
@require_http_methods(["GET", "POST"])
def resource_group_edit(request: HttpRequest, group_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    group = selectors.resource_group_get(
        user=user, resource_group_id=group_id, min_level=AccessLevel.MANAGE
    )
    form = ResourceGroupForm(
        request.POST or None, initial={"name": group.name, "description": group.description}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.resource_group_update(
                actor=user, resource_group_id=group.pk, client_ip=_ip(request), **form.cleaned_data
            )
        except (ValidationFailed, Conflict) as exc:
            form_error(form, exc, verbatim=True)
        else:
            messages.success(request, "Resource group saved.")
            return redirect("vault:resource_group_detail", group_id=group.pk)
    return render(request, "vault/resource_group_form.html", {"form": form, "group": group})


@vault_page
@require_http_methods(["GET", "POST"])
def resource_group_delete(request: HttpRequest, group_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    group = selectors.resource_group_get(
        user=user, resource_group_id=group_id, min_level=AccessLevel.MANAGE
    )
    if request.method == "POST":
        services.resource_group_delete(
            actor=user, resource_group_id=group.pk, client_ip=_ip(request)
        )
        messages.success(request, f"Resource group “{group.name}” deleted.")
        return redirect("vault:resource_group_list")
    return render(
        request,
        "vault/confirm_delete.html",
        {
            "title": "Delete resource group",
            "object_name": group.name,
            "consequence": (
                f"Its {group.resource_count} resource(s) are kept; the group and every share "  # type: ignore[attr-defined]
                "on it are deleted, so people who reached resources only through it lose that "
                "access."
            ),
            "cancel_url": reverse("vault:resource_group_detail", args=[group.pk]),
        },
    )


@vault_page
@require_POST
def resource_group_add_resource(request: HttpRequest, group_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource_id = request.POST.get("resource_id", "")
    services.resource_group_add_resource(
        actor=user, resource_group_id=group_id, resource_id=resource_id, client_ip=_ip(request)
    )
    resource = selectors.resource_get(user=user, resource_id=resource_id)
    messages.success(request, f"“{resource.name}” added to the group.")
    return redirect("vault:resource_group_detail", group_id=group_id)


@vault_page
@require_POST
def resource_group_remove_resource(
    request: HttpRequest, group_id: uuid.UUID, resource_id: uuid.UUID
) -> HttpResponse:
    user = _actor(request)
    resource = selectors.resource_get(user=user, resource_id=resource_id)
    services.resource_group_remove_resource(
        actor=user, resource_group_id=group_id, resource_id=resource.pk, client_ip=_ip(request)
    )
    messages.success(request, f"“{resource.name}” removed from the group.")
    return redirect("vault:resource_group_detail", group_id=group_id)


@vault_page
@require_http_methods(["GET", "POST"])
def resource_group_sharing(request: HttpRequest, group_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    group = selectors.resource_group_get(
        user=user, resource_group_id=group_id, min_level=AccessLevel.MANAGE
    )
    form = _share_form(request, exclude_user_id=group.owner_id)
    if request.method == "POST" and _share_grant(
        request, form, target={"resource_group_id": group.pk}, what=f"The group “{group.name}”"
    ):
        return redirect("vault:resource_group_sharing", group_id=group.pk)
    share_rows = [
        {
            "share_id": share.pk,
            "level": share.level,
            "principal_type": "user" if share.user is not None else "user_group",
            "principal_name": (
                share.user.username if share.user is not None else share.user_group.name  # type: ignore[union-attr]
            ),
        }
        for share in selectors.shares_list(user=user, resource_group_id=group.pk)
    ]
    return render(
        request,
        "vault/resource_group_sharing.html",
        {"group": group, "form": form, "share_rows": share_rows, "levels": _levels()},
    )
