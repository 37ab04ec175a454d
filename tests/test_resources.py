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
