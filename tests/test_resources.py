"""10,000 calls of each native op leave resident memory flat.

In a child process (a clean heap, nothing else allocating): for each entry
point of zoo._C and of the TF op library, and for the error path of each
(arguments that are refused), warm up, read the resident set size, make 10,000
calls, read it again. Outputs are 64 KiB, so keeping one per call would grow
the heap by 640 MB; the bound is 48 MB, generous for allocator and TF caches,
and far below any per-call leak of an output buffer.
"""

import json
import os
import subprocess
import sys
import textwrap

CALLS = 10_000
BOUND_MB = 48

CHILD = textwrap.dedent(r"""
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    from zoo import _native

    CALLS = int(sys.argv[1])
    page = os.sysconf("SC_PAGE_SIZE")

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page / 2**20

    c, lib = _native.c_module(), _native.tf_ops()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256)).astype(np.float32)   # 64 KiB
    w = rng.standard_normal((256, 256)).astype(np.float32)
    b = rng.standard_normal(256).astype(np.float32)
    bad_b = b[:-1]
    tx, tw, tb, tbad = (tf.constant(v) for v in (x, w, b, bad_b))
    tz = lib.zoo_dense(tx, tw, tb, activation="gelu")[1]

    def refused(fn):
        def call():
            try:
                fn()
            except Exception:
                return
            raise AssertionError("a bad call was accepted")
        return call

    ops = {
        "c.bias_act": lambda: c.bias_act(x, b, "gelu"),
        "c.bias_act_backward": lambda: c.bias_act_backward(x, x, b, "elu"),
        "c.dense": lambda: c.dense(x, w, b, "silu", return_preact=True),
        "c.dense_backward": lambda: c.dense_backward(x, x, w, b, None, "tanh"),
        "c.bias_act refused": refused(lambda: c.bias_act(x, bad_b, "gelu")),
        "c.dense refused": refused(lambda: c.dense(x, w, bad_b)),
        "tf.ZooBiasAct": lambda: lib.zoo_bias_act(tx, tb, activation="gelu"),
        "tf.ZooBiasActGrad": lambda: lib.zoo_bias_act_grad(tx, tx, tb, activation="elu"),
        "tf.ZooDense": lambda: lib.zoo_dense(tx, tw, tb, activation="gelu"),
        "tf.ZooDenseGrad": lambda: lib.zoo_dense_grad(tx, tx, tw, tb, tz, activation="gelu"),
        "tf.ZooBiasAct refused": refused(lambda: lib.zoo_bias_act(tx, tbad, activation="gelu")),
        "tf.ZooDense refused": refused(lambda: lib.zoo_dense(tx, tw, tbad, activation="gelu")),
    }
    out = {}
    for name, fn in ops.items():
        for _ in range(300):
            fn()
        before = rss_mb()
        for _ in range(CALLS):
            fn()
        out[name] = round(rss_mb() - before, 2)
    print("RESULT", json.dumps(out))
""")


def test_ten_thousand_calls_leave_rss_flat(tmp_path):
    script = tmp_path / "rss_child.py"
    script.write_text(CHILD)
    out = subprocess.run([sys.executable, str(script), str(CALLS)], capture_output=True, text=True,
                         timeout=900, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    growth = json.loads(line[len("RESULT "):])
    print(f"\nRSS growth over {CALLS} calls (MB): {growth}")
    assert len(growth) == 12
    grew = {k: v for k, v in growth.items() if v > BOUND_MB}
    assert not grew, f"resident memory grew by more than {BOUND_MB} MB: {grew}"


# Two 8 MiB blocks touched and freed per round: with glibc's adaptive trim
# threshold (twice the largest recent chunk) the freed 16 MiB at the heap's top
# go back to the system each round and the next round faults them in again;
# with zoo's thresholds (applied when a native library loads) they stay mapped.
HEAP_CHILD = textwrap.dedent(r"""
    import ctypes, json, os, resource
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from zoo import _malloc, _native

    _native.tf_ops()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    n = 8 << 20

    def round_trip():
        a, b = libc.malloc(n), libc.malloc(n)
        ctypes.memset(a, 1, n)
        ctypes.memset(b, 1, n)
        libc.free(b)
        libc.free(a)

    for _ in range(3):
        round_trip()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        round_trip()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"applied": _malloc._applied, "faults_per_round": faults / 20,
                      "doctor": _malloc.describe()}))
""")


def _heap_child(tmp_path, **env):
    out = subprocess.run([sys.executable, "-c", HEAP_CHILD], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_loading_the_native_library_keeps_freed_heap_pages_mapped(tmp_path):
    pages = (16 << 20) // os.sysconf("SC_PAGE_SIZE")
    tuned = _heap_child(tmp_path)
    assert tuned["applied"] is True, tuned
    assert tuned["faults_per_round"] < pages / 16, tuned
    assert "trim threshold" in tuned["doctor"]
    # The same pattern without the tuning faults most of its pages in every round:
    # what the test above would see if the thresholds were not applied.
    plain = _heap_child(tmp_path, ZOO_MALLOC_TUNING="0")
    assert plain["applied"] is False and "ZOO_MALLOC_TUNING=0" in plain["doctor"], plain
    assert plain["faults_per_round"] > pages / 2, plain
    # A user's own glibc setting wins.
    theirs = _heap_child(tmp_path, MALLOC_TRIM_THRESHOLD_="1000000")
    assert theirs["applied"] is False and "set by the user" in theirs["doctor"], theirs
