"""How the project starts worker processes (dataset preprocessing, the generator, benchmarks).

Workers are spawned, not forked: a fork copies the parent's locks as held by its other threads
(torch/OpenMP pools, OpenCV, TensorBoard writers) and a child can then wait forever on one of
them — seen here as a preprocessing run whose workers sat idle for ten minutes.
"""

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor


def worker_pool(workers: int, initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers start from a fresh interpreter."""
    return ProcessPoolExecutor(
        max_workers=workers, initializer=initializer, mp_context=multiprocessing.get_context("spawn")
    )
