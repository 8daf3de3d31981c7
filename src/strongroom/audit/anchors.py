"""Anchors: the chain head's sequence number and hash, MAC'd, written outside the database.

A database writer can delete the newest records and put back an older head row it saved;
the chain then looks whole. An anchor says "on this date the chain reached record N with
hash H", and lives where that writer cannot rewrite it:

- the log stream: one line ``audit-anchor {json}`` through the logging system (collected
  by journald, a syslog server or a log shipper);
- optionally an append-only file ``<STRONGROOM_AUDIT_ANCHOR_DIR>/audit-anchors.jsonl``
  (make it append-only with ``chattr +a`` or put the directory on another host);
- optionally a write-once S3 bucket (Object Lock, COMPLIANCE or GOVERNANCE retention): one
  object per anchor, which nobody can delete or overwrite until its retention ends.

Each anchor carries an HMAC-SHA256 under a key derived from the chain key (so only the
master key holder can make one, and an edited anchor fails). ``strongroom audit verify
--anchors SOURCE`` checks that the chain reaches every anchor's record with the anchored hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from strongroom.audit.models import AuditChainHead
from strongroom.core.errors import AppError, AuditUnavailable, ErrorCode

logger = logging.getLogger(__name__)
# Anchors are written even when a one-shot command quietens the root logger to WARNING.
anchor_log = logging.getLogger("strongroom.audit.anchor")
anchor_log.setLevel(logging.INFO)

LOG_MARKER = "audit-anchor "
FILE_NAME = "audit-anchors.jsonl"
VERSION = 1


class AnchorSourceError(AppError):
    """An anchors source could not be read."""

    code = ErrorCode.ANCHOR_SOURCE
    status = 400


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str
    mac: str
    source: str = ""

    @staticmethod
    def message(seq: int, hash_: str, at: str) -> bytes:
        return f"v{VERSION}|{seq}|{hash_}|{at}".encode()

    def mac_ok(self, key: bytes) -> bool:
        expected = hmac.new(key, self.message(self.seq, self.hash, self.at), hashlib.sha256)
        return hmac.compare_digest(expected.hexdigest(), self.mac)

    def to_json(self) -> str:
        body = {"v": VERSION, "seq": self.seq, "hash": self.hash, "at": self.at, "mac": self.mac}
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def parse(cls, text: str, source: str) -> Anchor:
        """An anchor from its JSON; anything malformed is a damaged anchor (ValueError)."""
        body = json.loads(text)
        if not isinstance(body, dict) or body.get("v") != VERSION:
            raise ValueError("not a version 1 anchor")
        seq, hash_, at, mac = body.get("seq"), body.get("hash"), body.get("at"), body.get("mac")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("bad seq")
        if not (isinstance(hash_, str) and isinstance(at, str) and isinstance(mac, str)):
            raise ValueError("bad field")
        return cls(seq=seq, hash=hash_, at=at, mac=mac, source=source)


# --------------------------------------------------------------------------------------
# Writing


def audit_anchor(*, why: str = "periodic") -> Anchor | None:
    """Anchor the current head everywhere configured. Returns the anchor, or None when the
    head has not moved since the last anchor (periodic runs on an idle vault). Refuses
    (AuditUnavailable) a head that fails its MAC: anchoring it would bless a truncation."""
    from strongroom.audit.services import _chain_key, derived_key, head_mac_ok

    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        return None
    if why == "periodic" and head.seq == head.anchored_seq:
        return None
    key = _chain_key(head)
    if not head_mac_ok(head, key):
        logger.error("audit chain head fails its MAC (record %d); not anchored", head.seq)
        raise AuditUnavailable("the audit chain head fails its MAC; it was not anchored")
    at = timezone.now().astimezone(UTC).isoformat(timespec="seconds")
    mac = hmac.new(
        derived_key(key, "anchor"), Anchor.message(head.seq, head.hash, at), hashlib.sha256
    ).hexdigest()
    anchor = Anchor(seq=head.seq, hash=head.hash, at=at, mac=mac)
    line = anchor.to_json()
    anchor_log.info("%s%s", LOG_MARKER, line)
    directory = getattr(settings, "AUDIT_ANCHOR_DIR", "")
    if directory:
        _append_to_file(Path(directory) / FILE_NAME, line)
    if getattr(settings, "AUDIT_ANCHOR_S3_BUCKET", ""):
        _put_to_s3(anchor, line)
    with transaction.atomic():
        AuditChainHead.objects.filter(pk=1, anchored_seq__lt=anchor.seq).update(
            anchored_seq=anchor.seq
        )
    return anchor


def _append_to_file(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "region_name": settings.AUDIT_ANCHOR_S3_REGION or None,
        "endpoint_url": settings.AUDIT_ANCHOR_S3_ENDPOINT or None,
        "config": Config(retries={"max_attempts": 3}, s3={"addressing_style": "path"}),
    }
    if settings.AUDIT_ANCHOR_S3_ACCESS_KEY_ID:
        kwargs["aws_access_key_id"] = settings.AUDIT_ANCHOR_S3_ACCESS_KEY_ID
        kwargs["aws_secret_access_key"] = settings.AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY
    return boto3.client("s3", **kwargs)


def _put_to_s3(anchor: Anchor, line: str) -> None:
    bucket = settings.AUDIT_ANCHOR_S3_BUCKET
    prefix = settings.AUDIT_ANCHOR_S3_PREFIX
    stamp = anchor.at.replace(":", "").replace("+0000", "Z")
    key = f"{prefix}anchor-{anchor.seq:020d}-{stamp}.json"
    body = line.encode()
    retain_until = timezone.now() + timedelta(days=settings.AUDIT_ANCHOR_S3_RETENTION_DAYS)
    _s3_client().put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        ChecksumAlgorithm="SHA256",
        ObjectLockMode=settings.AUDIT_ANCHOR_S3_MODE,
        ObjectLockRetainUntilDate=retain_until,
    )


# --------------------------------------------------------------------------------------
# Reading


def anchors_read(source: str) -> tuple[list[Anchor], list[str]]:
    """The anchors in ``source`` (a file of anchor lines or log lines, a directory holding
    ``audit-anchors.jsonl``, or ``s3://bucket/prefix``) and the problems met reading them
    (a damaged line is a problem, never skipped silently)."""
    if source.startswith("s3://"):
        return _read_s3(source)
    path = Path(source)
    if path.is_dir():
        path = path / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AnchorSourceError(f"cannot read anchors from {path}: {exc.strerror}") from exc
    anchors: list[Anchor] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if LOG_MARKER in line:
            line = line.split(LOG_MARKER, 1)[1]
        elif not line.startswith("{"):
            continue  # another log line
        where = f"{path.name} line {number}"
        try:
            anchors.append(Anchor.parse(line, where))
        except ValueError:
            problems.append(f"{where} is a damaged anchor (edited or truncated)")
    return anchors, problems


def _read_s3(source: str) -> tuple[list[Anchor], list[str]]:
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(source)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    anchors: list[Anchor] = []
    problems: list[str] = []
    client = _s3_client()
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                where = f"s3://{bucket}/{item['Key']}"
                try:
                    anchors.append(Anchor.parse(body.decode("utf-8"), where))
                except (ValueError, UnicodeDecodeError):
                    problems.append(f"{where} is a damaged anchor (edited or truncated)")
    except (BotoCoreError, ClientError) as exc:
        raise AnchorSourceError(
            f"cannot read anchors from s3://{bucket}/{prefix}: {type(exc).__name__}"
        ) from exc
    return anchors, problems
