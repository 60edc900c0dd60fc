"""Process-wide tuning of the scorer's native libraries (the batch loop itself is BatchAgentRunner)."""

from __future__ import annotations


def limit_native_threads(count: int) -> None:
    """Cap BLAS / OpenMP threads for the whole process.

    The scorer's matrices are small (a batch x 64 features x 10 classes); native thread pools there
    cost more in wake-ups and contention with librdkafka's threads than they save (measured: ~30% less
    CPU per item with one thread). Scale out with partitions and processes instead.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=count)
