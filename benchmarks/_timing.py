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


def finish(out) -> None:
    """Wait for a TF call's results without copying them.

    Eager TensorFlow on the CPU runs synchronously: the outputs are complete
    when the call returns. `.numpy()` would add a copy into fresh numpy memory
    (for 64 MB that copy and its page faults cost more than most of the ops
    measured), so the benchmarks only check that execution is synchronous.
    """
    import tensorflow as tf

    if not tf.config.experimental.get_synchronous_execution():
        raise RuntimeError("benchmarks need synchronous eager execution")
    del out


def interleaved_medians(fns: dict, args: tuple, budget_s: float, quantile=0.5,
                        min_rounds: int = 7, max_rounds: int = 201) -> dict:
    """Median (or another quantile of the) seconds per variant over rounds in
    which every variant runs once, so that a noisy moment slows all variants
    alike instead of one. A variant may take its own arguments: a key of
    `args` given as a dict picks them per variant."""
    def call(name, fn):
        finish(fn(*(args[name] if isinstance(args, dict) else args)))

    for name, fn in fns.items():  # trace and warm up
        call(name, fn)
        call(name, fn)
    times = {k: [] for k in fns}
    start = time.perf_counter()
    while True:
        for k, fn in fns.items():
            t0 = time.perf_counter()
            call(k, fn)
            times[k].append(time.perf_counter() - t0)
        n = len(next(iter(times.values())))
        if n >= min_rounds and (time.perf_counter() - start > budget_s or n >= max_rounds):
            break
    if quantile == 0.5:
        return {k: statistics.median(v) for k, v in times.items()}
    return {k: sorted(v)[int(quantile * (len(v) - 1))] for k, v in times.items()}


def print_table(lines, out=None) -> None:
    """Print a Markdown table's lines and, given a path, write them there too."""
    text = "\n".join(lines)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")


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
