"""Administration: the roles and what each may do.

Views parse the form, call a selector or service, and show the result; every rule lives in
the services, whose typed errors come back as form errors.
"""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from strongroom.accounts import selectors
from strongroom.accounts.models import Role
from strongroom.accounts.permissions import MATRIX, Perm, has_perm
from strongroom.web.helpers import perm_required

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
