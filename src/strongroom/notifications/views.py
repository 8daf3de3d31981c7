"""The notification area's JSON feed (polled by web/static/web/app.js), dismissing, the
page listing past notifications; and for email (docs/email.md): Admin → Email (SMTP
settings, send a test email), the user's "Email notifications" choices and the unsubscribe
link's page. Thin: the forms check shape, notifications.email validates, audits and sends."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from strongroom.accounts.permissions import Perm
from strongroom.core.errors import AppError, NotFound
from strongroom.core.request import client_ip
from strongroom.notifications import email, selectors, services
from strongroom.notifications.models import Kind, Notification, Security
from strongroom.web.errors import form_error
from strongroom.web.helpers import paginate, perm_required, sentence
from strongroom.web.middleware import allowed_before_password_change, passive


def notification_json(notification: Notification) -> dict[str, Any]:
    return {
        "id": str(notification.pk),
        "level": notification.level,
        "title": notification.title,
        "body": notification.body,
        "link": notification.link,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_GET
@passive
@allowed_before_password_change
def notification_feed_view(request: HttpRequest) -> JsonResponse:
    """Unread notifications, newest first. Answers 200 even when signed out (with
    ``signed_in: false``) so the page script can tell a timed-out session from an error."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False, "login_url": reverse("accounts:login")})
    items, unread = selectors.notification_feed(user=request.user)
    return JsonResponse(
        {"signed_in": True, "unread": unread, "items": [notification_json(n) for n in items]}
    )


@login_required
def notification_list_view(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("show") == "unread"
    notifications = selectors.notification_list(user=request.user, unread_only=unread_only)
    return render(
        request,
        "notifications/list.html",
        {
            "page": paginate(request, notifications, per_page=25),
            "unread_only": unread_only,
            "unread": selectors.notification_unread_count(user=request.user),
        },
    )


@login_required
@require_POST
def notification_read_view(request: HttpRequest, notification_id: str) -> HttpResponse:
    notification = services.notification_mark_read(
        user=request.user, notification_id=notification_id
    )
    if _wants_json(request):
        unread = selectors.notification_unread_count(user=request.user)
        return JsonResponse({"notification": notification_json(notification), "unread": unread})
    return redirect("notifications:list")


@login_required
@require_POST
def notification_read_all_view(request: HttpRequest) -> HttpResponse:
    count = services.notification_mark_all_read(user=request.user)
    if _wants_json(request):
        return JsonResponse({"marked": count, "unread": 0})
    messages.success(request, "All notifications are marked as read.")
    return redirect("notifications:list")


class EmailSettingsForm(forms.Form):
    enabled = forms.BooleanField(label="Send email notifications", required=False)
    host = forms.CharField(label="SMTP host", required=False, max_length=253)
    port = forms.IntegerField(label="Port", min_value=1, max_value=65535, initial=587)
    security = forms.ChoiceField(label="Security", choices=Security.choices)
    username = forms.CharField(label="User name", required=False, max_length=254)
    password = forms.CharField(
        label="Password",
        required=False,
        max_length=512,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(label="Remove the stored password", required=False)
    from_address = forms.CharField(label="From address", required=False, max_length=254)


class TestEmailForm(forms.Form):
    to = forms.CharField(label="Send a test email to", required=False, max_length=254)


def _settings_render(
    request: HttpRequest, *, form: EmailSettingsForm | None = None, status: int = 200
) -> HttpResponse:
    row = email.email_settings_get()
    if form is None:
        form = EmailSettingsForm(
            initial={
                "enabled": row.enabled,
                "host": row.host,
                "port": row.port,
                "security": row.security,
                "username": row.username,
                "from_address": row.from_address,
            }
        )
    return render(
        request,
        "notifications/email_settings.html",
        {
            "form": form,
            "password_set": row.password is not None,
            "outbox": email.outbox_counts(),
            "last_failure": email.outbox_last_failure(),
            "test_form": TestEmailForm(initial={"to": request.user.email}),  # type: ignore[union-attr]
        },
        status=status,
    )


@perm_required(Perm.SETTINGS_MANAGE)
@require_http_methods(["GET", "POST"])
def email_settings_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _settings_render(request)
    form = EmailSettingsForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        password: str | None = data["password"] or None
        if data["clear_password"]:
            password = ""
        try:
            email.email_settings_update(
                actor=request.user,
                enabled=data["enabled"],
                host=data["host"],
                port=data["port"],
                security=data["security"],
                username=data["username"],
                password=password,
                from_address=data["from_address"],
                client_ip=client_ip(request),
            )
        except AppError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Email settings saved.")
            return redirect("notifications:email_settings")
    return _settings_render(request, form=form, status=400)


@perm_required(Perm.SETTINGS_MANAGE)
@require_POST
def email_test_view(request: HttpRequest) -> HttpResponse:
    form = TestEmailForm(request.POST)
    to = form.data.get("to", "") if form.is_valid() else ""
    try:
        sent_to = email.email_test_send(actor=request.user, to=str(to))
    except AppError as exc:
        messages.error(request, sentence(exc.message))
    else:
        messages.success(request, f"A test email was sent to {sent_to}.")
    return redirect("notifications:email_settings")


@login_required
@require_http_methods(["GET", "POST"])
def email_preferences_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        kinds = set(request.POST.getlist("kinds"))
        choices = {k.value: k.value in kinds for k in email.email_kinds_for(request.user)}
        try:
            email.email_preferences_set(user=request.user, choices=choices)
        except AppError as exc:
            messages.error(request, sentence(exc.message))
        else:
            messages.success(request, "Your email notification choices are saved.")
        return redirect("notifications:email_preferences")
    chosen = email.email_preferences_get(user=request.user)
    rows = [(k.value, k.label, chosen[k.value]) for k in email.email_kinds_for(request.user)]
    return render(
        request,
        "notifications/email_preferences.html",
        {
            "rows": rows,
            "email_on": email.email_settings_get().enabled,
            "address": request.user.email,  # type: ignore[union-attr]
        },
    )


# The link in the email works without a session; a mail client's one-click unsubscribe
# (RFC 8058) is a POST without a CSRF token. The signed token is the authority, and it can
# only turn one kind of email off.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def email_unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            _, kind = email.unsubscribe_apply(token)
        else:
            _, kind = email.unsubscribe_check(token)
    except NotFound as exc:
        return render(
            request,
            "notifications/email_unsubscribe.html",
            {"error": sentence(exc.message)},
            status=404,
        )
    context: dict[str, Any] = {"kind": Kind(kind).label, "done": request.method == "POST"}
    return render(request, "notifications/email_unsubscribe.html", context)
