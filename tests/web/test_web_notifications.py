"""Notifications: the service the export and sync work call, the polled JSON feed, dismissing,
the list page and the REST API. Nobody sees or dismisses another user's notifications."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from factories import user_make
from strongroom.accounts import services as account_services
from strongroom.core.errors import NotFound, ValidationFailed
from strongroom.notifications import selectors
from strongroom.notifications.models import Notification
from strongroom.notifications.services import (
    notification_mark_all_read,
    notification_mark_read,
    notification_post,
)

from .conftest import client_for

pytestmark = pytest.mark.django_db


def test_post_validates_level_title_and_link():
    user = user_make()
    note = notification_post(
        user=user, level="success", title="  Export ready ", body="x", link="/exports/1/"
    )
    assert (note.title, note.level, note.link, note.read_at) == (
        "Export ready",
        "success",
        "/exports/1/",
        None,
    )
    for kwargs, field in [
        ({"level": "panic", "title": "t"}, "level"),
        ({"level": "info", "title": "  "}, "title"),
        ({"level": "info", "title": "x" * 201}, "title"),
        ({"level": "info", "title": "a\x00b"}, "title"),
        ({"level": "info", "title": "t", "body": "b" * 5001}, "body"),
        ({"level": "info", "title": "t", "link": "https://evil.test/"}, "link"),
        ({"level": "info", "title": "t", "link": "//evil.test/"}, "link"),
        ({"level": "info", "title": "t", "link": "/\\evil.test"}, "link"),
        ({"level": "info", "title": "t", "link": "javascript:alert(1)"}, "link"),
        ({"level": "info", "title": "t", "link": "/a b"}, "link"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            notification_post(user=user, **kwargs)
        assert caught.value.details["field"] == field
    assert Notification.objects.count() == 1


def test_feed_lists_the_newest_unread_and_the_count():
    user = user_make()
    for index in range(7):
        notification_post(user=user, level="info", title=f"n{index}")
    notification_post(user=user_make(), level="info", title="someone else's")
    feed = client_for(user).get(reverse("notifications:feed"))
    assert feed["Cache-Control"] == "no-store"
    data = feed.json()
    assert data["signed_in"] is True and data["unread"] == 7
    assert [item["title"] for item in data["items"]] == ["n6", "n5", "n4", "n3", "n2"]
    assert set(data["items"][0]) == {"id", "level", "title", "body", "link", "created_at", "read"}


def test_dismissing_marks_read_once_and_only_your_own():
    owner = user_make()
    note = notification_post(user=owner, level="warning", title="Sync slow")
    other = client_for(user_make())
    url = reverse("notifications:read", args=[note.pk])
    assert other.post(url, headers={"Accept": "application/json"}).status_code == 404
    note.refresh_from_db()
    assert note.read_at is None
    client = client_for(owner)
    response = client.post(url, headers={"Accept": "application/json"})
    assert response.json()["unread"] == 0 and response.json()["notification"]["read"] is True
    note.refresh_from_db()
    first_read = note.read_at
    assert first_read is not None
    assert client.post(url)["Location"] == reverse("notifications:list")
    note.refresh_from_db()
    assert note.read_at == first_read
    assert client.post(reverse("notifications:read", args=["junk"])).status_code == 404


def test_dismissing_needs_the_csrf_token():
    owner = user_make()
    note = notification_post(user=owner, level="info", title="x")
    client = client_for(owner, csrf=True)
    client.get(reverse("notifications:list"))
    token = client.cookies["csrftoken"].value
    url = reverse("notifications:read", args=[note.pk])
    assert client.post(url).status_code == 403
    assert client.post(url, headers={"X-CSRFToken": token}).status_code == 302


def test_list_page_marks_all_read_and_escapes():
    user = user_make()
    notification_post(
        user=user,
        level="error",
        title="<img src=x onerror=alert(1)>",
        body="line one\n<script>alert(1)</script>",
        link="/account/",
    )
    notification_post(user=user, level="success", title="Done")
    client = client_for(user)
    html = client.get(reverse("notifications:list")).content.decode()
    body = html.split('<main id="main"')[1]
    assert "<img src=x" not in body and "<script>alert" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and "line one<br>" in body
    assert 'href="/account/"' in body
    unread = client.get(reverse("notifications:list"), {"show": "unread"}).content.decode()
    assert unread.count('class="note ') == 2
    client.post(reverse("notifications:read_all"))
    assert selectors.notification_unread_count(user=user) == 0
    assert (
        "No unread notifications."
        in client.get(reverse("notifications:list"), {"show": "unread"}).content.decode()
    )


def test_services_mark_read():
    user = user_make()
    a = notification_post(user=user, level="info", title="a")
    notification_post(user=user, level="info", title="b")
    with pytest.raises(NotFound):
        notification_mark_read(user=user_make(), notification_id=a.pk)
    assert notification_mark_read(user=user, notification_id=a.pk).read_at is not None
    assert notification_mark_all_read(user=user) == 1
    assert notification_mark_all_read(user=user) == 0


def test_rest_api_lists_and_marks_read():
    user = user_make()
    raw = account_services.api_token_create(
        user=user, name="t", reauth=account_services.REAUTH_TRUSTED
    ).raw
    headers = {"Authorization": f"Bearer {raw}"}
    first = notification_post(user=user, level="info", title="one")
    notification_post(user=user, level="success", title="two")
    notification_post(user=user_make(), level="info", title="not yours")
    api = Client()
    page = api.get("/api/v1/notifications", headers=headers).json()
    assert [n["title"] for n in page["items"]] == ["two", "one"]
    assert (page["unread"], page["total"]) == (2, 2)
    marked = api.post(f"/api/v1/notifications/{first.pk}/read", headers=headers)
    assert marked.status_code == 200 and marked.json()["read_at"] is not None
    unread = api.get("/api/v1/notifications?unread_only=true", headers=headers).json()
    assert [n["title"] for n in unread["items"]] == ["two"]
    assert api.post("/api/v1/notifications/read-all", headers=headers).json() == {"marked": 1}
    other = notification_post(user=user_make(), level="info", title="x")
    missing = api.post(f"/api/v1/notifications/{other.pk}/read", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/notifications").status_code == 401
