"""The cyclic garbage collector, paused while an export builds its entries.

An export of 100,000 entries allocates a few hundred thousand small containers (rows,
entries, payload lists) and none of them form reference cycles: reference counting frees
them all. The cyclic collector still runs every 700 allocations and, as the heap grows,
walks the whole of it again and again; at 100,000 entries that was about a tenth of the
build. Pausing it for the length of one build (seconds) changes nothing that is freed,
only when cycles made meanwhile (by any thread) are found: at the end of the last build
running in the process.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector until the outermost pause ends (builds may overlap, in
    threads or nested calls); it is switched back on only if it was on before the first."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
