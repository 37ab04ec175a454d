"""Keeping freed memory in the process heap while the native kernels run.

A training step with the fused recurrent layers allocates and frees a few MB
of tensors (the kernels' reserve, outputs and gradients). glibc's allocator
hands the freed top of a thread's heap back to the system once it exceeds a
trim threshold that it adapts to the largest recent chunk (twice its size),
so the next step faults every page in again: with the kernels' own scratch
already kept (csrc/kernels/workspace.h), still 300-1,200 minor page faults a
lstm_classifier training step on this project's machines, and about 10 % of it
(benchmarks/RESULTS.md, "Persistent workspace and heap"). Raising the mmap
and trim thresholds keeps those pages mapped, as jemalloc and tcmalloc do by
default.

Applied once, when zoo loads one of its native op libraries, only on glibc,
and not when ``ZOO_MALLOC_TUNING=0`` or when the user set glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (their choice wins).
The cost: up to ``TRIM_THRESHOLD`` bytes of freed memory per heap stay with
the process instead of returning to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Chunks below this come from the heap instead of a fresh mmap; 32 MiB is
# glibc's own upper bound for the value (HEAP_MAX_SIZE / 2 on 64-bit).
MMAP_THRESHOLD = 32 << 20
# Free memory at the top of a heap is returned to the system only above this.
TRIM_THRESHOLD = 256 << 20

_applied: bool | None = None


def _wanted() -> tuple[bool, str]:
    if os.environ.get("ZOO_MALLOC_TUNING", "1") == "0":
        return False, "off (ZOO_MALLOC_TUNING=0)"
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False, "off (glibc's MALLOC_*_THRESHOLD_ set by the user)"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False, "off (not glibc)"
    return True, ""


def apply() -> bool:
    """Set the thresholds once per process; True when they are in effect."""
    global _applied
    if _applied is not None:
        return _applied
    ok, _ = _wanted()
    if ok:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _applied = ok
    return ok


def describe() -> str:
    """One line for ``zoo doctor``."""
    if _applied:
        return (f"heap keeps freed memory (mmap threshold {MMAP_THRESHOLD >> 20} MiB, "
                f"trim threshold {TRIM_THRESHOLD >> 20} MiB; ZOO_MALLOC_TUNING=0 turns it off)")
    ok, why = _wanted()
    if not ok:
        return why
    return "not applied yet (no native library loaded)" if _applied is None else "mallopt refused"
