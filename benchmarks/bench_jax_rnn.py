"""Recurrent layers on Keras' JAX backend: zoo's FFI kernel against Keras' own loop.

Per layer (zoo.layers.LSTM / GRU, return_sequences=True, 16 input features),
both jit-compiled: forward, and forward + gradients of a sum ("f+b"). "ffi" is
the layer with ZOO_JAX_PATH=ffi (the fused kernel as an XLA custom call),
"keras" the same layer with ZOO_JAX_PATH=xla (Keras' ``lax.scan`` of the cell,
which is what stock keras.layers.LSTM/GRU run). Variants run in interleaved
rounds (medians). The table decides ``zoo.ops.rnn.jax_prefers_kernel``.

    python benchmarks/bench_jax_rnn.py            # the grid below
    python benchmarks/bench_jax_rnn.py --quick    # four shapes
"""

import argparse
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("ZOO_REQUIRE_NATIVE", "1")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zoo  # noqa: E402

FEATURES = 16
GRID = [(b, t, u) for b in (16, 64, 256) for t in (20, 50, 100) for u in (32, 64, 128)] + [
    (1, 20, 64), (1, 100, 64), (16, 500, 32), (64, 50, 256)]
QUICK = [(1, 20, 64), (64, 50, 32), (64, 50, 64), (64, 50, 128)]


def machine():
    """CPU, cores, versions and date, without importing TensorFlow."""
    import datetime
    import platform

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, jax {jax.__version__}, keras {keras.__version__}, "
            f"{datetime.date.today()}")


def compiled(cell, batch, time_steps, units, path):
    """(forward, forward+grad) jitted with the dispatch fixed to `path`."""
    os.environ["ZOO_JAX_PATH"] = path
    layer = getattr(zoo.layers, cell.upper())(units, return_sequences=True)
    x = np.random.default_rng(0).standard_normal((batch, time_steps, FEATURES)).astype("float32")
    layer.build(x.shape)
    weights = [v.value for v in layer.trainable_variables]

    def apply(ws, x):
        values = list(zip(layer.trainable_variables, ws))
        with keras.StatelessScope(state_mapping=values):
            return layer(x)

    fwd = jax.jit(apply)
    fb = jax.jit(jax.grad(lambda ws, x: apply(ws, x).sum(), argnums=(0, 1)))
    # Trace now, under this path: the rule is read at trace time.
    jax.block_until_ready(fwd(weights, x))
    jax.block_until_ready(fb(weights, x))
    os.environ["ZOO_JAX_PATH"] = "auto"
    return (lambda: jax.block_until_ready(fwd(weights, x)),
            lambda: jax.block_until_ready(fb(weights, x)))


def medians(fns, budget):
    """Interleaved rounds until `budget` seconds or 200 rounds; ms medians."""
    times = {k: [] for k in fns}
    start = time.perf_counter()
    while time.perf_counter() - start < budget or len(times[next(iter(fns))]) < 5:
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
        if len(times[next(iter(fns))]) >= 200:
            break
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--shapes", help="batch,steps,units;... instead of the grid")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per shape")
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = [f"Recurrent layers on JAX, ms (medians of interleaved rounds), {machine()}", "",
            "| cell | batch | T | units | fwd ffi | fwd keras | f+b ffi | f+b keras | f+b keras/ffi | rule (training) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    print("\n".join(rows), flush=True)
    for cell in args.cells.split(","):
        shapes = QUICK if args.quick else GRID
        if args.shapes:
            shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")]
        for batch, steps, units in shapes:
            ffi_f, ffi_fb = compiled(cell, batch, steps, units, "ffi")
            ker_f, ker_fb = compiled(cell, batch, steps, units, "xla")
            m = medians({"ffi_f": ffi_f, "ker_f": ker_f, "ffi_fb": ffi_fb, "ker_fb": ker_fb},
                        args.budget)
            rule = "kernel" if zoo.ops.rnn.jax_prefers_kernel(cell, batch) else "keras"
            row = (f"| {cell} | {batch} | {steps} | {units} | {m['ffi_f']:.2f} | {m['ker_f']:.2f} "
                   f"| {m['ffi_fb']:.2f} | {m['ker_fb']:.2f} | {m['ker_fb'] / m['ffi_fb']:.2f}x "
                   f"| {rule} |")
            rows.append(row)
            print(row, flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
