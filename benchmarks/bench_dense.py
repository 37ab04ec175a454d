"""Fused dense: zoo's GEMM (ZooDense) vs tf.matmul + zoo's bias_act vs stock
keras.layers.Dense in graph mode and under XLA, with tf.matmul alone as the
matrix-product bound. Side by side in one process, medians.

Run:  python benchmarks/bench_dense.py [--quick] [--acts relu,gelu,silu] [--out table.md]

Each variant is one tf.function over the same tensors. At the zoo's shapes
(batch x in x out) it runs a stack of --depth layers alternating in->out and
out->in, as an MLP does, so the per-call dispatch cost (about 0.1-0.3 ms here,
the same for every variant) does not swamp the per-layer cost; 1024^3 and
2048^3 run one layer. Variants:
  zoo      zoo.ops.dense on the "gemm" path (forward: training=False, as in predict)
  mm+ba    zoo.ops.dense on the "matmul" path: tf.matmul + native bias_act
  graph    keras.layers.Dense(units, activation) in tf.function (what fit runs on CPU)
  xla      the same with jit_compile=True
  matmul   tf.matmul alone (forward) / the two backward matmuls alone (no bias, no activation)
  layer    zoo.layers.FusedDense with the same weights, dispatch as shipped (forward:
           training=False), against graph (stock keras.layers.Dense): "layer vs Dense"
Timing rounds interleave the variants, so drift from other load on the machine
hits them alike; each number is the median over the rounds. "auto" is the
variant the dispatch rule (zoo.ops.dense.choose_path) picks at that shape:
zoo, mm+ba, or stock Keras' graph (the reference path).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _timing import interleaved_medians, machine  # noqa: E402
from zoo import _native  # noqa: E402
from zoo.layers import FusedDense  # noqa: E402
from zoo.ops.dense import choose_path, dense, dense_path  # noqa: E402

ZOO_SHAPES = [(b, i, o) for b in (32, 128, 256) for (i, o) in
              ((64, 64), (256, 256), (512, 512), (1024, 1024), (1024, 256), (256, 1024))]
BIG_SHAPES = [(1024, 1024, 1024), (2048, 2048, 2048)]


def make_variants(m, k, n, act, depth, rng):
    """The variants for a stack of `depth` layers alternating in->out and
    out->in (an MLP at this shape), so that per-call dispatch, which is the
    same for every variant, does not hide the per-layer cost."""
    def weights(i, o):
        w = tf.constant((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32))
        return w, tf.constant(rng.standard_normal(o).astype(np.float32) * 0.1)

    params = [weights(k, n), weights(n, k)]
    layers, fused = [], []
    for (w, b) in params:
        for cls, built in ((keras.layers.Dense, layers), (FusedDense, fused)):
            layer = cls(w.shape[1], activation=act)
            layer.build((None, w.shape[0]))
            layer.set_weights([w.numpy(), b.numpy()])
            built.append(layer)
    variables = [v for (w, b) in params for v in (w, b)]

    def zoo_stack(path, training):
        def f(x):
            with dense_path(path):
                for i in range(depth):
                    w, b = params[i % 2]
                    x = dense(x, w, b, act, training=training)
            return x
        return f

    def stock_stack(x):
        for i in range(depth):
            x = layers[i % 2](x)
        return x

    def layer_stack(training):
        def f(x):
            for i in range(depth):
                x = fused[i % 2](x, training=training)
            return x
        return f

    def matmul_stack(x):
        for i in range(depth):
            x = tf.matmul(x, params[i % 2][0])
        return x

    def with_grad(fwd, watch):
        def f(x, dy):
            with tf.GradientTape() as tape:
                tape.watch([x] + watch)
                y = fwd(x)
            return tape.gradient(y, [x] + watch, output_gradients=dy)
        return f

    stock_vars = [v.value for layer in layers for v in layer.trainable_variables]
    fused_vars = [v.value for layer in fused for v in layer.trainable_variables]
    return {
        "forward": {
            "zoo": tf.function(zoo_stack("gemm", False)),
            "mm+ba": tf.function(zoo_stack("matmul", False)),
            "graph": tf.function(stock_stack),
            "xla": tf.function(stock_stack, jit_compile=True),
            "matmul": tf.function(matmul_stack),
            "layer": tf.function(layer_stack(False)),
        },
        "forward+backward": {
            "zoo": tf.function(with_grad(zoo_stack("gemm", True), variables)),
            "mm+ba": tf.function(with_grad(zoo_stack("matmul", True), variables)),
            "graph": tf.function(with_grad(stock_stack, stock_vars)),
            "xla": tf.function(with_grad(stock_stack, stock_vars), jit_compile=True),
            "matmul": tf.function(with_grad(matmul_stack, [params[0][0], params[1][0]])),
            "layer": tf.function(with_grad(layer_stack(True), fused_vars)),
        },
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--acts", default="relu,gelu,silu")
    p.add_argument("--quick", action="store_true", help="a few shapes, relu only")
    p.add_argument("--shapes", help="batch:in:out,... instead of the default set")
    p.add_argument("--budget", type=float, default=1.5, help="seconds of timing per shape and pass")
    p.add_argument("--depth", type=int, default=8,
                   help="layers per timed call at the zoo's shapes (1 for the large ones)")
    p.add_argument("--quantile", type=float, default=0.5,
                   help="report this quantile of the rounds instead of the median (e.g. 0.1 "
                        "to see through load from other processes; the table says which)")
    p.add_argument("--out", help="append the markdown table to this file")
    args = p.parse_args()
    assert _native.use_tf_native(), "native op library not loaded"
    acts = args.acts.split(",")
    shapes = ZOO_SHAPES + BIG_SHAPES
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split(":")) for s in args.shapes.split(",")]
    elif args.quick:
        shapes, acts = [(32, 256, 256), (128, 512, 512), (256, 1024, 1024), (2048, 2048, 2048)], ["relu"]

    lines = [
        f"Machine: {machine()}; ISA {_native.get_isa()}; float32; "
        + ("medians" if args.quantile == 0.5 else f"{args.quantile:.0%} quantiles")
        + " of interleaved rounds.",
        "",
        "| M x K x N | layers | act | pass | zoo ms | mm+ba ms | graph ms | XLA ms | matmul ms | "
        "layer ms | zoo GFLOP/s | zoo vs graph | auto vs graph | layer vs Dense | zoo vs XLA | "
        "zoo vs matmul |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    rng = np.random.default_rng(0)
    for (m, k, n) in shapes:
        depth = 1 if m * k * n >= 2**30 else args.depth
        x = tf.constant(rng.standard_normal((m, k), np.float32))
        dy = tf.constant(rng.standard_normal((m, n if depth % 2 else k), np.float32))
        for act in acts:
            for pass_name, fns in make_variants(m, k, n, act, depth, rng).items():
                inputs = (x,) if pass_name == "forward" else (x, dy)
                budget = args.budget * (3 if depth == 1 else 1)
                t = interleaved_medians(fns, inputs, budget, args.quantile)
                flops = 2 * m * k * n * depth * (1 if pass_name == "forward" else 3)
                # forward here is inference (training=False), as zoo's variant
                # runs it; the reference path is stock Keras' graph.
                training = pass_name != "forward"
                path = choose_path((m, k), (k, n), "float32", training, act)
                auto = t[{"gemm": "zoo", "matmul": "mm+ba", "reference": "graph"}[path]]
                lines.append(
                    f"| {m}x{k}x{n} | {depth} | {act} | {pass_name} | {t['zoo']*1e3:.3f} | "
                    f"{t['mm+ba']*1e3:.3f} | {t['graph']*1e3:.3f} | {t['xla']*1e3:.3f} | "
                    f"{t['matmul']*1e3:.3f} | {t['layer']*1e3:.3f} | "
                    f"{flops / t['zoo'] / 1e9:.0f} | "
                    f"{t['graph']/t['zoo']:.2f}x | {t['graph']/auto:.2f}x | "
                    f"{t['graph']/t['layer']:.2f}x | "
                    f"{t['xla']/t['zoo']:.2f}x | {t['matmul']/t['zoo']:.2f}x |")
                print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
