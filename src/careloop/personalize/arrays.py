"""The NumPy array types the engine, its models and the simulator pass around, named once;
and how many BLAS threads their products run on."""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def one_blas_thread() -> AbstractContextManager[object]:
    """The engine's matrices are a few hundred wide (403 x 403 per program) and its batches a
    few hundred patients: a second BLAS thread saves little on an idle machine and costs over
    ten times the work on a busy one (an inversion took 222 ms with OpenBLAS's threads against
    14 ms with one, at load 9); in a night's slice OpenBLAS's threads spun more than half of
    the decisions' CPU (docs/benchmarks.md, ntw). Entered by whoever runs the engine in bulk
    (the demo, the nightly slices), not at import."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    limits: AbstractContextManager[object] = threadpool_limits(limits=1, user_api="blas")
    return limits
