"""Auto-sync with OneDrive: the OAuth providers' kept-copy scenario of
test_autosync_providers.py, run here with OneDrive as its ``oauth_cloud`` (this module's
fixture): Microsoft refuses the refresh token (the user removed the app's consent), the kept
copy pauses with exactly one notification and no further requests, and reconnecting
through the real redirect flow (MSAL, PKCE, state) resumes it with the current state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from strongroom.accounts.models import User
from strongroom.storage import oauth
from strongroom.storage import services as storage
from strongroom.storage.models import StorageConnection
from strongroom.sync.models import SyncCopy

from .targets import onedrive as targets_onedrive
from .test_autosync_providers import (
    test_refused_refresh_token_pauses_the_kept_copy_once_and_reconnecting_resumes_it,  # noqa: F401
)

pytestmark = pytest.mark.django_db


class OneDriveCloud:
    """OneDrive as a user meets it: a Microsoft account at the stand-in, connected by the
    redirect flow."""

    provider = "onedrive"

    def __init__(self, standin: Any) -> None:
        self.standin = standin
        self.users: dict[Any, str] = {}

    def connect(self, user: User) -> StorageConnection:
        if user.pk not in self.users:
            self.users[user.pk] = self.standin.add_user(f"MS {user.username}").id
        start = oauth.storage_oauth_begin(actor=user, provider="onedrive")
        self.standin.authorize_as = self.users[user.pk]
        resp = requests.get(
            start.authorize_url, verify=self.standin.ca_path, allow_redirects=False, timeout=10
        )
        assert resp.status_code == 302, resp.text
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert query["state"] == [start.state]
        return oauth.storage_oauth_complete(
            actor=user, provider="onedrive", state=start.state, code=query["code"][0]
        )

    def latest(self, copy: SyncCopy) -> bytes:
        return self.standin.read(self.users[copy.user_id], copy.object_name)

    def uploads(self) -> int:
        """Uploads since the last ``forget``: simple PUTs and upload sessions opened."""
        return sum(
            1
            for line in self.standin.log
            if line.startswith("PUT /v1.0/me/drive/special/approot:/")
            or line.endswith(":/createUploadSession")
        )

    def refusals(self) -> int:
        return sum(1 for line in self.standin.log if line.endswith("/oauth2/v2.0/token"))

    def requests_seen(self) -> int:
        return len(self.standin.log)

    def forget(self) -> None:
        self.standin.log.clear()

    def refuse(self, conn: StorageConnection) -> None:
        """The access token expires and Microsoft refuses the refresh token."""
        stored = storage.unsealed_credentials(StorageConnection.objects.get(pk=conn.pk))
        with self.standin.lock:
            self.standin.access[stored["access_token"]]["expires"] = 0
            self.standin.refresh[stored["refresh_token"]]["used"] = True


@pytest.fixture
def oauth_cloud(graph_api: Any) -> Iterator[OneDriveCloud]:
    graph_api.redirect_uris.add(oauth.oauth_redirect_uri("onedrive"))
    targets_onedrive.enable(graph_api)
    consenting = graph_api.authorize_as
    yield OneDriveCloud(graph_api)
    graph_api.authorize_as = consenting
