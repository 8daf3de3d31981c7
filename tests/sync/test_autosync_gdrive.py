"""A kept copy on Google Drive: when Google refuses the refresh token (the user removed the
app's access), the copy is paused with one notification, nothing more is sent, and
reconnecting through the real OAuth flow resumes it. The scenario is the shared one of
test_autosync_providers.py, run here with Google Drive as the cloud (its own module, so the
OAuth providers' helpers do not edit one file)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from strongroom.accounts.models import User
from strongroom.storage import oauth
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync.models import SyncCopy

from .helpers import admin
from .test_autosync_providers import (
    test_refused_refresh_token_pauses_the_kept_copy_once_and_reconnecting_resumes_it,
)

pytestmark = pytest.mark.django_db

__all__ = ["test_refused_refresh_token_pauses_the_kept_copy_once_and_reconnecting_resumes_it"]


class GDriveCloud:
    """Google Drive as a user meets it: a Google user at the stand-in, connected by the
    redirect flow (PKCE, state, offline access)."""

    provider = "gdrive"

    def __init__(self, standin: Any) -> None:
        self.standin = standin
        self.users: dict[Any, str] = {}

    def connect(self, user: User) -> StorageConnection:
        if user.pk not in self.users:
            self.users[user.pk] = self.standin.add_user(
                f"Drive {user.username}", f"{user.username}@example.com"
            ).id
        start = oauth.storage_oauth_begin(actor=user, provider="gdrive")
        self.standin.authorize_as = self.users[user.pk]
        resp = requests.get(
            start.authorize_url, verify=self.standin.ca_path, allow_redirects=False, timeout=10
        )
        assert resp.status_code == 302, resp.text
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert query["state"] == [start.state]
        return oauth.storage_oauth_complete(
            actor=user, provider="gdrive", state=start.state, code=query["code"][0]
        )

    def latest(self, copy: SyncCopy) -> bytes:
        return self.standin.read(self.users[copy.user_id], copy.object_name)

    def uploads(self) -> int:
        """Upload requests (multipart, or the start of a resumable session) since ``forget``."""
        upload = re.compile(r"^(POST|PATCH) /upload/drive/v3/files(/[^?]+)?\?(?!.*upload_id)")
        return sum(1 for line in self.standin.log if upload.match(line))

    def refusals(self) -> int:
        """Refresh requests since the last ``forget`` (the revoked grant's are refused)."""
        return sum(1 for line in self.standin.log if line.startswith("POST /token"))

    def requests_seen(self) -> int:
        return len(self.standin.log)

    def forget(self) -> None:
        self.standin.log.clear()

    def refuse(self, conn: StorageConnection) -> None:
        """The user removes the app's access in their Google account: the grant ends."""
        stored = storage.unsealed_credentials(StorageConnection.objects.get(pk=conn.pk))
        assert self.standin.revoke_grant(stored["refresh_token"])


@pytest.fixture
def oauth_cloud(gdrive_api: Any) -> Any:
    gdrive_api.redirect_uris.add(oauth.oauth_redirect_uri("gdrive"))
    storage.provider_settings_update(
        actor=admin(),
        provider="gdrive",
        enabled=True,
        secret={"client_id": gdrive_api.client_id, "client_secret": gdrive_api.client_secret},
    )
    consenting = gdrive_api.authorize_as
    yield GDriveCloud(gdrive_api)
    gdrive_api.authorize_as = consenting
