"""Local HTTPS stand-ins for cloud providers' APIs (Dropbox: ``dropbox_api``), served on
127.0.0.1 with trustme certificates.

``ca_bundle()`` is the one PEM file of the stand-ins' CA(s) for
``settings.PROVIDER_CA_BUNDLE`` (``STRONGROOM_PROVIDER_CA_BUNDLE`` for subprocesses): a
stand-in module registers its CA with ``register_ca`` and the bundle holds every registered
CA, so several stand-ins can run in one test session.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

_lock = threading.Lock()
_cas: list[Any] = []
_bundle_path = os.path.join(tempfile.mkdtemp(prefix="strongroom-standin-ca-"), "ca.pem")


def register_ca(ca: Any) -> str:
    """Add a trustme CA to the shared bundle; returns the bundle's path."""
    with _lock:
        if ca not in _cas:
            _cas.append(ca)
        with open(_bundle_path, "wb") as fh:
            for each in _cas:
                fh.write(each.cert_pem.bytes())
    return _bundle_path


def ca_bundle() -> str:
    return _bundle_path
