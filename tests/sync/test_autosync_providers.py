"""Auto-synchronisation with the OAuth providers (issue 8 applies to every provider): kept
copies on Dropbox and Box (their HTTPS stand-ins) and S3 (moto) are each rebuilt once per
debounce window after a shared password changes, a Box rebuild is a new version of the same
file, revoked access leaves the next file; a provider that refuses the refresh token pauses
the copy with one notification and no further requests until the user reconnects through
the real OAuth flow, after which the next file holds the current state.

Connections are made (and re-made) with ``storage_oauth_begin`` / ``storage_oauth_complete``
and the stand-ins' consent pages; time is driven with the services' ``clock`` argument;
uploads happen for real."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from strongroom.accounts.models import User
from strongroom.notifications.models import Notification
from strongroom.storage import oauth
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync import copies as sync_copies
from strongroom.sync import services as sync
from strongroom.sync.models import AutoState, JobState, SyncCopy
from strongroom.vault import services as vault
from strongroom.vault.models import AccessLevel

from .helpers import (
    PASSPHRASE,
    Clock,
    account_make,
    admin,
    auto_jobs,
    kept_copy,
    opened,
    resource_make,
    user_make,
)

pytestmark = pytest.mark.django_db

DEBOUNCE = 60


class DropboxCloud:
    """Dropbox as a user meets it: an account at the stand-in, connected by the paste flow."""

    provider = "dropbox"

    def __init__(self, standin: Any) -> None:
        self.standin = standin
        self.accounts: dict[Any, str] = {}

    def connect(self, user: User) -> StorageConnection:
        """Authorise (or re-authorise) ``user``'s Dropbox account through the real service:
        the consent page, Allow, the code pasted back."""
        if user.pk not in self.accounts:
            self.accounts[user.pk] = self.standin.add_account(
                f"{user.username} Example", f"{user.username}@example.com"
            )
        start = oauth.storage_oauth_begin(actor=user, provider="dropbox")
        self.standin.signed_in = self.accounts[user.pk]
        page = requests.get(start.authorize_url, verify=self.standin.ca_path, timeout=10)
        assert page.status_code == 200, page.text
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text))
        action = urlsplit(start.authorize_url)._replace(query="").geturl()
        shown = requests.post(action, data=fields, verify=self.standin.ca_path, timeout=10)
        assert shown.status_code == 200, shown.text
        code = re.search(r'id="code" readonly value="([^"]+)"', shown.text)
        assert code is not None, shown.text
        return oauth.storage_oauth_complete(
            actor=user, provider="dropbox", state=start.state, code=code.group(1)
        )

    def latest(self, copy: SyncCopy) -> bytes:
        return self.standin.files(self.accounts[copy.user_id])["/" + copy.object_name]

    def uploads(self) -> int:
        """Upload requests seen since the last ``forget``."""
        return self.standin.count("/2/files/upload") + self.standin.count(
            "/2/files/upload_session/start"
        )

    def refusals(self) -> int:
        """Uploads turned down for the revoked token since the last ``forget``."""
        return self.standin.count("/2/files/upload", status=401)

    def requests_seen(self) -> int:
        return len(self.standin.requests)

    def forget(self) -> None:
        self.standin.requests.clear()

    def refuse(self, conn: StorageConnection) -> None:
        """The user removes the app at Dropbox: its refresh token and access tokens die."""
        stored = storage.unsealed_credentials(StorageConnection.objects.get(pk=conn.pk))
        self.standin.revoke_refresh(stored["refresh_token"])


class BoxCloud:
    """Box as a user meets it: a user at the stand-in, connected by the redirect flow."""

    provider = "box"

    def __init__(self, standin: Any) -> None:
        self.standin = standin
        self.users: dict[Any, str] = {}

    def connect(self, user: User) -> StorageConnection:
        """Authorise (or re-authorise) ``user``'s Box account through the real service: the
        consent page redirects back with the code and the state."""
        if user.pk not in self.users:
            self.users[user.pk] = self.standin.add_user(
                f"Box {user.username}", f"{user.username}@example.com"
            ).id
        start = oauth.storage_oauth_begin(actor=user, provider="box")
        self.standin.authorize_as = self.users[user.pk]
        resp = requests.get(
            start.authorize_url, verify=self.standin.ca_path, allow_redirects=False, timeout=10
        )
        assert resp.status_code == 302, resp.text
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert query["state"] == [start.state]
        return oauth.storage_oauth_complete(
            actor=user, provider="box", state=start.state, code=query["code"][0]
        )

    def items(self, copy: SyncCopy) -> list[Any]:
        return self.standin.files(self.users[copy.user_id])

    def latest(self, copy: SyncCopy) -> bytes:
        return self.standin.read(self.users[copy.user_id], copy.object_name)

    def uploads(self) -> int:
        """Upload requests (a new file, a new version, or an upload session) since the last
        ``forget``."""
        upload = re.compile(r"^POST /api/2\.0/files/(\d+/)?(content|upload_sessions)$")
        return sum(1 for line in self.standin.log if upload.match(line))

    def refusals(self) -> int:
        """Refresh requests since the last ``forget`` (the spent refresh token is refused)."""
        return self.standin.log.count("POST /oauth2/token")

    def requests_seen(self) -> int:
        return len(self.standin.log)

    def forget(self) -> None:
        self.standin.log.clear()

    def refuse(self, conn: StorageConnection) -> None:
        """The access token expires and Box refuses the refresh token (the user revoked the
        app): the provider's refresh after the 401 is turned down."""
        stored = storage.unsealed_credentials(StorageConnection.objects.get(pk=conn.pk))
        self.standin.expire_access(stored["access_token"])
        with self.standin.lock:
            self.standin.refresh[stored["refresh_token"]]["used"] = True


@pytest.fixture
def dropbox_cloud(dropbox_api: Any) -> DropboxCloud:
    storage.provider_settings_update(
        actor=admin(), provider="dropbox", enabled=True, config={"app_key": dropbox_api.app_key}
    )
    return DropboxCloud(dropbox_api)


@pytest.fixture
def box_cloud(box_api: Any) -> Iterator[BoxCloud]:
    box_api.redirect_uris.add(oauth.oauth_redirect_uri("box"))
    storage.provider_settings_update(
        actor=admin(),
        provider="box",
        enabled=True,
        secret={"client_id": box_api.client_id, "client_secret": box_api.client_secret},
    )
    # The stand-in lives for the session and its clear() keeps the consenting user: later
    # tests expect the default one.
    consenting = box_api.authorize_as
    yield BoxCloud(box_api)
    box_api.authorize_as = consenting


@pytest.fixture
def both_clouds(dropbox_cloud, box_cloud, tmp_path, settings) -> tuple[DropboxCloud, BoxCloud]:
    """Both stand-ins in one test: each one's fixture points PROVIDER_CA_BUNDLE at its own
    CA only, so the setting becomes a bundle of the two."""
    bundle = tmp_path / "standin-cas.pem"
    bundle.write_bytes(
        Path(dropbox_cloud.standin.ca_path).read_bytes()
        + b"\n"
        + Path(box_cloud.standin.ca_path).read_bytes()
    )
    settings.PROVIDER_CA_BUNDLE = str(bundle)
    return dropbox_cloud, box_cloud


@pytest.fixture(params=["dropbox", "box"])
def oauth_cloud(request: Any) -> DropboxCloud | BoxCloud:
    return request.getfixturevalue(f"{request.param}_cloud")


def _due_together(copies: list[SyncCopy], edited_from, edited_to) -> Any:
    """The copies' common rebuild time: one debounce window after the change."""
    dues = set()
    for copy in copies:
        copy.refresh_from_db()
        assert copy.change_seq == copy.built_seq + 1
        assert copy.due_at is not None
        assert (
            edited_from + timedelta(seconds=DEBOUNCE)
            <= copy.due_at
            <= edited_to + timedelta(seconds=DEBOUNCE)
        )
        dues.add(copy.due_at)
    return max(dues)


def test_shared_password_on_dropbox_box_and_s3_copies_rebuilt_once_and_revoke_removes_it(
    both_clouds, s3_connect, s3_enabled, moto, cheap_policy, run, enqueued, settings
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = DEBOUNCE
    dropbox_cloud, box_cloud = both_clouds
    owner = user_make("password_admin")
    dana, bert, sam = (user_make("password_user") for _ in range(3))
    resource = resource_make(owner, name=f"core-router-{uuid.uuid4().hex[:4]}")
    account = account_make(owner, resource, username="admin", password="old-Secret-1")
    shares = {
        user.pk: run(
            vault.share_grant,
            actor=owner,
            resource_id=resource.pk,
            user_id=user.pk,
            level=AccessLevel.VIEW,
        )
        for user in (dana, bert, sam)
    }
    s3_conn, bucket = s3_connect(sam)
    on_dropbox = kept_copy(dana, dropbox_cloud.connect(dana), run)
    on_box = kept_copy(bert, box_cloud.connect(bert), run)
    on_s3 = kept_copy(sam, s3_conn, run)
    copies = [on_dropbox, on_box, on_s3]
    assert [c.connection.provider for c in copies] == ["dropbox", "box", "s3"]

    def s3_latest() -> bytes:
        return moto.client().get_object(Bucket=bucket, Key=on_s3.object_name)["Body"].read()

    def uploads() -> list[int]:
        """Upload requests at each provider (S3: through the proxy in front of moto)."""
        s3_puts = sum(
            1 for r in s3_enabled.requests if r.method == "PUT" and on_s3.object_name in r.target
        )
        return [dropbox_cloud.uploads(), box_cloud.uploads(), s3_puts]

    def latest() -> list[bytes]:
        return [dropbox_cloud.latest(on_dropbox), box_cloud.latest(on_box), s3_latest()]

    entry = (resource.name, "admin")
    assert [opened(html) for html in latest()] == [{entry: "old-Secret-1"}] * 3
    [box_file] = box_cloud.items(on_box)
    assert len(box_file.versions) == 1
    dropbox_cloud.forget()
    box_cloud.forget()
    s3_enabled.requests.clear()
    enqueued.clear()

    clock = Clock(start=timezone.now())
    edited_from = timezone.now()
    run(vault.account_update, actor=owner, account_id=account.pk, password="new-Secret-2")
    due = _due_together(copies, edited_from, timezone.now())
    # The debounced queue messages name the three copies (their IDs only).
    scheduled = sorted(pk for name, args, _kw, _ in enqueued for pk in args[0])
    assert all(name.endswith("sync_copies_rebuild") for name, *_ in enqueued)
    assert scheduled == sorted(str(c.pk) for c in copies)

    clock.now = due - timedelta(seconds=1)  # inside the window: nothing yet
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
    assert uploads() == [0, 0, 0]
    clock.now = due
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 3
    clock.advance(1)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
    assert uploads() == [1, 1, 1]  # once each
    for copy in copies:
        [job] = auto_jobs(copy)
        assert job.state == JobState.SUCCEEDED, job.last_error
        copy.refresh_from_db()
        assert copy.is_current
    # Each opens with the passphrase given at set-up (the server kept none) and holds the
    # new password.
    assert [opened(html, PASSPHRASE) for html in latest()] == [{entry: "new-Secret-2"}] * 3
    # On Box the rebuild is a new version of the same file, not a second file.
    [box_file_now] = box_cloud.items(on_box)
    assert box_file_now.id == box_file.id and len(box_file_now.versions) == 2
    assert opened(box_file_now.versions[0]) == {entry: "old-Secret-1"}
    assert opened(box_file_now.versions[1]) == {entry: "new-Secret-2"}

    # Revoke Bert (Box): his next file no longer holds the entry; the others get no upload.
    edited_from = timezone.now()
    run(vault.share_revoke, actor=owner, share_id=shares[bert.pk].pk)
    revoke_due = _due_together([on_box], edited_from, timezone.now())
    # At most one upload per window: not before a window has passed since the last began.
    assert on_box.last_started_at == due
    clock.now = due + timedelta(seconds=DEBOUNCE - 1)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
    assert uploads() == [1, 1, 1]
    clock.now = max(revoke_due, due + timedelta(seconds=DEBOUNCE))
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 1
    assert uploads() == [1, 2, 1]
    assert [len(auto_jobs(c)) for c in copies] == [1, 2, 1]
    [box_file_now] = box_cloud.items(on_box)
    assert box_file_now.id == box_file.id and len(box_file_now.versions) == 3
    assert opened(box_file_now.versions[2]) == {}
    assert [opened(html) for html in latest()] == [
        {entry: "new-Secret-2"},
        {},
        {entry: "new-Secret-2"},
    ]


def test_refused_refresh_token_pauses_the_kept_copy_once_and_reconnecting_resumes_it(
    oauth_cloud, cheap_policy, run, enqueued, settings
):
    settings.STRONGROOM_SYNC_DEBOUNCE_SECONDS = DEBOUNCE
    cloud = oauth_cloud
    bob = user_make("password_admin")
    resource = resource_make(bob, name=f"edge-switch-{uuid.uuid4().hex[:4]}")
    account = account_make(bob, resource, username="admin", password="pw-0")
    entry = (resource.name, "admin")
    conn = cloud.connect(bob)
    copy = kept_copy(bob, conn, run)
    Notification.objects.all().delete()

    # A change makes the copy due; before the rebuild runs the provider refuses the tokens.
    clock = Clock(start=timezone.now())
    edited_from = timezone.now()
    run(vault.account_update, actor=bob, account_id=account.pk, password="pw-1")
    due = _due_together([copy], edited_from, timezone.now())
    cloud.refuse(conn)
    cloud.forget()
    clock.now = due
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 1
    [failed] = auto_jobs(copy)
    assert failed.state == JobState.FAILED and failed.error_code == "storage_auth"
    assert failed.attempts == 1 and failed.next_attempt_at is None
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.PAUSED and copy.keep_in_sync
    conn.refresh_from_db()
    assert conn.status == StorageConnection.Status.NEEDS_REAUTH and conn.credentials is None
    [note] = Notification.objects.filter(user=bob)
    assert note.level == "error" and note.title.startswith("Reconnect ")
    assert opened(cloud.latest(copy)) == {entry: "pw-0"}  # the last good copy stays
    assert cloud.refusals() == 1
    seen_at_failure = cloud.requests_seen()

    # Further changes are counted but start nothing: no job, no queue message, no request
    # to the provider, no second notification; the job sweep finds nothing to retry.
    enqueued.clear()
    for i in range(2, 6):
        run(vault.account_update, actor=bob, account_id=account.pk, password=f"pw-{i}")
        clock.advance(DEBOUNCE + 1)
        result = run(sync_copies.sync_copies_sweep, clock=clock)
        assert (result.resumed, result.started) == (0, 0)
        run(sync.sync_jobs_sweep, now=clock.now)
    assert [name for name, *_ in enqueued if "sync" in name] == []
    assert len(auto_jobs(copy)) == 1
    assert cloud.requests_seen() == seen_at_failure
    assert Notification.objects.filter(user=bob).count() == 1
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.PAUSED and copy.due_at is None
    assert copy.change_seq == copy.built_seq + 4

    # The user reconnects through the real OAuth flow: the next sweep resumes the copy and
    # rebuilds it at once with the current state.
    again = cloud.connect(bob)
    assert again.pk == conn.pk and again.status == StorageConnection.Status.CONNECTED
    cloud.forget()
    clock.advance(1)
    result = run(sync_copies.sync_copies_sweep, clock=clock)
    assert (result.resumed, result.started) == (1, 1)
    jobs = auto_jobs(copy)
    assert len(jobs) == 2 and jobs[-1].state == JobState.SUCCEEDED, jobs[-1].last_error
    assert cloud.uploads() == 1
    assert opened(cloud.latest(copy), PASSPHRASE) == {entry: "pw-5"}
    copy.refresh_from_db()
    assert copy.auto_state == AutoState.ACTIVE and copy.is_current
    assert Notification.objects.filter(user=bob, level="error").count() == 1
    clock.advance(1)
    assert run(sync_copies.sync_copies_sweep, clock=clock).started == 0
