"""Sync targets: what the provider-parametrised sync suites (tests/sync/test_sync_providers.py
and tests/sync/test_sync_worker_kill.py) need from a provider. A provider joins both by
adding ONE module here, ``targets/<provider>.py``, with two functions:

    def sync_target(request: pytest.FixtureRequest) -> SyncTarget: ...
    def kill_target(request: pytest.FixtureRequest) -> KillTarget: ...

(``request.getfixturevalue`` reaches the provider's stand-in / server fixtures). The modules
are found by a package scan, like the providers themselves: no list to edit, so two
providers added on two branches do not conflict.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standins.faults import Faults


@dataclass
class SyncTarget:
    """One provider for the in-process sync suite (test database, real services)."""

    #: The registry name (``StorageConnection.provider``).
    provider: str
    #: connect(user) -> StorageConnection: the provider enabled by the admin and the user
    #: connected through the real services (storage_connection_save checks it for real).
    connect: Callable[[Any], Any]
    #: read(connection, object_name) -> the object's current bytes, read without the provider.
    read: Callable[[Any, str], bytes]
    #: The faults of the conformance protocol, on the service the connections use.
    faults: Faults
    #: break_auth(connection): from now on the service refuses that connection's
    #: credentials (revoked, deleted key...); None when the provider has no credentials.
    break_auth: Callable[[Any], None] | None = None
    #: False when a transient failure carries no Retry-After (the local folder).
    retry_after: bool = True


@dataclass
class KillTarget:
    """One provider for the worker-kill suite (a private installation, real processes)."""

    provider: str
    #: Environment of the installation's processes (stand-in hosts, CA bundle).
    env: dict[str, str]
    #: The admin's settings: ``{"config": {...}, "secret": {...}}`` (either may be absent).
    admin: dict[str, Any]
    #: connection(u) -> (config, credentials) of user number ``u``'s connection.
    connection: Callable[[int], tuple[dict[str, Any], dict[str, Any]]]
    #: copies(u, object_name) -> every copy of user ``u``'s object the service shows (all
    #: versions where it keeps versions), oldest first; [] when none.
    copies: Callable[[int, str], list[bytes]]
    #: slow_uploads(n): the next ``n`` uploads are held a while, so a kill finds some in flight.
    slow_uploads: Callable[[int], None]
    users: int = 8
    entries: int = 20
    #: Leftover temporary names at the service (never expected), when it can list them.
    temps: Callable[[], list[str]] = field(default=lambda: [])


def names() -> list[str]:
    """Every provider that joined the suites (a module in this package)."""
    return sorted(
        info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")
    )


def module(name: str) -> Any:
    return importlib.import_module(f"{__name__}.{name}")
