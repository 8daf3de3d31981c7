"""Deactivating a user erases their storage credentials and deletes their synced copies.

Connected to ``pre_save`` of the user model: when a save turns ``is_active`` from True to
False (``accounts.services.user_deactivate`` saves with ``update_fields=["is_active"]``),
the credentials are erased in the same transaction (audited) and the synced copies are
deleted after commit, best effort, with the providers built before the erase. A bulk
``QuerySet.update(is_active=False)`` bypasses signals: call
``storage.services.user_storage_erase(user=...)`` there.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver

logger = logging.getLogger(__name__)


@receiver(pre_save, sender=get_user_model(), dispatch_uid="storage_user_deactivated")
def _user_deactivated(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.pk is None or instance.is_active:
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "is_active" not in update_fields:
        return
    was_active = sender.objects.filter(pk=instance.pk, is_active=True).exists()
    if not was_active:
        return
    from strongroom.storage.services import user_storage_erase

    deleters = user_storage_erase(user=instance)
    for deleter in deleters:
        transaction.on_commit(deleter)
