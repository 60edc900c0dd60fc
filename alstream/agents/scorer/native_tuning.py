"""Process-wide tuning of the scorer's native libraries (the batch loop itself is BatchAgentRunner)."""

from __future__ import annotations

import ctypes
import logging
import platform

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc refuses more on 64-bit


def limit_native_threads(count: int) -> None:
    """Cap BLAS / OpenMP threads for the whole process.

    The scorer's matrices are small (a batch x 64 features x 10 classes); native thread pools there
    cost more in wake-ups and contention with librdkafka's threads than they save (measured: ~30% less
    CPU per item with one thread). Scale out with partitions and processes instead.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=count)


def reuse_freed_memory() -> bool:
    """Serve batch-sized allocations from the heap and keep freed pages for the next batch.

    glibc hands every allocation above 128 KiB to ``mmap`` and gives it back to the kernel on ``free``, so
    each batch's numpy temporaries (a 5,000 x 10 float64 array is 400 KiB) land on fresh pages and pay a page
    fault per 4 KiB. In a VM those faults cost more than the arithmetic of the signals themselves
    (``bench/bench_scorer.py`` reports CPU time per item). The price is that the process keeps its peak heap
    (tens of MB for the scorer) instead of returning it between batches. A no-op returning False on other C
    libraries.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, 4 * _MMAP_THRESHOLD_MAX) == 1 and ok
    except (OSError, AttributeError) as exc:
        log.debug("mallopt unavailable: %s", exc)
        return False
    return ok


def tune_native_libraries(*, threads: int) -> None:
    """What ``alstream agent scorer`` sets up before its first batch (benchmarks call it too)."""
    limit_native_threads(threads)
    if not reuse_freed_memory():
        log.info("could not tune the allocator (not glibc): batch temporaries are mmapped afresh each batch")
