"""bias + activation: zoo's native op vs stock TensorFlow graph mode vs XLA,
side by side in one process, with a large memory copy as the bandwidth bound.

Run:  python benchmarks/bench_bias_act.py [--sizes 65536,1048576,16777216] [--out table.md]

Each variant is a tf.function over the same input tensors, timed in
interleaved rounds (every variant once per round), medians; results are waited
for without copying them out (see _timing.finish). "Stock graph" is what Keras'
fit runs on a CPU-only machine (bias add then keras.activations.*); "XLA" is
the same function with jit_compile=True.

Bandwidth bound: the time to read x (and dy) and write the output at the
bandwidth of a numpy copy of the same size (copyto into a preallocated buffer),
measured in the same rounds. That copy uses ordinary stores, which read each
destination line before writing it; zoo writes outputs larger than half the
last-level cache with streaming stores, which skip that read, so it can run
above 100 % of this bound. "TF floor": the cheapest elementwise TensorFlow op
(negate, in graph mode) on the same tensor, which pays what every op here pays
besides arithmetic: dispatch and allocating a fresh output.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from _timing import interleaved_medians, machine, median_seconds
from zoo import _native
from zoo.ops import bias_act, bias_act_ref

ACTIVATIONS = ["gelu", "gelu_tanh", "silu", "relu"]


def copy_bandwidth() -> float:
    """Bytes moved per second (read + write) by a 256 MiB numpy copy: the
    memory-bandwidth bound that no elementwise kernel can beat."""
    src = np.ones(64 * 2**20, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / median_seconds(lambda: np.copyto(dst, src), repeats=9)


def variants(act: str):
    def fwd(native):
        def f(x, b):
            with _native.native(native):
                return bias_act(x, b, act)
        return f

    def fwd_bwd(native):
        def f(x, b, dy):
            with _native.native(native):
                with tf.GradientTape() as tape:
                    tape.watch([x, b])
                    y = bias_act(x, b, act)
                return tape.gradient(y, [x, b], output_gradients=dy)
        return f

    def stock(x, b):
        return bias_act_ref(x, b, act)

    def stock_bwd(x, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, b])
            y = bias_act_ref(x, b, act)
        return tape.gradient(y, [x, b], output_gradients=dy)

    return {
        "forward": {
            "zoo": tf.function(fwd(True)),
            "graph": tf.function(stock),
            "xla": tf.function(stock, jit_compile=True),
        },
        "forward+backward": {
            "zoo": tf.function(fwd_bwd(True)),
            "graph": tf.function(stock_bwd),
            "xla": tf.function(stock_bwd, jit_compile=True),
        },
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="65536,1048576,4194304,16777216")
    p.add_argument("--channels", type=int, default=1024)
    p.add_argument("--out", help="append the markdown table to this file")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    assert _native.use_tf_native(), "native op library not loaded"

    lines = [f"Machine: {machine()}; ISA {_native.get_isa()}; bias over the last axis of "
             f"{args.channels}; medians.", "",
             "| activation | pass | elements | zoo ms | graph ms | XLA ms | bound ms | "
             "TF floor ms | zoo vs graph | zoo vs XLA | % of bound | % of TF floor |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    bandwidth = copy_bandwidth()
    lines.insert(1, f"Copy bandwidth (read + write): {bandwidth / 1e9:.1f} GB/s.")
    rng = np.random.default_rng(0)
    for n in sizes:
        x = tf.constant(rng.standard_normal((n // args.channels, args.channels), np.float32))
        b = tf.constant(rng.standard_normal(args.channels, np.float32))
        dy = tf.constant(rng.standard_normal(x.shape, np.float32))
        negate = tf.function(tf.math.negative)
        copy_src = np.ones(n, np.float32)
        copy_dst = np.empty_like(copy_src)
        for act in ACTIVATIONS:
            for pass_name, fns in variants(act).items():
                inputs = (x, b) if pass_name == "forward" else (x, b, dy)
                # The floor (negate) and a numpy copy of the same size run in
                # the same rounds as the variants.
                fns = dict(fns, floor=negate, copy=lambda: np.copyto(copy_dst, copy_src))
                per_variant = {k: inputs for k in fns}
                per_variant.update(floor=(x,), copy=())
                t = interleaved_medians(fns, per_variant, budget_s=3.0 if n > 4e6 else 1.5,
                                        min_rounds=9)
                copy_bw = 2 * n * 4 / t["copy"]
                bound = (2 if pass_name == "forward" else 3) * n * 4 / copy_bw
                lines.append(
                    f"| {act} | {pass_name} | {n:,} | {t['zoo']*1e3:.2f} | {t['graph']*1e3:.2f} | "
                    f"{t['xla']*1e3:.2f} | {bound*1e3:.2f} | {t['floor']*1e3:.2f} | "
                    f"{t['graph']/t['zoo']:.2f}x | {t['xla']/t['zoo']:.2f}x | "
                    f"{100*bound/t['zoo']:.0f}% | {100*t['floor']/t['zoo']:.0f}% |")
                print(lines[-1], flush=True)
    table = "\n".join(lines)
    if args.out:
        with open(args.out, "a") as f:
            f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
