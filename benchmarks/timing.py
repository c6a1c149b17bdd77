"""Shared helper of the benchmark scripts (run them as ``python benchmarks/bench_*.py``)."""

import time


def timed(function, *args, **kwargs):
    """Wall-clock seconds of one call, and its result."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result
