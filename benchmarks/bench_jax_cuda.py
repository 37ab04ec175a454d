"""The JAX binding's CUDA handlers against XLA's own code for the same ops, on one GPU.

    python benchmarks/bench_jax_cuda.py [--repeats 50]

Needs jax with a CUDA backend and keras-zoo built with ZOO_WITH_CUDA=ON. Each
case is jitted twice, forward and gradient of a weighted sum: once through the
zoo custom calls (zoo.ops._jax, the path ZOO_JAX_PATH=ffi takes) and once as
plain jax.numpy, which XLA fuses itself (the path the JAX dispatch takes by
default). Times are medians of wall-clock timings of whole jitted calls with
jax.block_until_ready; both variants run interleaved in one process. The
ratio is what would decide the GPU dispatch rule (zoo/ops/bias_act.py,
zoo/ops/dense.py), which today leaves both ops to XLA. The rate column counts,
for bias_act, six float32 passes over x (an estimate of the bytes a forward
and backward must move), for dense the three GEMMs' FLOPs.

Prints a markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp

    from zoo import _native
    import zoo.ops._jax as zjax
    from zoo.ops._activations import Activation

    gpu = jax.devices("gpu")[0]
    assert _native.jax_ops_cuda(), "keras-zoo was built without ZOO_WITH_CUDA"
    rng = np.random.default_rng(0)

    def put(*shape, scale=1.0):
        return jax.device_put((rng.standard_normal(shape) * scale).astype(np.float32), gpu)

    def xla_act(name, z):
        return {"relu": jax.nn.relu, "gelu": lambda v: jax.nn.gelu(v, approximate=False),
                "gelu_tanh": lambda v: jax.nn.gelu(v, approximate=True)}[name](z)

    cases = []
    for act, n, c in (("relu", 1 << 24, 1024), ("gelu", 1 << 24, 1024)):
        x, b, up = put(n // c, c), put(c), put(n // c, c)
        a = Activation(act)
        zoo_f = lambda x, b, a=a, up=up: jnp.sum(zjax.bias_act(x, b, a) * up)
        xla_f = lambda x, b, act=act, up=up: jnp.sum(xla_act(act, x + b) * up)
        cases.append((f"bias_act {act} {n // c}x{c}", zoo_f, xla_f, (x, b), 2 * 4 * n * 3))
    for act, (m, k, n) in (("relu", (4096, 4096, 4096)), ("gelu_tanh", (4096, 4096, 4096)),
                           ("gelu_tanh", (256, 1024, 4096))):
        x, w, b, up = put(m, k), put(k, n, scale=k ** -0.5), put(n), put(m, n)
        a = Activation(act)
        zoo_f = lambda x, w, b, a=a, up=up: jnp.sum(zjax.dense(x, w, b, a) * up)
        xla_f = lambda x, w, b, act=act, up=up: jnp.sum(xla_act(act, x @ w + b) * up)
        cases.append((f"dense {act} {m}x{k}x{n}", zoo_f, xla_f, (x, w, b), 3 * 2 * m * k * n))

    print(f"GPU: {gpu.device_kind}; jax {jax.__version__}; medians of {args.repeats} calls "
          "(forward + gradient, jitted)\n")
    print("| case | zoo FFI ms | XLA ms | XLA / zoo | zoo rate |")
    print("|---|---:|---:|---:|---:|")
    for name, zoo_f, xla_f, inputs, work in cases:
        argnums = tuple(range(len(inputs)))
        fns = {"zoo": jax.jit(jax.value_and_grad(zoo_f, argnums=argnums)),
               "xla": jax.jit(jax.value_and_grad(xla_f, argnums=argnums))}
        times = {k: [] for k in fns}
        for f in fns.values():
            jax.block_until_ready(f(*inputs))  # compile and warm up
        for _ in range(args.repeats):
            for key, f in fns.items():
                t = time.perf_counter()
                jax.block_until_ready(f(*inputs))
                times[key].append(time.perf_counter() - t)
        z, x = (statistics.median(times[k]) for k in ("zoo", "xla"))
        unit = "GB/s" if name.startswith("bias_act") else "TFLOP/s"
        rate = work / z / (1e9 if unit == "GB/s" else 1e12)
        print(f"| {name} | {z * 1e3:.3f} | {x * 1e3:.3f} | {x / z:.2f}x | {rate:.1f} {unit} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
