"""Vault pages: favourites, the recently used list and bulk actions on a selection.

Every control is a plain form post (the star on a row, the action bar of the resource
list), so it works before and without the page script; the script only adds select-all and
the count of what is selected. A bulk action takes two posts: the action bar sends the
selection and the action, the next page shows what will change (and asks for the group,
the grantee or a confirmation) and posts again with ``confirm``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from strongroom.core.errors import AppError, Conflict, NotFound, ValidationFailed
from strongroom.vault import bulk, favourites, selectors
from strongroom.vault.bulk import BulkRefused
from strongroom.vault.models import AccessLevel
from strongroom.vault.views.common import _actor, _ip, _reason_required, vault_page
from strongroom.vault.views.sharing import _levels, _share_form
from strongroom.web.errors import form_error

_ACTIONS: dict[str, dict[str, Any]] = {
    "share": {"title": "Share resources", "verb": "Shared", "button": "Share"},
    "add_to_group": {"title": "Add to a resource group", "verb": "Added", "button": "Add"},
    "move": {"title": "Move to a resource group", "verb": "Moved", "button": "Move"},
    "delete": {"title": "Delete resources", "verb": "Deleted", "button": "Delete"},
}


def _next_url(request: HttpRequest, default: str = "/resources/") -> str:
    """Where to go back to: a path on this site only (never another host)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --------------------------------------------------------------------------- favourites


@vault_page
@require_POST
def favourite_toggle(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    """Star (``favourite=add``) or unstar (``favourite=remove``) a resource."""
    user = _actor(request)
    if request.POST.get("favourite") == "remove":
        favourites.favourite_remove(actor=user, resource_id=resource_id)
    else:
        try:
            favourites.favourite_add(actor=user, resource_id=resource_id)
        except ValidationFailed as exc:
            messages.error(request, exc.message[:1].upper() + exc.message[1:] + ".")
    return redirect(_next_url(request))


@vault_page
def favourite_list(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    items = list(favourites.favourites_list(user=user)[: favourites.MAX_FAVOURITES])
    return render(
        request,
        "vault/favourites.html",
        {"resources": items, "starred": {r.pk for r in items}, "tab": "favourites"},
    )


@vault_page
def recent_list(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    uses = favourites.recent_list(user=user, limit=favourites.RECENT_MAX)
    return render(
        request,
        "vault/recent.html",
        {
            "uses": uses,
            "tab": "recent",
            "just_now": timezone.now() - timedelta(minutes=1),
            "reason_required": _reason_required(),
        },
    )


# --------------------------------------------------------------------------- bulk actions


def _selected(request: HttpRequest) -> list[str]:
    # Not cleaned here: the service refuses more than MAX_SELECTION and names bad IDs.
    return request.POST.getlist("resource")


@vault_page
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    action = request.POST.get("action", "")
    back = _next_url(request)
    if action not in _ACTIONS:
        raise ValidationFailed(
            "choose one of the actions: share, add to group, move, delete", field="action"
        )
    ids = _selected(request)
    if not ids:
        messages.error(request, "Select at least one resource first.")
        return redirect(back)
    about = _ACTIONS[action]
    context: dict[str, Any] = {
        "action": action,
        "about": about,
        "next": back,
        "levels": _levels(),
    }
    confirming = request.POST.get("confirm") == "1"
    # Unbound on the first step: its post carries the selection, not a grantee yet.
    share_form = _share_form(request, bound=confirming) if action == "share" else None
    groups = (
        [
            g
            for g in selectors.resource_groups_visible(user=user)
            if g.access_level >= AccessLevel.MANAGE  # type: ignore[attr-defined]
        ]
        if action in {"add_to_group", "move"}
        else []
    )
    context.update({"form": share_form, "groups": groups})
    try:
        resources = bulk.selection_resources(
            actor=user, resource_ids=ids, min_level=AccessLevel.MANAGE, what="changed"
        )
    except BulkRefused as exc:
        context.update({"refused": exc.details.get("refused", []), "error": exc.message})
        return render(request, "vault/bulk.html", context, status=exc.status)
    context["resources"] = resources
    if not confirming:
        return render(request, "vault/bulk.html", context)

    chosen_group = request.POST.get("resource_group", "")
    try:
        if action == "delete":
            result = bulk.resources_bulk_delete(
                actor=user, resource_ids=ids, client_ip=_ip(request)
            )
        elif action == "add_to_group":
            result = bulk.resources_bulk_group_add(
                actor=user, resource_ids=ids, resource_group_id=chosen_group, client_ip=_ip(request)
            )
        elif action == "move":
            result = bulk.resources_bulk_move(
                actor=user, resource_ids=ids, resource_group_id=chosen_group, client_ip=_ip(request)
            )
        elif share_form is not None:
            if not share_form.is_valid():
                return render(request, "vault/bulk.html", context, status=400)
            result = bulk.resources_bulk_share(
                actor=user,
                resource_ids=ids,
                level=share_form.cleaned_data["level"],
                client_ip=_ip(request),
                **share_form.grantee_kwargs(),
            )
        else:  # pragma: no cover - every action is one of the branches above
            raise ValidationFailed("unknown action", field="action")
    except BulkRefused as exc:
        context.update({"refused": exc.details.get("refused", []), "error": exc.message})
        return render(request, "vault/bulk.html", context, status=exc.status)
    except (ValidationFailed, NotFound, Conflict) as exc:
        if share_form is not None and exc.details.get("field") in {"user_id", "user_group_id"}:
            share_form.add_error("grantee", exc.message)
        elif share_form is not None:
            form_error(share_form, exc, verbatim=True)
        context["error"] = exc.message
        return render(request, "vault/bulk.html", context, status=exc.status)
    except AppError as exc:
        context["error"] = exc.message
        return render(request, "vault/bulk.html", context, status=exc.status)
    messages.success(request, result.summary(about["verb"]))
    return redirect(back)
