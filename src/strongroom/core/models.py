"""Shared models: wrapped data keys and administrator settings."""

from __future__ import annotations

from typing import Any

from django.db import models


class SealedField(models.BinaryField):
    """Bytes produced by :func:`strongroom.core.secrets.seal` for this row and field.

    The column holds only ciphertext; services seal and unseal explicitly because the
    associated data needs the row's primary key. Every SealedField is found by key rotation
    through model introspection, so a new secret column needs no extra registration.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


class DataKey(models.Model):
    """A data key, stored only wrapped by a master key (envelope encryption)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        RETIRED = "retired"

    id = models.AutoField(primary_key=True)
    wrapped = models.BinaryField()
    master_key_id = models.CharField(max_length=16, db_index=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strongroom_data_key"


class Setting(models.Model):
    """One administrator setting (JSON value), read through core.settings_store."""

    key = models.CharField(max_length=100, primary_key=True)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strongroom_setting"
