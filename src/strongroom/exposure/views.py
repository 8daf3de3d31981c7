"""Pages of the exposure register: the register and "report a lost device" (one page), an
incident (the lost-device page: each password to rotate, tracked until it is changed), and
"who had this offline" for one account. The same selectors and service as the API."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from strongroom.accounts.models import User
from strongroom.accounts.permissions import Perm, has_perm
from strongroom.core.errors import AppError
from strongroom.core.request import client_ip
from strongroom.exposure import selectors, services
from strongroom.web.errors import form_error
from strongroom.web.helpers import paginate


class IncidentForm(forms.Form):
    user = forms.ChoiceField(label="Whose device was lost")
    since = forms.DateField(
        label="Copies made since",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Every offline copy built for this user from this day (UTC) until now counts.",
    )
    note = forms.CharField(
        label="What happened",
        required=False,
        max_length=services.MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["user"])
        if has_perm(actor, Perm.USERS_MANAGE):
            users = User.objects.order_by("username").values_list("pk", "username")[:2000]
            field.choices = [(str(pk), name) for pk, name in users]
        else:
            field.choices = [(str(actor.pk), actor.username)]
        field.initial = str(actor.pk)


@login_required
def exposure_index(request: HttpRequest) -> HttpResponse:
    actor: Any = request.user
    form = IncidentForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_report(
                actor=actor,
                user_id=form.cleaned_data["user"],
                since=form.cleaned_data["since"],
                note=form.cleaned_data["note"],
                client_ip=client_ip(request),
            )
        except AppError as exc:
            form_error(form, exc, fields={"user_id": "user"})
        else:
            return redirect("exposure:incident", incident_id=incident.pk)
    builds = paginate(request, selectors.builds_list(actor=actor), per_page=25)
    return render(
        request,
        "exposure/index.html",
        {
            "form": form,
            "incidents": selectors.incidents_list(actor=actor)[:100],
            "builds": builds,
            "sees_all": has_perm(actor, Perm.USERS_MANAGE) or has_perm(actor, Perm.AUDIT_READ),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
def incident_detail(request: HttpRequest, incident_id: Any) -> HttpResponse:
    # NotFound (404) reaches the error page through the web middleware.
    status = selectors.incident_status(actor=request.user, incident_id=incident_id)  # type: ignore[arg-type]
    wanted = request.GET.get("status", "")
    rows = [a for a in status.accounts if a.status == wanted] if wanted else status.accounts
    return render(
        request,
        "exposure/incident.html",
        {
            "status": status,
            "incident": status.incident,
            "rows": paginate(request, rows, per_page=100),
            "wanted": wanted,
            "query": f"status={wanted}" if wanted in (selectors.ROTATE, selectors.ROTATED) else "",
            "rotate": status.counts[selectors.ROTATE],
            "rotated": status.counts[selectors.ROTATED],
            "deleted": status.counts[selectors.DELETED],
            "hidden": sum(status.hidden.values()),
            "hidden_rotate": status.hidden[selectors.ROTATE],
        },
    )


@login_required
def account_exposure(request: HttpRequest, account_id: Any) -> HttpResponse:
    # NotFound (404) and PermissionDenied (403) reach the error pages like the vault's.
    exposure = selectors.account_exposure(actor=request.user, account_id=account_id)  # type: ignore[arg-type]
    return render(
        request,
        "exposure/account.html",
        {"exposure": exposure, "account": exposure.account, "resource": exposure.account.resource},
    )
