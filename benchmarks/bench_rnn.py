"""Fused recurrent layers: zoo.layers.LSTM / GRU against keras.layers.LSTM / GRU
per layer, forward (inference) and forward+backward (gradients of a sum).

Run:  python benchmarks/bench_rnn.py [--quick] [--full] [--cells lstm,gru] [--no-jax] [--out t.md]

Variants, same weights, same inputs (batch, time, 16 features), return_sequences=True:
  native   zoo layer (ZooRnn / ZooRnnGrad ops), tf.function
  nxla     zoo layer, tf.function(jit_compile=True): the ops' XLA kernels (custom calls)
  stock    keras layer, tf.function (TF's while loop over the cell)
  xla      keras layer, tf.function(jit_compile=True)
  jax      keras layer on Keras' JAX backend, jax.jit, in a child process run
           right after the TF rounds of each shape (when jax is installed)
TF variants run in interleaved rounds (each once per round); medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FEATURES = 16
# (batch, time, units): the grid is batch 1/16/64/256 x T 20/100/500 x
# units 32..512; the default covers each value of each axis at least once.
DEFAULT = [(1, 20, 64), (16, 100, 64), (64, 50, 64), (64, 100, 128), (256, 20, 256),
           (16, 20, 512), (16, 500, 32), (64, 20, 32)]
QUICK = [(64, 50, 64), (16, 100, 128)]
FULL = [(b, t, u) for b in (1, 16, 64, 256) for t in (20, 100, 500) for u in (32, 64, 128, 256, 512)]

_JAX_CHILD = r"""
import json, os, statistics, sys, time
os.environ["KERAS_BACKEND"] = "jax"
import jax, jax.numpy as jnp, numpy as np, keras
cell, shapes, features, budget = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out = {}
for b, t, u in shapes:
    layer = getattr(keras.layers, cell.upper())(u, return_sequences=True)
    x = jnp.asarray(np.random.default_rng(0).random((b, t, features), dtype=np.float32))
    layer.build(x.shape)
    tv = [v.value for v in layer.trainable_variables]
    ntv = [v.value for v in layer.non_trainable_variables]
    def fwd(tv, x):
        y, _ = layer.stateless_call(tv, ntv, x, training=False)
        return y
    def loss(tv, x):
        y, _ = layer.stateless_call(tv, ntv, x, training=True)
        return jnp.sum(y)
    f = jax.jit(fwd)
    g = jax.jit(jax.grad(loss))
    res = {}
    for name, fn in (("fwd", f), ("fwdbwd", g)):
        for _ in range(2):
            jax.block_until_ready(fn(tv, x))
        times, start = [], time.perf_counter()
        while len(times) < 5 or (time.perf_counter() - start < budget and len(times) < 200):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(tv, x))
            times.append(time.perf_counter() - t0)
        res[name] = statistics.median(times)
    out[f"{b},{t},{u}"] = res
json.dump(out, sys.stdout)
"""


def jax_medians(cell, shapes, budget):
    """{(b, t, u): {"fwd": s, "fwdbwd": s}} from a JAX child, or None without jax."""
    try:
        import jax  # noqa: F401
    except ImportError:
        return None
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", _JAX_CHILD, cell, json.dumps(shapes),
                           str(FEATURES), str(budget)], env=env, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        print(f"jax child failed: {proc.stderr[-1000:]}", file=sys.stderr)
        return None
    return {tuple(map(int, k.split(","))): v for k, v in json.loads(proc.stdout).items()}


def tf_medians(cell, b, t, u, budget):
    import numpy as np
    import tensorflow as tf
    import keras

    import zoo
    from _timing import interleaved_medians

    x = tf.constant(np.random.default_rng(0).random((b, t, FEATURES), dtype=np.float32))
    stock = getattr(keras.layers, cell.upper())(u, return_sequences=True)
    native = getattr(zoo.layers, cell.upper())(u, return_sequences=True)
    stock(x[:1])
    native(x[:1])
    native.set_weights(stock.get_weights())

    def fwd(layer):
        return lambda x: layer(x, training=False)

    def fwdbwd(layer):
        def step(x):
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(layer(x, training=True))
            return tape.gradient(y, layer.trainable_weights)
        return step

    out = {}
    for kind, make in (("fwd", fwd), ("fwdbwd", fwdbwd)):
        fns = {"native": tf.function(make(native)),
               "nxla": tf.function(make(native), jit_compile=True),
               "stock": tf.function(make(stock)),
               "xla": tf.function(make(stock), jit_compile=True)}
        out[kind] = interleaved_medians(fns, (x,), budget, min_rounds=5)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two shapes")
    parser.add_argument("--full", action="store_true", help="the issue's whole grid (long)")
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per variant set")
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    shapes = FULL if args.full else QUICK if args.quick else DEFAULT
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _timing import machine, print_table

    from zoo import _native

    if not _native.use_tf_native():
        print("warning: the native op library is not loaded", file=sys.stderr)
    lines = [f"Per-layer times in ms (medians), features {FEATURES}, return_sequences, "
             f"{machine()}", "",
             "| cell | batch | T | units | fwd native | fwd nxla | fwd stock | fwd xla | fwd jax "
             "| f+b native | f+b nxla | f+b stock | f+b xla | f+b jax "
             "| f+b speed-up, best zoo vs best stock |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in args.cells.split(","):
        for b, t, u in shapes:
            print(f"{cell} {b}x{t}x{u} ...", file=sys.stderr, flush=True)
            r = tf_medians(cell, b, t, u, args.budget)
            j = None if args.no_jax else (jax_medians(cell, [(b, t, u)], args.budget) or {}).get((b, t, u))
            cols = []
            for kind in ("fwd", "fwdbwd"):
                cols += [r[kind]["native"], r[kind]["nxla"], r[kind]["stock"], r[kind]["xla"],
                         j[kind] if j else None]
            best_stock = min(v for v in cols[7:10] if v is not None)
            best_zoo = min(cols[5:7])
            cells = " | ".join("n/a" if v is None else f"{v * 1e3:.2f}" for v in cols)
            lines.append(f"| {cell} | {b} | {t} | {u} | {cells} | {best_stock / best_zoo:.2f}x |")
            print(lines[-1], file=sys.stderr, flush=True)
    print_table(lines, args.out)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
