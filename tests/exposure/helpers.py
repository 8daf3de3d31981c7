"""Offline copies made the way users make them (the export service), and the incident."""

from __future__ import annotations

from typing import Any

from factories import PASSPHRASE
from strongroom.accounts.models import User
from strongroom.exports import services as exports
from strongroom.exposure import services as exposure


def download(user: User, fmt: str = "html") -> exports.ExportResult:
    return exports.export_offline(actor=user, passphrase=PASSPHRASE, fmt=fmt)


def report(actor: User, subject: User, since: Any) -> Any:
    return exposure.incident_report(actor=actor, user_id=subject.pk, since=since, note="lost")
