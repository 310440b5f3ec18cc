"""The NumPy array types the engine, its models and the simulator pass around, named once;
and how many BLAS threads their products run on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


_blas_lock = threading.Lock()
_blas_holders = 0
_blas_limits: object = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """The engine's matrices are a few hundred wide (403 x 403 per program) and its batches a
    few hundred patients: a second BLAS thread saves little on an idle machine and costs over
    ten times the work on a busy one (an inversion took 222 ms with OpenBLAS's threads against
    14 ms with one, at load 9); in a night's slice OpenBLAS's threads spun more than half of
    the decisions' CPU (docs/benchmarks.md, ntw). Entered by whoever runs the engine in bulk
    (the demo, the nightly slices), not at import.

    The limit is the process's, not the thread's: overlapping holders (a queue worker's
    threads) share one limit, set by the first and restored by the last."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    global _blas_holders, _blas_limits
    with _blas_lock:
        if _blas_holders == 0:
            _blas_limits = threadpool_limits(limits=1, user_api="blas")
        _blas_holders += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_holders -= 1
            if _blas_holders == 0:
                limits, _blas_limits = _blas_limits, None
                limits.restore_original_limits()  # type: ignore[attr-defined]
