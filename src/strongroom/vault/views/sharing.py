"""Vault pages: sharing a resource, revoking and changing shares.

Thin like the REST API (``vault.api``): read through ``vault.selectors``, change through
``vault.services``; every response carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from strongroom.accounts import selectors as people
from strongroom.core.errors import Conflict, NotFound, ValidationFailed
from strongroom.vault import selectors, services
from strongroom.vault.forms import LEVEL_HELP, ShareForm
from strongroom.vault.models import AccessLevel
from strongroom.vault.views.common import _actor, _ip, _level_name, vault_page
from strongroom.web.errors import form_error


def _share_form(
    request: HttpRequest, *, exclude_user_id: Any = None, bound: bool = True
) -> ShareForm:
    user = _actor(request)
    users = [
        u
        for u in people.user_list(actor=user, include_inactive=False).only(
            "id", "username", "full_name"
        )
        if u.pk != exclude_user_id
    ]
    groups = list(people.user_group_list(actor=user).prefetch_related(None).only("id", "name"))
    return ShareForm(
        request.POST if bound and request.method == "POST" else None,
        users=users,
        user_groups=groups,
    )


def _share_grant(
    request: HttpRequest, form: ShareForm, *, target: dict[str, Any], what: str
) -> bool:
    """Grant the share the form asks for; True when done (form errors otherwise)."""
    if not form.is_valid():
        return False
    try:
        services.share_grant(
            actor=_actor(request),
            level=form.cleaned_data["level"],
            client_ip=_ip(request),
            **target,
            **form.grantee_kwargs(),
        )
    except (ValidationFailed, Conflict) as exc:
        form_error(form, exc, verbatim=True)
        return False
    except NotFound as exc:
        if exc.details.get("field") not in {"user_id", "user_group_id"}:
            raise
        form.add_error("grantee", exc.message)
        return False
    messages.success(
        request,
        f"{what} shared with {form.grantee_label()} at "
        f"{_level_name(form.cleaned_data['level'])} level.",
    )
    return True


def _levels() -> list[dict[str, Any]]:
    return [
        {"value": int(level), "name": level.label, "help": LEVEL_HELP[level]}
        for level in AccessLevel
    ]


@vault_page
@require_http_methods(["GET", "POST"])
def resource_sharing(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = selectors.resource_get(
        user=user, resource_id=resource_id, min_level=AccessLevel.MANAGE
    )
    form = _share_form(request, exclude_user_id=resource.owner_id)
    if request.method == "POST" and _share_grant(
        request, form, target={"resource_id": resource.pk}, what=f"“{resource.name}”"
    ):
        return redirect("vault:resource_sharing", resource_id=resource.pk)
    access = selectors.resource_access_list(user=user, resource_id=resource.pk)
    direct = [g for g in access.grants if g.via == "share"]
    via_groups = [g for g in access.grants if g.via in {"resource_group_share"}]
    group_owners = [g for g in access.grants if g.via == "resource_group_owner"]
    return render(
        request,
        "vault/resource_sharing.html",
        {
            "resource": resource,
            "form": form,
            "access": access,
            "direct_shares": direct,
            "group_shares": via_groups,
            "group_owners": group_owners,
            "levels": _levels(),
        },
    )


@vault_page
@require_POST
def share_revoke(request: HttpRequest, share_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    share = selectors.share_get(user=user, share_id=share_id, min_level=AccessLevel.MANAGE)
    services.share_revoke(actor=user, share_id=share.pk, client_ip=_ip(request))
    grantee = share.user.username if share.user is not None else share.user_group.name  # type: ignore[union-attr]
    messages.success(request, f"Share with {grantee} removed.")
    if share.resource_id is not None:
        return redirect("vault:resource_sharing", resource_id=share.resource_id)
    return redirect("vault:resource_group_sharing", group_id=share.resource_group_id)


@vault_page
@require_POST
def share_level(request: HttpRequest, share_id: uuid.UUID) -> HttpResponse:
    """Change the level of an existing share (the row's level menu)."""
    user = _actor(request)
    share = selectors.share_get(user=user, share_id=share_id, min_level=AccessLevel.MANAGE)
    target = (
        {"resource_id": share.resource_id}
        if share.resource_id is not None
        else {"resource_group_id": share.resource_group_id}
    )
    grantee = (
        {"user_id": share.user_id}
        if share.user_id is not None
        else {"user_group_id": share.user_group_id}
    )
    services.share_grant(
        actor=user,
        level=request.POST.get("level", ""),
        client_ip=_ip(request),
        **target,
        **grantee,
    )
    messages.success(request, "Access level changed.")
    if share.resource_id is not None:
        return redirect("vault:resource_sharing", resource_id=share.resource_id)
    return redirect("vault:resource_group_sharing", group_id=share.resource_group_id)
