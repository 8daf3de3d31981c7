"""Progress of long work, reported to whoever asked for it.

Services that may run for a while (key rotation, import, export) take a
:data:`ProgressFactory`: called with a description and a total (``0`` when unknown), it
returns a :class:`Ticker` the service advances. The CLI passes one that draws a bar on a
terminal (``cli.base.progress``); everyone else gets :func:`no_progress`, which is silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Ticker(Protocol):
    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


ProgressFactory = Callable[[str, int], Ticker]


class _Silent:
    def update(self, n: int = 1) -> object:
        return None

    def close(self) -> None:
        return None


def no_progress(desc: str, total: int) -> Ticker:
    return _Silent()
