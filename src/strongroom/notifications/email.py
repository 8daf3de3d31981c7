"""Email notifications over SMTP (docs/email.md).

A notification whose kind the user receives by email gets an :class:`EmailOutbox` row in
the same transaction (:func:`outbox_create_for`); the worker sends it
(``notifications.tasks.email_outbox_send`` on commit, and a sweep every minute for what is
due), never a web request. Delivery is keyed by the outbox row: it is claimed with a lease,
sent with that row's Message-ID, and marked sent only after the SMTP server accepted it; an
outage leaves it pending with a later ``next_attempt_at``. Messages hold the notification's
title and body (which never hold secrets, see services) and links on this server; the
SMTP password is sealed, write-only, and never in a message, a log or an error.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from django.conf import settings as django_settings
from django.core import signing
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from strongroom.accounts.models import Role, User
from strongroom.audit.actions import AuditAction
from strongroom.audit.services import audit_record
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.core.secrets import seal_into, unseal
from strongroom.notifications.models import (
    ADMIN_KINDS,
    EMAIL_KINDS,
    EMAIL_ON_BY_DEFAULT,
    EmailOutbox,
    EmailPreference,
    EmailSettings,
    Kind,
    Notification,
    OutboxState,
    Security,
)

logger = logging.getLogger(__name__)

SMTP_TIMEOUT = 20.0
LEASE = timedelta(seconds=120)
# After attempt n fails, wait RETRY_DELAYS[n-1]; after the last, give up (about a day).
RETRY_DELAYS = (30, 60, 120, 300, 600, 1800, 3600, 3600, 7200, 14400, 28800, 28800)
UNSUBSCRIBE_SALT = "strongroom.notifications.unsubscribe"


class EmailNotConfigured(ValidationFailed):
    pass


# --- settings (admin) -----------------------------------------------------------------


def require_admin(actor: Any) -> None:
    if actor is None or not getattr(actor, "is_active", False) or actor.role != Role.ADMIN:
        raise PermissionDenied("only an administrator can change the email settings")


def email_settings_get() -> EmailSettings:
    row, _ = EmailSettings.objects.get_or_create(pk=1)
    return row


def _check_address(field: str, value: str) -> str:
    value = (value or "").strip()
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError) as exc:
        raise ValidationFailed(f"{field} is not an email address: {exc}", field=field) from None
    if not address.username or "." not in address.domain or any(c in value for c in "\r\n"):
        raise ValidationFailed(f"{field} must look like name@example.com", field=field)
    return value


def email_settings_update(
    *,
    actor: Any,
    enabled: bool,
    host: str = "",
    port: int = 587,
    security: str = Security.STARTTLS,
    username: str = "",
    password: str | None = None,
    from_address: str = "",
    client_ip: str | None = None,
) -> EmailSettings:
    """Change the SMTP settings. ``password=None`` keeps the stored one, ``""`` erases it
    (the password is write-only: it is never read back)."""
    require_admin(actor)
    host = (host or "").strip()
    username = (username or "").strip()
    if security not in Security.values:
        raise ValidationFailed(
            f"unknown security {security!r}", field="security", allowed=list(Security.values)
        )
    if host and (any(c in host for c in "/@ \t?#:\r\n") and not host.startswith("[")):
        raise ValidationFailed(
            "the SMTP host must be a host name or IP address (no scheme, port or path)",
            field="host",
        )
    if not 1 <= int(port) <= 65535:
        raise ValidationFailed("the SMTP port must be between 1 and 65535", field="port")
    if from_address:
        from_address = _check_address("from_address", from_address)
    if enabled and not host:
        raise ValidationFailed("the SMTP host is required to send email", field="host")
    if enabled and not from_address:
        raise ValidationFailed("the From address is required to send email", field="from_address")
    if security == Security.NONE and username:
        raise ValidationFailed(
            "a user name and password are only sent over TLS: choose STARTTLS or TLS, or "
            "leave the user name empty for a relay that trusts this server's address",
            field="security",
        )
    if any(c in username for c in "\r\n"):
        raise ValidationFailed("the user name cannot hold line breaks", field="username")
    with transaction.atomic():
        row, _ = EmailSettings.objects.select_for_update().get_or_create(pk=1)
        audit_record(
            actor=actor,
            action=AuditAction.EMAIL_SETTINGS,
            object_type="email_settings",
            object_id="1",
            client_ip=client_ip,
            details={
                "enabled": enabled,
                "host": host,
                "port": int(port),
                "security": security,
                "username": username,
                "from_address": from_address,
                "password_changed": password is not None,
            },
        )
        row.enabled = enabled
        row.host = host
        row.port = int(port)
        row.security = security
        row.username = username
        row.from_address = from_address
        if password is not None:
            seal_into(row, "password", password or None)
        row.updated_by = actor
        row.save()
    return row


# --- preferences (each user) ----------------------------------------------------------


def email_kinds_for(user: Any) -> list[Kind]:
    """The kinds this user may receive (administrators' kinds only for administrators)."""
    is_admin = getattr(user, "role", None) == Role.ADMIN
    return [k for k in EMAIL_KINDS if is_admin or k not in ADMIN_KINDS]


def email_preferences_get(*, user: Any) -> dict[str, bool]:
    chosen = dict(EmailPreference.objects.filter(user=user).values_list("kind", "enabled"))
    return {k.value: chosen.get(k.value, k in EMAIL_ON_BY_DEFAULT) for k in email_kinds_for(user)}


def email_preferences_set(*, user: Any, choices: dict[str, bool]) -> dict[str, bool]:
    """Set some kinds on or off; unknown kinds (or an administrator's kind for someone who
    is not one) are refused and nothing changes."""
    allowed = {k.value for k in email_kinds_for(user)}
    unknown = sorted(set(choices) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown notification kind {unknown[0]!r}", field="kinds", allowed=sorted(allowed)
        )
    with transaction.atomic():
        for kind, on in choices.items():
            EmailPreference.objects.update_or_create(
                user=user, kind=kind, defaults={"enabled": bool(on)}
            )
    return email_preferences_get(user=user)


def _wants(user: Any, kind: str) -> bool:
    if not kind or kind not in {k.value for k in email_kinds_for(user)}:
        return False
    row = EmailPreference.objects.filter(user=user, kind=kind).values_list("enabled").first()
    return row[0] if row is not None else Kind(kind) in EMAIL_ON_BY_DEFAULT


# --- unsubscribe links ----------------------------------------------------------------


def unsubscribe_token(*, user: Any, kind: str) -> str:
    return signing.dumps({"u": str(user.pk), "k": kind}, salt=UNSUBSCRIBE_SALT, compress=False)


def unsubscribe_url(*, user: Any, kind: str) -> str:
    token = unsubscribe_token(user=user, kind=kind)
    return f"{django_settings.PUBLIC_URL}/notifications/email/unsubscribe/{token}/"


def unsubscribe_check(token: str) -> tuple[User, str]:
    """The user and kind a link names; a forged or altered link is refused."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        user = User.objects.get(pk=data["u"], is_active=True)
        kind = Kind(data["k"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, User.DoesNotExist):
        raise NotFound("this unsubscribe link is not valid") from None
    return user, kind.value


def unsubscribe_apply(token: str) -> tuple[User, str]:
    """One click: this kind of email stops for this user (the web notification stays)."""
    user, kind = unsubscribe_check(token)
    EmailPreference.objects.update_or_create(user=user, kind=kind, defaults={"enabled": False})
    logger.info("user id %s unsubscribed from %s emails", user.pk, kind)
    return user, kind


# --- the outbox -----------------------------------------------------------------------


def outbox_create_for(notification: Notification) -> EmailOutbox | None:
    """Inside notification_post's transaction: queue the email if the user wants it."""
    user = notification.user
    if not user.email or not user.is_active or not _wants(user, notification.kind):
        return None
    if not EmailSettings.objects.filter(pk=1, enabled=True).exists():
        return None
    outbox = EmailOutbox.objects.create(notification=notification)

    def _enqueue() -> None:
        from strongroom.notifications.tasks import email_outbox_send

        email_outbox_send(str(outbox.pk))

    transaction.on_commit(_enqueue)
    return outbox


@dataclass(frozen=True)
class Delivery:
    outbox_id: str
    state: str  # sent / retry / failed / skipped / busy
    error: str = ""
    retry_in: int = 0


def _claim(outbox_id: str, now: Any) -> EmailOutbox | None:
    claimed = (
        EmailOutbox.objects.filter(
            pk=outbox_id, state=OutboxState.PENDING, next_attempt_at__lte=now
        )
        .exclude(lease_until__gt=now)
        .update(lease_until=now + LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    return EmailOutbox.objects.select_related("notification__user").get(pk=outbox_id)


def message_build(*, outbox: EmailOutbox, config: EmailSettings) -> EmailMessage:
    """The email: a plain-text and an HTML part (every value escaped), Message-ID from the
    outbox row, List-Unsubscribe (one click, RFC 8058) for the notification's kind."""
    note = outbox.notification
    user = note.user
    msg = EmailMessage()
    msg["From"] = Address(display_name="Strongroom", addr_spec=config.from_address)
    display = (user.full_name or user.username).replace("\r", " ").replace("\n", " ")
    msg["To"] = Address(display_name=display, addr_spec=user.email)
    msg["Subject"] = f"[Strongroom] {note.title}".replace("\r", " ").replace("\n", " ")
    domain = config.from_address.rpartition("@")[2] or "strongroom.invalid"
    msg["Message-ID"] = f"<{outbox.pk}@{domain}>"
    msg["Date"] = timezone.now()
    msg["Auto-Submitted"] = "auto-generated"
    unsubscribe = unsubscribe_url(user=user, kind=note.kind)
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    link = f"{django_settings.PUBLIC_URL}{note.link}" if note.link else ""
    kind_label = Kind(note.kind).label
    text = [note.title, "", note.body] if note.body else [note.title]
    if link:
        text += ["", f"Open: {link}"]
    text += [
        "",
        "--",
        f'You receive this email because "{kind_label}" notifications are on in your '
        "Strongroom account.",
        f"Turn them off: {unsubscribe}",
    ]
    msg.set_content("\n".join(text) + "\n")
    e = html.escape
    body_html = "<br>".join(e(line) for line in note.body.splitlines())
    parts = [
        "<!doctype html><html><body>",
        f"<h2>{e(note.title)}</h2>",
        f"<p>{body_html}</p>" if note.body else "",
        f'<p><a href="{e(link)}">Open in Strongroom</a></p>' if link else "",
        '<hr><p style="color:#666;font-size:small">You receive this email because '
        f"&ldquo;{e(kind_label)}&rdquo; notifications are on in your Strongroom account. "
        f'<a href="{e(unsubscribe)}">Turn them off</a>.</p>',
        "</body></html>",
    ]
    msg.add_alternative("".join(parts), subtype="html")
    return msg


def _ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca_file = getattr(django_settings, "EMAIL_CA_FILE", "")
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def smtp_send(*, config: EmailSettings, msg: EmailMessage) -> None:
    """Hand one message to the SMTP server (raises smtplib.SMTPException / OSError)."""
    smtp: smtplib.SMTP
    if config.security == Security.TLS:
        smtp = smtplib.SMTP_SSL(
            config.host, config.port, timeout=SMTP_TIMEOUT, context=_ssl_context()
        )
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT)
    try:
        smtp.ehlo()
        if config.security == Security.STARTTLS:
            smtp.starttls(context=_ssl_context())
            smtp.ehlo()
        if config.username:
            password = unseal(config, "password") or ""
            if "PLAIN" in smtp.esmtp_features.get("auth", "").upper().split():
                # One method, so refused credentials fail once, not once per method.
                smtp.user, smtp.password = config.username, password
                smtp.auth("PLAIN", smtp.auth_plain, initial_response_ok=True)
            else:
                smtp.login(config.username, password)
        smtp.send_message(msg)
    except smtplib.SMTPServerDisconnected:
        smtp.close()
        raise
    except BaseException:
        smtp.close()  # no QUIT on an error: the server may no longer answer
        raise
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()  # the message was accepted; a lost goodbye changes nothing


def _describe(exc: BaseException) -> str:
    # Server replies and socket errors name no secret of ours (the password is never echoed).
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the SMTP server refused the user name or password ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "the SMTP server does not offer what the settings need (STARTTLS or AUTH)"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the SMTP server answered {exc.smtp_code}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS failed: {exc.__class__.__name__}"
    return f"could not reach the SMTP server: {exc.__class__.__name__}"


def outbox_deliver(
    *, outbox_id: str, sender: Callable[..., None] = smtp_send, now: Any = None
) -> Delivery:
    """Send one queued email if it is due (idempotent: a sent row is never sent again)."""
    now = now or timezone.now()
    outbox = _claim(outbox_id, now)
    if outbox is None:
        return Delivery(outbox_id, "busy")
    config = email_settings_get()
    user = outbox.notification.user
    if not config.enabled or not user.email or not user.is_active:
        EmailOutbox.objects.filter(pk=outbox.pk).update(
            state=OutboxState.SKIPPED, lease_until=None, last_error="email is off"
        )
        return Delivery(outbox_id, "skipped")
    try:
        sender(config=config, msg=message_build(outbox=outbox, config=config))
    except (smtplib.SMTPException, OSError) as exc:
        error = _describe(exc)
        permanent = isinstance(exc, smtplib.SMTPRecipientsRefused)
        if permanent or outbox.attempts >= len(RETRY_DELAYS):
            EmailOutbox.objects.filter(pk=outbox.pk).update(
                state=OutboxState.FAILED, lease_until=None, last_error=error[:500]
            )
            logger.error("email %s: gave up after %d attempts", outbox.pk, outbox.attempts)
            return Delivery(outbox_id, "failed", error)
        delay = RETRY_DELAYS[outbox.attempts - 1]
        EmailOutbox.objects.filter(pk=outbox.pk).update(
            lease_until=None, last_error=error[:500], next_attempt_at=now + timedelta(seconds=delay)
        )
        logger.warning(
            "email %s: attempt %d failed, retry in %ds", outbox.pk, outbox.attempts, delay
        )
        return Delivery(outbox_id, "retry", error, delay)
    EmailOutbox.objects.filter(pk=outbox.pk).update(
        state=OutboxState.SENT, sent_at=timezone.now(), lease_until=None, last_error=""
    )
    logger.info("email %s sent (attempt %d)", outbox.pk, outbox.attempts)
    return Delivery(outbox_id, "sent")


def outbox_counts() -> dict[str, int]:
    counts = dict.fromkeys(OutboxState.values, 0)
    for state, n in EmailOutbox.objects.values_list("state").annotate(n=Count("pk")):
        counts[state] = n
    return counts


def outbox_last_failure() -> EmailOutbox | None:
    """The newest email that failed or is waiting after a failure (for the admin page)."""
    return (
        EmailOutbox.objects.exclude(last_error="")
        .filter(state__in=[OutboxState.PENDING, OutboxState.FAILED])
        .order_by("-created_at")
        .first()
    )


def outbox_due(*, now: Any = None, limit: int = 200) -> list[str]:
    now = now or timezone.now()
    return [
        str(pk)
        for pk in EmailOutbox.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
        .exclude(lease_until__gt=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]


def outbox_sweep(*, now: Any = None, sender: Callable[..., None] = smtp_send) -> list[Delivery]:
    """Send every email that is due (the minute sweep; what a lost queue message left)."""
    return [outbox_deliver(outbox_id=pk, sender=sender, now=now) for pk in outbox_due(now=now)]


def email_test_send(*, actor: Any, to: str = "", sender: Callable[..., None] = smtp_send) -> str:
    """Send a test email now (the admin's button): the exact problem, or the address."""
    require_admin(actor)
    config = email_settings_get()
    if not config.host or not config.from_address:
        raise EmailNotConfigured("set the SMTP host and the From address first", field="host")
    to = _check_address("to", to or actor.email)
    msg = EmailMessage()
    msg["From"] = Address(display_name="Strongroom", addr_spec=config.from_address)
    msg["To"] = to
    msg["Subject"] = "[Strongroom] Test email"
    msg["Message-ID"] = make_msgid(domain=config.from_address.rpartition("@")[2])
    msg.set_content("This is a test email from Strongroom: the SMTP settings work.\n")
    msg.add_alternative(
        "<p>This is a test email from Strongroom: the SMTP settings work.</p>", subtype="html"
    )
    try:
        sender(config=config, msg=msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise ValidationFailed(
            f"the test email was not sent: {_describe(exc)}", field="host"
        ) from None
    logger.info("test email sent by user id %s", actor.pk)
    return to
