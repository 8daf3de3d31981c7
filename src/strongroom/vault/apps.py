from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _search_index_ensure(sender: AppConfig, *, using: str = "default", **kwargs: Any) -> None:
    """SQLite drops a table's triggers when Django's schema editor rebuilds the table: put
    the search index back after every migrate (vault.search)."""
    from django.db import connections

    from strongroom.vault.search import index_ensure

    index_ensure(connection=connections[using])


def _memberships_changed(sender: Any, *, user_ids: list[Any], **kwargs: Any) -> None:
    """Someone's user groups changed: rewrite their rows of the visibility table."""
    from strongroom.vault.visibility import refresh

    refresh(user_ids=user_ids)


class VaultConfig(AppConfig):
    name = "strongroom.vault"
    label = "vault"

    def ready(self) -> None:
        from strongroom.core.events import memberships_changed_signal

        post_migrate.connect(_search_index_ensure, sender=self)
        memberships_changed_signal.connect(_memberships_changed, dispatch_uid="vault.visibility")
