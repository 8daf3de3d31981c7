"""Hash-chained audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from strongroom.core.models import SealedField


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, default="success")
    object_type = models.CharField(max_length=64, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    object_name = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    client_ip = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "strongroom_audit_event"
        ordering = ["-seq"]
        # A user's own newest records first: the "recently used" list reads the last
        # retrievals of one actor without sorting everything they ever did.
        indexes = [models.Index(fields=["actor", "-seq"], name="audit_event_actor_seq")]


class AuditChainHead(models.Model):
    """Singleton row (pk=1): the last link of the chain, and the chain's MAC key (sealed).

    Writers lock this row, so records are appended one at a time in a single order.
    ``head_mac`` authenticates ``seq`` and ``hash`` under a key derived from the chain key,
    so moving the head back over deleted records needs the master key. ``anchored_seq`` is
    the last sequence number written to the anchors (only decides when to anchor next).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    mac_key = SealedField()
    head_mac = models.CharField(max_length=64, blank=True, default="")
    anchored_seq = models.BigIntegerField(default=0)

    class Meta:
        db_table = "strongroom_audit_head"
