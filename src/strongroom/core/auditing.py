"""The audit trail as core sees it: a recorder the audit app registers at start-up.

Core sits on the ground floor and imports no app, yet some of its operations (key
rotation) must be audited in the same way as everything else. The audit app registers its
``audit_record`` here from ``AuditConfig.ready()``; core calls :func:`record`. Without a
registered recorder the operation is refused (fail closed, ``AuditUnavailable``), exactly as
when the trail cannot be written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strongroom.core.errors import AuditUnavailable

Recorder = Callable[..., Any]

_recorder: Recorder | None = None


def recorder_register(recorder: Recorder) -> None:
    """Called once by the audit app; a second call replaces the first."""
    global _recorder
    _recorder = recorder


def record(**kwargs: Any) -> Any:
    """Write one audit record with the audit app's ``audit_record(**kwargs)``."""
    if _recorder is None:
        raise AuditUnavailable("the audit trail is not available (audit app not loaded)")
    return _recorder(**kwargs)
