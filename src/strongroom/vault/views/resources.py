"""Vault pages: resources (list with keyset pages, create, detail, edit, delete).

Thin like the REST API (``vault.api``): read through ``vault.selectors``, change through
``vault.services``; every response carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from strongroom.accounts.permissions import Perm, has_perm, require_perm
from strongroom.core.errors import Conflict, NotFound, ValidationFailed
from strongroom.vault import selectors, services
from strongroom.vault.favourites import favourite_ids
from strongroom.vault.forms import RESOURCE_TYPES, ResourceForm
from strongroom.vault.models import AccessLevel, Resource
from strongroom.vault.views.common import (
    FILTER_CHOICES_LIMIT,
    PAGE_SIZE,
    _actor,
    _http_url,
    _ip,
    _level_name,
    _reason_required,
    vault_page,
)
from strongroom.web.errors import form_error


def _cursor_encode(key: selectors.ResourceKey | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps([key[0], str(key[1])], ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _cursor_decode(token: str | None) -> selectors.ResourceKey | None:
    """A page key from the query string; anything malformed means "from the start"."""
    if not token or len(token) > 4096:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, pk = json.loads(raw.decode("utf-8"))
        if not isinstance(name, str) or "\x00" in name:
            return None
        return name, uuid.UUID(str(pk))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def _resources_page(request: HttpRequest, **filters: Any) -> selectors.ResourceKeysetPage:
    """A keyset page: offsets make the database compute every skipped row, keys let it start
    at the page (bench/list_100k.py)."""
    return selectors.resources_keyset_page(
        user=_actor(request),
        limit=PAGE_SIZE,
        after=_cursor_decode(request.GET.get("after")),
        before=_cursor_decode(request.GET.get("before")),
        **filters,
    )


def _page_links(request: HttpRequest, page: selectors.ResourceKeysetPage) -> dict[str, Any]:
    params = {k: v for k, v in request.GET.items() if k not in {"after", "before"} and v}
    base = request.path

    def link(**cursor: Any) -> str:
        query = urlencode({**params, **cursor})
        return f"{base}?{query}" if query else base

    prev_cursor = _cursor_encode(page.prev_key)
    next_cursor = _cursor_encode(page.next_key)
    return {
        "first_url": link() if prev_cursor else None,
        "prev_url": link(before=prev_cursor) if prev_cursor else None,
        "next_url": link(after=next_cursor) if next_cursor else None,
    }


@vault_page
def resource_list(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    filters = {
        "q": request.GET.get("q", ""),
        "type": request.GET.get("type", ""),
        "department": request.GET.get("department", ""),
        "group": request.GET.get("group", ""),
    }
    group_error = None
    # The menus are read first: their query also counts what the search finds, which is the
    # page's total when no other filter applies (one pass over the visible rows, not two).
    choices = selectors.resource_filter_choices(
        user=user, limit=FILTER_CHOICES_LIMIT, search=filters["q"] or None
    )
    only_search = not (filters["type"] or filters["department"] or filters["group"])
    try:
        page = _resources_page(
            request,
            search=filters["q"] or None,
            resource_type=filters["type"] or None,
            department=filters["department"] or None,
            resource_group_id=filters["group"] or None,
            known_total=choices.total if only_search else None,
            few_matches=choices.few_matches,
            search_count=choices.search_count if only_search else None,
        )
    except NotFound as exc:
        group_error = exc.message
        filters["group"] = ""
        page = _resources_page(
            request,
            search=filters["q"] or None,
            resource_type=filters["type"] or None,
            department=filters["department"] or None,
        )
    # The menu needs names only: no per-group resource counts (a count over every member).
    groups = list(selectors.resource_groups_visible(user=user).values("pk", "name"))
    return render(
        request,
        "vault/resource_list.html",
        {
            "resources": page.items,
            "total": page.total,
            # A search counts up to selectors.SEARCH_COUNT_MAX: "1,000+ matches" beyond.
            "total_capped": f"{page.total:,}+" if page.total_capped else "",
            "filters": filters,
            "filtered": any(filters.values()),
            "group_error": group_error,
            "types": choices.types,
            "departments": choices.departments,
            "groups": groups,
            "can_create": has_perm(user, Perm.RESOURCES_CREATE),
            "can_import": has_perm(user, Perm.IMPORT),
            "starred": favourite_ids(user=user, resource_ids=[r.pk for r in page.items]),
            **_page_links(request, page),
        },
    )


def _resource_form_page(
    request: HttpRequest, form: ResourceForm, resource: Resource | None
) -> HttpResponse:
    return render(
        request,
        "vault/resource_form.html",
        {"form": form, "resource": resource, "resource_types": RESOURCE_TYPES},
    )


@vault_page
@require_http_methods(["GET", "POST"])
def resource_create(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    require_perm(user, Perm.RESOURCES_CREATE)
    form = ResourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            resource = services.resource_create(
                actor=user, client_ip=_ip(request), **form.service_kwargs()
            )
        except (ValidationFailed, Conflict) as exc:
            form_error(form, exc, verbatim=True)
        else:
            messages.success(request, f"Resource “{resource.name}” created. Now add its accounts.")
            return redirect("vault:account_create", resource_id=resource.pk)
    return _resource_form_page(request, form, None)


@vault_page
def resource_detail(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = selectors.resource_get(user=user, resource_id=resource_id)
    accounts = list(selectors.accounts_list(user=user, resource_id=resource.pk))
    for account in accounts:
        account.notes_text = selectors.account_notes(account=account)  # type: ignore[attr-defined]
    level = resource.access_level  # type: ignore[attr-defined]
    access = (
        selectors.resource_access_list(user=user, resource_id=resource.pk)
        if level >= AccessLevel.MANAGE
        else None
    )
    return render(
        request,
        "vault/resource_detail.html",
        {
            "resource": resource,
            "level": level,
            "level_name": _level_name(level),
            "url_href": _http_url(resource.url),
            "custom_fields": sorted(resource.custom_fields.items(), key=lambda kv: kv[0].lower()),
            "accounts": accounts,
            "access": access,
            "can_modify": level >= AccessLevel.MODIFY,
            "can_manage": level >= AccessLevel.MANAGE,
            "reason_required": _reason_required(),
        },
    )


@vault_page
@require_http_methods(["GET", "POST"])
def resource_edit(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = selectors.resource_get(
        user=user, resource_id=resource_id, min_level=AccessLevel.MANAGE
    )
    initial = {
        "name": resource.name,
        "resource_type": resource.resource_type,
        "host": resource.host,
        "url": resource.url,
        "department": resource.department,
        "location": resource.location,
        "description": resource.description,
        "custom_fields": resource.custom_fields,
    }
    form = ResourceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.resource_update(
                actor=user,
                resource_id=resource.pk,
                client_ip=_ip(request),
                **form.service_kwargs(),
            )
        except (ValidationFailed, Conflict) as exc:
            form_error(form, exc, verbatim=True)
        else:
            messages.success(request, "Resource saved.")
            return redirect("vault:resource_detail", resource_id=resource.pk)
    return _resource_form_page(request, form, resource)


@vault_page
@require_http_methods(["GET", "POST"])
def resource_delete(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = selectors.resource_get(
        user=user, resource_id=resource_id, min_level=AccessLevel.MANAGE
    )
    if request.method == "POST":
        services.resource_delete(actor=user, resource_id=resource.pk, client_ip=_ip(request))
        messages.success(request, f"Resource “{resource.name}” deleted.")
        return redirect("vault:resource_list")
    return render(
        request,
        "vault/confirm_delete.html",
        {
            "title": "Delete resource",
            "object_name": resource.name,
            "consequence": (
                f"Its {resource.account_count} account(s), their password history and every "  # type: ignore[attr-defined]
                "share on it are deleted too. This cannot be undone."
            ),
            "cancel_url": reverse("vault:resource_detail", args=[resource.pk]),
        },
    )
