"""Matrix-vector products on one BLAS thread.

A query's dot products (≤ 100k × 384) are memory-bound: a second OpenBLAS thread does not
speed them up, and after the call OpenBLAS's workers keep spinning, starving torch's threads
as they embed the next query (the p50 and p99 with and without the limit: BENCHMARKS.md,
search latency).  The limit is scoped to our own calls, so the host application's numpy
keeps its settings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["single_threaded_blas"]

_lock = threading.Lock()
_controller: Any = None
_active: Any = None  # the limiter while any thread is inside; restored by the last one out
_depth = 0


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Scoped and reference-counted, so concurrent searches cannot leave the host's BLAS
    pinned to one thread by restoring each other's saved limits out of order."""
    global _controller, _active, _depth
    with _lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController().select(user_api="blas")
        if _depth == 0:
            _active = _controller.limit(limits=1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _active.restore_original_limits()
                _active = None
