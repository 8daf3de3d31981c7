"""Email notifications against a real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS with a
test CA, AUTH required): messages parsed and checked, canary secrets never sent, an outage
retried without loss or duplicates, preferences and unsubscribe links honoured."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.db import connection
from django.test import Client
from django.utils import timezone

from factories import user_make
from strongroom.accounts.services import REAUTH_TRUSTED, api_token_create
from strongroom.core.errors import NotFound, PermissionDenied, ValidationFailed
from strongroom.notifications import email as mail
from strongroom.notifications.models import EmailOutbox, Notification, OutboxState
from strongroom.notifications.services import notification_post, notification_post_admins

from .conftest import client_for

pytestmark = pytest.mark.django_db

SMTP_USER = "relay@example.test"
# Canaries: if either ever appears in a message, a log line or the page, the test fails.
SMTP_PASSWORD = "canary-smtp-Pw-4f9d1c7e"
VAULT_SECRET = "canary-vault-Secret-8a2b"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        if isinstance(data, LoginPassword):
            self.logins.append((data.login, data.password))
            ok = data.login == SMTP_USER.encode() and data.password == SMTP_PASSWORD.encode()
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """aiosmtpd with STARTTLS required and AUTH required, restartable on the same port."""

    def __init__(self, tmp_path: Any) -> None:
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.ssl)
        self.ca_file = tmp_path / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            tls_context=self.ssl,
            require_starttls=True,
            auth_required=True,
            authenticator=self.inbox.authenticate,
            ready_timeout=10,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(tmp_path: Any, settings: Any) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path)
    server.start()
    settings.EMAIL_CA_FILE = str(server.ca_file)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def admin():
    return user_make("admin", username="root-admin", email="root@example.test")


@pytest.fixture
def configured(smtp: SmtpServer, admin: Any) -> SmtpServer:
    mail.email_settings_update(
        actor=admin,
        enabled=True,
        host="127.0.0.1",
        port=smtp.port,
        security="starttls",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        from_address="strongroom@example.test",
    )
    return smtp


def post(user: Any, kind: str, django_capture_on_commit_callbacks: Any, **kw: Any):
    kw.setdefault("title", "Your offline copy is in Dropbox")
    kw.setdefault("body", "12 entries synced.")
    with django_capture_on_commit_callbacks(execute=True):
        return notification_post(user=user, level="success", kind=kind, link="/sync/", **kw)


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


def assert_no_canary(smtp: SmtpServer, *more: str) -> None:
    for _, msg in smtp.inbox.messages:
        raw = msg.as_string()
        for canary in (SMTP_PASSWORD, VAULT_SECRET, *more):
            assert canary not in raw


def dump_db() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT host, username, from_address, password FROM strongroom_email_settings")
        return repr(cur.fetchall())


def test_a_chosen_notification_is_sent_over_starttls_with_both_parts(
    configured: SmtpServer, django_capture_on_commit_callbacks: Any, caplog: Any, settings: Any
):
    user = user_make(email="tech@example.test", full_name='<b>Eve</b> "x" <y@z>')
    mail.email_preferences_set(user=user, choices={"sync_landed": True})
    hostile = '<script>alert("x")</script> & <img src=x onerror=1>'
    note = post(user, "sync_landed", django_capture_on_commit_callbacks, body=hostile)

    assert len(configured.inbox.messages) == 1
    rcpt, msg = configured.inbox.messages[0]
    assert rcpt == ["tech@example.test"]
    assert msg["To"].addresses[0].addr_spec == "tech@example.test"
    # A hostile display name stays one quoted name: no extra recipient, no header injected.
    assert len(msg["To"].addresses) == 1
    assert msg["To"].addresses[0].display_name == '<b>Eve</b> "x" <y@z>'
    assert msg["Subject"] == "[Strongroom] Your offline copy is in Dropbox"
    outbox = EmailOutbox.objects.get(notification=note)
    assert outbox.state == OutboxState.SENT and outbox.attempts == 1
    assert msg["Message-ID"] == f"<{outbox.pk}@example.test>"
    plain, rich = parts(msg)
    assert hostile in plain and f"{settings.PUBLIC_URL}/sync/" in plain
    assert "<script>" not in rich and "<img" not in rich
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in rich
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert "/notifications/email/unsubscribe/" in unsubscribe
    assert unsubscribe in plain and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The server saw the right login; the password is in no message, log line or column.
    assert configured.inbox.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]
    assert_no_canary(configured)
    assert SMTP_PASSWORD not in caplog.text
    assert SMTP_PASSWORD not in dump_db() and SMTP_USER in dump_db()


def test_preferences_decide_who_gets_email(
    configured: SmtpServer, admin: Any, django_capture_on_commit_callbacks: Any
):
    user = user_make(email="quiet@example.test")
    # Off by default for a user's own kinds; nothing queued, the web notification stays.
    note = post(user, "sync_failed", django_capture_on_commit_callbacks)
    assert not EmailOutbox.objects.filter(notification=note).exists()
    # A kind with no email choice (general) never sends.
    mail.email_preferences_set(user=user, choices={"sync_failed": True})
    post(user, "", django_capture_on_commit_callbacks)
    assert configured.inbox.messages == []
    post(user, "sync_failed", django_capture_on_commit_callbacks)
    assert [r for r, _ in configured.inbox.messages] == [["quiet@example.test"]]
    # Administrators get configuration problems and audit-chain failures by default.
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            notification_post_admins(
                kind="audit_chain", level="error", title="The audit chain is broken"
            )
            == 1
        )
    assert configured.inbox.messages[-1][0] == ["root@example.test"]
    # Someone who is not an administrator cannot choose an administrator's kind.
    with pytest.raises(ValidationFailed):
        mail.email_preferences_set(user=user, choices={"audit_chain": True})
    with pytest.raises(ValidationFailed):
        mail.email_preferences_set(user=user, choices={"nonsense": True})
    assert mail.email_preferences_get(user=user)["sync_failed"] is True


def test_an_outage_retries_and_never_loses_or_duplicates(
    configured: SmtpServer, admin: Any, django_capture_on_commit_callbacks: Any
):
    user = user_make(email="field@example.test")
    mail.email_preferences_set(user=user, choices={"reauth_needed": True, "sync_failed": True})
    configured.stop()
    first = post(user, "reauth_needed", django_capture_on_commit_callbacks, title="Reconnect Box")
    second = post(user, "sync_failed", django_capture_on_commit_callbacks, title="Sync failed")
    rows = EmailOutbox.objects.filter(notification__in=[first, second])
    assert {(r.state, r.attempts) for r in rows} == {(OutboxState.PENDING, 1)}
    assert all("could not reach the SMTP server" in r.last_error for r in rows)
    # Not due yet: a sweep now sends nothing and counts no attempt.
    assert {d.state for d in mail.outbox_sweep()} <= {"busy"}
    # Still down when due: a second attempt, later again.
    later = timezone.now() + timedelta(seconds=31)
    assert [d.state for d in mail.outbox_sweep(now=later)] == ["retry", "retry"]
    admin_page = client_for(admin).get("/notifications/email/settings/").content.decode()
    assert "Pending: 2" in admin_page and "could not reach the SMTP server" in admin_page
    configured.start()
    much_later = timezone.now() + timedelta(hours=1)
    assert sorted(d.state for d in mail.outbox_sweep(now=much_later)) == ["sent", "sent"]
    # Sweeps, queue messages and deliveries again send nothing more.
    assert mail.outbox_sweep(now=much_later + timedelta(days=1)) == []
    for row in rows:
        assert mail.outbox_deliver(outbox_id=str(row.pk), now=much_later).state == "busy"
    subjects = sorted(m["Subject"] for _, m in configured.inbox.messages)
    assert subjects == ["[Strongroom] Reconnect Box", "[Strongroom] Sync failed"]
    assert (
        "Pending: 0 · Sent: 2"
        in client_for(admin).get("/notifications/email/settings/").content.decode()
    )
    assert {(r.state, r.attempts) for r in rows.all()} == {(OutboxState.SENT, 3)}
    assert Notification.objects.filter(user=user).count() == 2


def test_a_worker_holding_the_row_keeps_others_off():
    user = user_make(email="a@example.test")
    note = Notification.objects.create(user=user, level="info", title="t", kind="sync_failed")
    outbox = EmailOutbox.objects.create(notification=note)
    now = timezone.now()
    EmailOutbox.objects.filter(pk=outbox.pk).update(lease_until=now + timedelta(seconds=60))
    assert mail.outbox_deliver(outbox_id=str(outbox.pk), now=now).state == "busy"
    assert mail.outbox_due(now=now) == []


def test_unsubscribe_link_turns_that_kind_off_and_forged_links_are_refused(
    configured: SmtpServer, django_capture_on_commit_callbacks: Any
):
    user = user_make(email="u@example.test")
    mail.email_preferences_set(user=user, choices={"sync_landed": True, "sync_failed": True})
    post(user, "sync_landed", django_capture_on_commit_callbacks)
    url = configured.inbox.messages[0][1]["List-Unsubscribe"].strip("<>")
    path = url.split("://", 1)[1].split("/", 1)[1]
    anonymous = Client(enforce_csrf_checks=True)
    page = anonymous.get("/" + path)
    assert page.status_code == 200 and b"A sync landed" in page.content
    assert mail.email_preferences_get(user=user)["sync_landed"] is True  # GET changes nothing
    # One click (RFC 8058: a POST from the mail client, no session, no CSRF token).
    assert anonymous.post("/" + path).status_code == 200
    assert mail.email_preferences_get(user=user) | {} == {
        **mail.email_preferences_get(user=user),
        "sync_landed": False,
        "sync_failed": True,
    }
    post(user, "sync_landed", django_capture_on_commit_callbacks)
    assert len(configured.inbox.messages) == 1
    # Forged: another user's id under the same signature, or a tampered kind.
    token = path.rstrip("/").rsplit("/", 1)[1]
    forged = token.replace(token[-3:], "AAA" if token[-3:] != "AAA" else "BBB")
    for bad in (forged, "x" + token, "nonsense"):
        response = anonymous.post(f"/notifications/email/unsubscribe/{bad}/")
        assert response.status_code == 404
    with pytest.raises(NotFound):
        mail.unsubscribe_check(token[:-1])


def test_admin_page_and_api_configure_and_test_smtp(configured: SmtpServer, admin: Any):
    client = client_for(admin)
    page = client.get("/notifications/email/settings/")
    assert page.status_code == 200 and str(configured.port).encode() in page.content
    assert SMTP_PASSWORD.encode() not in page.content
    response = client.post("/notifications/email/settings/test/", {"to": "check@example.test"})
    assert response.status_code == 302
    rcpt, msg = configured.inbox.messages[-1]
    assert rcpt == ["check@example.test"] and msg["Subject"] == "[Strongroom] Test email"
    parts(msg)
    # A wrong password: the exact problem, nothing sent.
    mail.email_settings_update(
        actor=admin,
        enabled=True,
        host="127.0.0.1",
        port=configured.port,
        security="starttls",
        username=SMTP_USER,
        password="wrong",
        from_address="strongroom@example.test",
    )
    with pytest.raises(ValidationFailed, match="refused the user name or password"):
        mail.email_test_send(actor=admin, to="check@example.test")
    # The API: write-only password, the admin scope, the test action.
    secret = api_token_create(
        user=admin, name="email", scopes=["read", "write", "admin"], reauth=REAUTH_TRUSTED
    ).raw
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": configured.port,
        "security": "starttls",
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "from_address": "strongroom@example.test",
    }
    put = api.put("/api/v1/email/settings", json.dumps(body), content_type="application/json")
    assert put.status_code == 200, put.content
    assert put.json()["password_set"] is True and SMTP_PASSWORD not in put.content.decode()
    got = api.post(
        "/api/v1/email/settings/test",
        json.dumps({"to": "api@example.test"}),
        content_type="application/json",
    )
    assert got.status_code == 200 and got.json()["sent_to"] == "api@example.test"
    bad = api.put(
        "/api/v1/email/settings",
        json.dumps({**body, "security": "ssl3", "password": None}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "security"
    clear = api.put(
        "/api/v1/email/settings",
        json.dumps({**body, "security": "none", "password": None}),
        content_type="application/json",
    )
    assert clear.status_code == 400 and "only sent over TLS" in clear.json()["error"]["message"]
    assert api.get("/api/v1/email/settings").json()["security"] == "starttls"  # unchanged
    assert_no_canary(configured)
    # Not an administrator: refused.
    user = user_make()
    with pytest.raises(PermissionDenied):
        mail.email_test_send(actor=user, to="x@example.test")
    assert client_for(user).get("/notifications/email/settings/").status_code == 403


def test_account_page_and_api_choose_kinds(admin: Any):
    user = user_make(email="me@example.test")
    client = client_for(user)
    page = client.get("/notifications/email/")
    assert page.status_code == 200 and b"A sync landed" in page.content
    assert b"audit chain" not in page.content  # administrators' kinds only for them
    client.post("/notifications/email/", {"kinds": ["sync_failed", "shared_with_me"]})
    assert mail.email_preferences_get(user=user) == {
        "sync_landed": False,
        "sync_failed": True,
        "copy_passphrase": False,
        "reauth_needed": False,
        "shared_with_me": True,
    }
    secret = api_token_create(
        user=user, name="prefs", scopes=["read", "write"], reauth=REAUTH_TRUSTED
    ).raw
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    got = api.get("/api/v1/notifications/email-preferences")
    assert got.status_code == 200 and got.json()["kinds"]["shared_with_me"] is True
    put = api.put(
        "/api/v1/notifications/email-preferences",
        json.dumps({"kinds": {"shared_with_me": False}}),
        content_type="application/json",
    )
    assert put.status_code == 200 and put.json()["kinds"]["shared_with_me"] is False
    bad = api.put(
        "/api/v1/notifications/email-preferences",
        json.dumps({"kinds": {"audit_chain": True}}),
        content_type="application/json",
    )
    assert bad.status_code == 400


def test_shares_exports_and_a_broken_audit_chain_reach_the_right_people(
    configured: SmtpServer, admin: Any, django_capture_on_commit_callbacks: Any
):
    from strongroom.audit.models import AuditEvent
    from strongroom.exports.services import export_spreadsheet
    from strongroom.notifications.services import audit_chain_check
    from strongroom.vault.services import resource_create, share_grant

    owner = user_make("password_admin", email="owner@example.test")
    friend = user_make(email="friend@example.test")
    mail.email_preferences_set(user=friend, choices={"shared_with_me": True})
    resource = resource_create(actor=owner, name='<i>Core "switch"</i>')
    with django_capture_on_commit_callbacks(execute=True):
        share_grant(actor=owner, resource_id=resource.pk, user_id=friend.pk, level="view")
    rcpt, msg = configured.inbox.messages[-1]
    assert rcpt == ["friend@example.test"]
    plain, rich = parts(msg)
    assert '<i>Core "switch"</i>' in plain and "&lt;i&gt;Core &quot;switch&quot;" in rich
    assert f"/resources/{resource.pk}/" in plain
    # An administrator who asked for team exports hears of one; nobody else does.
    mail.email_preferences_set(user=admin, choices={"team_export": True})
    before = len(configured.inbox.messages)
    with django_capture_on_commit_callbacks(execute=True):
        export_spreadsheet(actor=owner, fmt="csv")
    assert [r for r, _ in configured.inbox.messages[before:]] == [["root@example.test"]]
    assert configured.inbox.messages[-1][1]["Subject"].startswith(
        f"[Strongroom] {owner.username} exported"
    )
    # A tampered audit record: the nightly check tells the administrators by email.
    with django_capture_on_commit_callbacks(execute=True):
        assert audit_chain_check() is True
    assert len(configured.inbox.messages) == before + 1
    AuditEvent.objects.filter(pk=AuditEvent.objects.order_by("seq").first().pk).update(
        object_name="forged"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert audit_chain_check() is False
    rcpt, msg = configured.inbox.messages[-1]
    assert rcpt == ["root@example.test"]
    assert msg["Subject"] == "[Strongroom] The audit trail failed verification"
    assert_no_canary(configured)


def test_cli_sends_a_test_email_and_shows_the_outbox(
    configured: SmtpServer, admin: Any, capsys: Any
):
    from strongroom.cli.main import main

    assert main(["email", "test", "--user", admin.username, "--to", "cli@example.test"]) == 0
    assert configured.inbox.messages[-1][0] == ["cli@example.test"]
    assert "a test email was sent to cli@example.test" in capsys.readouterr().out
    assert main(["email", "outbox", "--send-due"]) == 0
    out = capsys.readouterr().out
    assert "pending: 0" in out and "sent 0 of 0 due emails" in out
    assert main(["email", "test", "--user", user_make().username]) == 1
    assert "only an administrator" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_and_an_untrusted_certificate(
    smtp: SmtpServer, admin: Any, settings: Any, tmp_path: Any
):
    from strongroom.audit.models import AuditEvent

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tls = Controller(
        smtp.inbox,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        ssl_context=smtp.ssl,
        auth_required=True,
        # aiosmtpd does not count implicit TLS as TLS for its AUTH rule; the socket is TLS.
        auth_require_tls=False,
        authenticator=smtp.inbox.authenticate,
        ready_timeout=10,
    )
    tls.start()
    try:
        mail.email_settings_update(
            actor=admin,
            enabled=True,
            host="127.0.0.1",
            port=port,
            security="tls",
            username=SMTP_USER,
            password=SMTP_PASSWORD,
            from_address="strongroom@example.test",
        )
        assert mail.email_test_send(actor=admin) == "root@example.test"
        assert smtp.inbox.messages[-1][0] == ["root@example.test"]
        # Saving again without a password keeps the stored one (write-only field).
        mail.email_settings_update(
            actor=admin,
            enabled=True,
            host="127.0.0.1",
            port=port,
            security="tls",
            username=SMTP_USER,
            from_address="strongroom@example.test",
        )
        mail.email_test_send(actor=admin)
        assert len(smtp.inbox.messages) == 2
        # A certificate no trusted CA signed: refused before any credential is sent.
        settings.EMAIL_CA_FILE = ""
        logins = len(smtp.inbox.logins)
        with pytest.raises(ValidationFailed, match="TLS failed"):
            mail.email_test_send(actor=admin)
        assert len(smtp.inbox.logins) == logins and len(smtp.inbox.messages) == 2
    finally:
        tls.stop()
    records = AuditEvent.objects.filter(action="email.settings").order_by("seq")
    assert [r.details["password_changed"] for r in records] == [True, False]
    assert SMTP_PASSWORD not in json.dumps([r.details for r in records])
