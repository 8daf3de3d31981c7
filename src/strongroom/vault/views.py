"""Web pages of the vault: resources, accounts, password retrieval, sharing, resource groups
and import.

Thin like the REST API (``vault.api``): every page reads through ``vault.selectors`` and
changes things through ``vault.services`` with the signed-in user and the client address.
Services raise typed errors; here they become form errors (bad input), or an error page with
the error's status (404 for what the user cannot see, 403 for too low a level).

Secrets reach the browser only in the JSON answers of the POST retrieval endpoints, which the
page script puts into the page with ``textContent``. Every response of these views carries
``Cache-Control: no-store``: the pages name hosts, usernames and notes, and the retrieval
answers carry passwords.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from strongroom.accounts import selectors as people
from strongroom.accounts.permissions import Perm, has_perm, require_perm
from strongroom.core.errors import (
    AppError,
    AuthenticationFailed,
    Conflict,
    NotFound,
    ValidationFailed,
)
from strongroom.core.request import client_ip
from strongroom.core.settings_store import setting_get
from strongroom.vault import importers, selectors, services
from strongroom.vault.forms import (
    LEVEL_HELP,
    RESOURCE_TYPES,
    AccountForm,
    ImportForm,
    ResourceForm,
    ResourceGroupForm,
    ShareForm,
    form_error_add,
)
from strongroom.vault.models import AccessLevel, Resource

PAGE_SIZE = 50
GROUP_ADD_RESULTS = 20
FILTER_CHOICES_LIMIT = 500

View = Callable[..., HttpResponse]


# --------------------------------------------------------------------------- plumbing


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _error_page(request: HttpRequest, exc: AppError) -> HttpResponse:
    titles = {
        404: "Not found",
        403: "Not allowed",
        400: "That did not work",
        409: "Changed by someone else",
        503: "Temporarily unavailable",
    }
    return render(
        request,
        "vault/error.html",
        {"title": titles.get(exc.status, "Something went wrong"), "error": exc},
        status=exc.status,
    )


def vault_page(view: View) -> View:
    """A page for signed-in users: typed errors become an error page; never cached."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            response = view(request, *args, **kwargs)
        except AppError as exc:
            response = _error_page(request, exc)
        return _no_store(response)

    return wrapper


def vault_json(view: View) -> View:
    """A POST endpoint for the page script. Answers JSON, errors in the API's one shape
    (``{"error": {"code", "message", "details"}}``); never cached."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            exc: AppError = AuthenticationFailed("your session has ended; sign in again")
            return _no_store(JsonResponse(exc.as_dict(), status=exc.status))
        try:
            response = view(request, *args, **kwargs)
        except AppError as exc:
            response = JsonResponse(exc.as_dict(), status=exc.status)
        return _no_store(response)

    return require_POST(wrapper)


def _actor(request: HttpRequest) -> Any:
    return request.user


def _ip(request: HttpRequest) -> str:
    return client_ip(request)


def _reason(request: HttpRequest) -> str:
    """The reason from a JSON body (the page script) or a form body; empty when absent."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed("the request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise ValidationFailed("the request body must be a JSON object")
        reason = body.get("reason", "")
    else:
        reason = request.POST.get("reason", "")
    if not isinstance(reason, str):
        raise ValidationFailed("reason must be text", field="reason")
    return reason


def _reason_required() -> bool:
    return bool(setting_get("retrieval_reason_required"))


def _level_name(level: int | None) -> str:
    return AccessLevel(level).label if level else ""


def _http_url(url: str) -> str | None:
    """The URL as a link target only when it is plainly http(s); anything else (``javascript:``,
    ``data:``) is shown as text."""
    lowered = url.strip().lower()
    return url.strip() if lowered.startswith(("http://", "https://")) else None


# --------------------------------------------------------------------------- keyset pages


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


# --------------------------------------------------------------------------- resources


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
    try:
        page = _resources_page(
            request,
            search=filters["q"] or None,
            resource_type=filters["type"] or None,
            department=filters["department"] or None,
            resource_group_id=filters["group"] or None,
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
    choices = selectors.resource_filter_choices(user=user, limit=FILTER_CHOICES_LIMIT)
    groups = list(selectors.resource_groups_visible(user=user))
    return render(
        request,
        "vault/resource_list.html",
        {
            "resources": page.items,
            "total": page.total,
            "filters": filters,
            "filtered": any(filters.values()),
            "group_error": group_error,
            "types": choices.types,
            "departments": choices.departments,
            "groups": groups,
            "can_create": has_perm(user, Perm.RESOURCES_CREATE),
            "can_import": has_perm(user, Perm.IMPORT),
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
            form_error_add(form, exc)
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
            form_error_add(form, exc)
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


# --------------------------------------------------------------------------- accounts


def _account_form_page(
    request: HttpRequest, form: AccountForm, resource: Resource, account: Any = None
) -> HttpResponse:
    return render(
        request,
        "vault/account_form.html",
        {"form": form, "resource": resource, "account": account},
    )


@vault_page
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = selectors.resource_get(
        user=user, resource_id=resource_id, min_level=AccessLevel.MODIFY
    )
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_create(
                actor=user, resource_id=resource.pk, client_ip=_ip(request), **form.create_kwargs()
            )
        except (ValidationFailed, Conflict) as exc:
            form_error_add(form, exc)
        else:
            messages.success(request, "Account added.")
            return redirect("vault:resource_detail", resource_id=resource.pk)
    return _account_form_page(request, form, resource)


@vault_page
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id, min_level=AccessLevel.MODIFY)
    has_totp = account.totp_seed is not None
    initial = {"username": account.username, "notes": selectors.account_notes(account=account)}
    form = AccountForm(request.POST or None, initial=initial, editing=True, has_totp=has_totp)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(
                actor=user, account_id=account.pk, client_ip=_ip(request), **form.update_kwargs()
            )
        except (ValidationFailed, Conflict) as exc:
            form_error_add(form, exc)
        else:
            messages.success(request, "Account saved.")
            return redirect("vault:resource_detail", resource_id=account.resource_id)
    return _account_form_page(request, form, account.resource, account)


@vault_page
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id, min_level=AccessLevel.MANAGE)
    if request.method == "POST":
        services.account_delete(actor=user, account_id=account.pk, client_ip=_ip(request))
        messages.success(request, "Account deleted.")
        return redirect("vault:resource_detail", resource_id=account.resource_id)
    return render(
        request,
        "vault/confirm_delete.html",
        {
            "title": "Delete account",
            "object_name": f"{account.resource.name} / {account.username}",
            "consequence": "Its password and password history are deleted. This cannot be undone.",
            "cancel_url": reverse("vault:resource_detail", args=[account.resource_id]),
        },
    )


@vault_json
def password_retrieve(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    password = services.password_retrieve(
        actor=_actor(request),
        account_id=account_id,
        reason=_reason(request),
        client_ip=_ip(request),
    )
    return JsonResponse({"password": password})


@vault_json
def totp_code(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    code = services.account_totp_code(
        actor=_actor(request),
        account_id=account_id,
        reason=_reason(request),
        client_ip=_ip(request),
    )
    return JsonResponse(
        {"code": code.code, "period": code.period, "remaining_seconds": code.remaining_seconds}
    )


@vault_page
def password_history(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    account = selectors.account_get(user=user, account_id=account_id)
    entries = services.password_history_list(actor=user, account_id=account.pk)
    return render(
        request,
        "vault/password_history.html",
        {
            "account": account,
            "resource": account.resource,
            "entries": entries,
            "reason_required": _reason_required(),
        },
    )


@vault_json
def password_history_retrieve(
    request: HttpRequest, account_id: uuid.UUID, history_id: uuid.UUID
) -> HttpResponse:
    password = services.password_history_retrieve(
        actor=_actor(request),
        account_id=account_id,
        history_id=history_id,
        reason=_reason(request),
        client_ip=_ip(request),
    )
    return JsonResponse({"password": password})


# --------------------------------------------------------------------------- sharing


def _share_form(request: HttpRequest, *, exclude_user_id: Any = None) -> ShareForm:
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
        request.POST if request.method == "POST" else None, users=users, user_groups=groups
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
        form_error_add(form, exc)
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


# --------------------------------------------------------------------------- resource groups


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
            form_error_add(form, exc)
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
            form_error_add(form, exc)
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


# --------------------------------------------------------------------------- import


@vault_page
@require_http_methods(["GET", "POST"])
def import_csv(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    require_perm(user, Perm.IMPORT)
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        # One byte past the limit, so an oversized file is reported without reading it all.
        data = upload.read(importers.MAX_IMPORT_BYTES + 1)
        try:
            report = services.import_csv(
                actor=user, data=data, fmt=form.cleaned_data["format"], client_ip=_ip(request)
            )
        except ValidationFailed as exc:
            form_error_add(form, exc)
        else:
            if report.ok:
                messages.success(
                    request,
                    f"Imported {report.accounts_created} account(s) into "
                    f"{report.resources_created} new resource(s)"
                    + (
                        f" and {report.resource_groups_created} new resource group(s)."
                        if report.resource_groups_created
                        else "."
                    ),
                )
                return redirect("vault:resource_list")
    return render(
        request,
        "vault/import.html",
        {
            "form": form,
            "report": report,
            "max_mib": importers.MAX_IMPORT_BYTES // (1024 * 1024),
            "max_rows": importers.MAX_IMPORT_ROWS,
        },
        status=400 if report is not None and not report.ok else 200,
    )
