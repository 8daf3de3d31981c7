"""Storage test helpers: people and settings made through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.test import Client

from factories import admin_get, user_make
from strongroom.accounts import services as people
from strongroom.accounts.models import User
from strongroom.storage import services

from .moto_server import S3Credentials

# The storage tests make people with the shared factory (tests/factories.py).
__all__ = ["user_make"]


def admin() -> User:
    return admin_get("storage-admin")


def enable_s3(*endpoints: str, chunk_threshold: int | None = None) -> None:
    config: dict[str, Any] = {"endpoints": list(endpoints)}
    if chunk_threshold:
        config["chunk_threshold"] = chunk_threshold
    services.provider_settings_update(actor=admin(), provider="s3", enabled=True, config=config)


def allow_internal_proxy(port: int, host: str = "127.0.0.1") -> None:
    """What an operator does with STRONGROOM_PROXY_INTERNAL_ALLOWED (restored after the test
    by the storage conftest's ``settings`` fixture)."""
    from django.conf import settings

    settings.STORAGE_PROXY_INTERNAL_ALLOWED = [
        *settings.STORAGE_PROXY_INTERNAL_ALLOWED,
        f"{host}:{port}",
    ]


def enable_local(base_dir: Any) -> None:
    services.provider_settings_update(
        actor=admin(), provider="local", enabled=True, config={"base_dir": str(base_dir)}
    )


def s3_input(
    creds: S3Credentials, endpoint: str, *, bucket: str | None = None, **changes: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    config = {
        "bucket": bucket or creds.bucket,
        "region": creds.region,
        "prefix": changes.pop("prefix", "people/"),
        "endpoint": endpoint,
    }
    credentials = {
        "access_key_id": changes.pop("access_key_id", creds.access_key_id),
        "secret_access_key": changes.pop("secret_access_key", creds.secret_access_key),
    }
    return config, credentials


@dataclass
class Api:
    token: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.token}"}}
        if body is not None:
            kwargs["data"] = body
            kwargs["content_type"] = "application/json"
        return getattr(Client(), method)(f"/api/v1{path}", **kwargs)

    def get(self, path: str) -> Any:
        return self.call("get", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("post", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.call("put", path, body)

    def delete(self, path: str) -> Any:
        return self.call("delete", path)


def api_for(user: User) -> Api:
    return Api(
        token=people.api_token_create(
            user=user, name="storage tests", reauth=people.REAUTH_TRUSTED
        ).raw
    )
