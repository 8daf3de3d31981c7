"""Fault injection for the storage conformance suite (tests/storage/conformance.py): the
protocol a target implements (``Faults``), and its implementation through a FaultProxy in
front of an HTTP service (``ProxyFaults``). Stand-ins with faults of their own implement
``Faults`` next to themselves (``box_api.BoxFaults``, ``dropbox_api.DropboxFaults``)."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class Faults:
    """What the suite can do to the service, each for the NEXT matching request only.
    Subclass it next to the stand-in (or use ProxyFaults) and implement what applies;
    a fault left unimplemented skips the tests that need it."""

    def reset_mid_upload(self) -> None:
        """The next upload request's connection is cut after part of its body."""
        pytest.skip("this target cannot cut an upload")

    def unavailable(self, retry_after: float) -> None:
        """The next upload is answered 503 or 429 with ``Retry-After: <retry_after>``."""
        pytest.skip("this target cannot answer 503/429")

    #: Does a stalled upload still land once the stall ends (HTTP: the server finishes the
    #: request the client gave up on)? False when the client's give-up ends it (SFTP).
    stalled_upload_lands: bool = True

    def stall(self, seconds: float) -> None:
        """The next upload is answered only after ``seconds`` (beyond the timeout); the
        service still completes it then (the suite waits for it to land) unless
        ``stalled_upload_lands`` is False."""
        pytest.skip("this target cannot stall an answer")

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        """Collects one entry per chunk / part uploaded inside the block."""
        pytest.skip("this target cannot count upload parts")
        yield []

    def corrupt_answer(self) -> bool:
        """Make the service report, for the next upload, other bytes than it got; False
        when it cannot (the suite then tampers with what the provider sees)."""
        return False

    def clear(self) -> None:
        """Remove faults not used (run after every test)."""


class ProxyFaults(Faults):
    """Faults through a tests/storage/faultproxy.FaultProxy in front of the service.
    ``upload``: (method, path substring) of the requests that carry file bytes; ``parts``:
    which recorded requests are upload parts."""

    def __init__(
        self,
        proxy: Any,
        *,
        upload: tuple[str, str] = ("PUT", ""),
        parts: Callable[[Any], bool] | None = None,
    ) -> None:
        self.proxy = proxy
        self.url = proxy.url
        self.method, self.match = upload
        self.parts = parts

    def reset_mid_upload(self) -> None:
        self.proxy.reset_mid_body(method=self.method, match=self.match, after=512)

    def unavailable(self, retry_after: float) -> None:
        self.proxy.slow_down(retry_after=f"{retry_after:g}", match=self.match)

    def stall(self, seconds: float) -> None:
        self.proxy.add_fault("delay", method=self.method, match=self.match, delay=seconds)

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        if self.parts is None:
            pytest.skip("no part predicate given")
        start = len(self.proxy.requests)
        found: list[int] = []
        yield found
        found.extend(
            int(r.headers.get("Content-Length", 0))
            for r in self.proxy.requests[start:]
            if self.parts(r)
        )

    def clear(self) -> None:
        self.proxy.clear()


class DiskFaults(Faults):
    """Faults of a provider that writes files: the disk fails under ``os.write`` of the
    provider module's ``os`` (``module_os``): EIO after a partial write (a cut upload),
    ENOSPC (transient, no Retry-After)."""

    def __init__(self, module_os: Any) -> None:
        self.module_os = module_os
        self.mp = pytest.MonkeyPatch()

    def _fail_writes(self, error: int, *, partial: bool) -> None:
        real_write = os.write

        def failing_write(fd: int, data: Any) -> int:
            if partial:
                real_write(fd, bytes(data)[:512])  # a partial write reaches the temp file
            self.mp.undo()
            raise OSError(error, os.strerror(error))

        self.mp.setattr(self.module_os, "write", failing_write)

    def reset_mid_upload(self) -> None:
        self._fail_writes(errno.EIO, partial=True)

    def unavailable(self, retry_after: float) -> None:
        self._fail_writes(errno.ENOSPC, partial=False)

    @contextlib.contextmanager
    def upload_parts(self) -> Iterator[list[int]]:
        parts: list[int] = []
        real_write = os.write

        def spy(fd: int, data: Any) -> int:
            parts.append(len(data))
            return real_write(fd, data)

        self.mp.setattr(self.module_os, "write", spy)
        try:
            yield parts
        finally:
            self.mp.undo()

    def clear(self) -> None:
        self.mp.undo()
