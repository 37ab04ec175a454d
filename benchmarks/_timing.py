"""Shared timing helpers for the benchmarks: medians over repeats, machine facts."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import time


def median_seconds(fn, *, repeats: int = 15, warmup: int = 3, min_time: float = 0.0) -> float:
    """Median wall time of fn() (which must block until its work is done)."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start) < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * repeats:
            break
    return statistics.median(times)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import tensorflow as tf

    return (f"{model}, {os.cpu_count()} cores, TF {tf.__version__}, "
            f"{datetime.date.today().isoformat()}")
