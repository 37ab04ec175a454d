"""``fit`` step time per model family on both backends that have zoo kernels:

  jax native   zoo model (native=True) on Keras' JAX backend, jit: the fused
               LSTM/GRU as XLA FFI custom calls, bias_act/dense per the JAX rules
  jax ffi      the same with ZOO_JAX_PATH=ffi: every op the kernels cover as a
               custom call (what the rules decide against)
  jax stock    the same architecture on stock Keras layers (native=False), jit
  tf native    zoo model on TensorFlow (tf.function; the TF ops are not XLA-compilable)
  tf stock     stock Keras layers on TensorFlow (tf.function)

Each backend runs in its own child process (a process has one Keras backend);
inside a child the variants are interleaved, and the children alternate
(jax, tf, jax, tf, ...). Each repeat times two ``fit`` epochs, one of SHORT
and one of LONG batches: the step time is their difference over LONG - SHORT
steps (what each further step of an epoch costs), and "fixed" what one ``fit``
call costs beyond its steps (data adapter, iterator, callbacks), which a
20-step epoch would otherwise spread over its steps. Medians over the repeats
of all rounds.

Run:  python benchmarks/bench_jax.py [--quick] [--rounds 2] [--models a,b] [--out t.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = {
    "dense_autoencoder": (dict(input_shape=(784,)), 128),
    "lstm_classifier": (dict(input_shape=(50, 16), num_classes=5, units=(64, 64)), 64),
    "gru_forecaster": (dict(input_shape=(50, 4), num_classes=8), 64),
    "lenet": (dict(input_shape=(32, 32, 1), num_classes=10), 64),
}
VARIANTS = {"jax": ("native", "ffi", "stock"), "tf": ("native", "stock")}
SHORT, LONG = 20, 120


def child(backend, names, repeats):
    os.environ["KERAS_BACKEND"] = {"tf": "tensorflow"}.get(backend, backend)
    os.environ["ZOO_REQUIRE_NATIVE"] = "1"
    import numpy as np
    import keras

    import zoo

    rng = np.random.default_rng(0)
    out = {}
    for name in names:
        kw, batch = MODELS[name]
        n = batch * LONG
        models = {}
        for variant in VARIANTS[backend]:
            os.environ["ZOO_JAX_PATH"] = "ffi" if variant == "ffi" else "auto"
            model = zoo.create_model(name, native=variant != "stock", **kw)
            if not models:
                weights = model.get_weights()
                shape = tuple(model.input_shape[1:])
                x = rng.standard_normal((n,) + shape).astype("float32")
                if name == "dense_autoencoder":
                    x, y, loss = 1 / (1 + np.exp(-x)), None, "binary_crossentropy"
                elif name == "gru_forecaster":
                    y, loss = rng.standard_normal((n, 8)).astype("float32"), "mse"
                else:
                    classes = model.output_shape[-1]
                    y = rng.integers(0, classes, n)
                    loss = "sparse_categorical_crossentropy"
                y = x if y is None else y
            model.set_weights(weights)
            model.compile(optimizer="adam", loss=loss)
            model.fit(x[:batch * SHORT], y[:batch * SHORT], batch_size=batch, epochs=1,
                      verbose=0, shuffle=False)  # compile
            models[variant] = model
        os.environ["ZOO_JAX_PATH"] = "auto"

        def epoch(model, steps):
            t0 = time.perf_counter()
            model.fit(x[:batch * steps], y[:batch * steps], batch_size=batch, epochs=1,
                      verbose=0, shuffle=False)
            return time.perf_counter() - t0

        times = {v: {"step": [], "fixed": []} for v in models}
        for _ in range(repeats):
            for variant, model in models.items():
                short, long_ = epoch(model, SHORT), epoch(model, LONG)
                step = (long_ - short) / (LONG - SHORT)
                times[variant]["step"].append(step)
                times[variant]["fixed"].append(short - SHORT * step)
        out[name] = times
    print("RESULT " + json.dumps(out))


def run_child(backend, names, repeats):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    here = os.path.abspath(__file__)
    proc = subprocess.run([sys.executable, here, "--child", backend, "--models", ",".join(names),
                           "--repeats", str(repeats)], env=env, capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(here)) + "/..")
    if proc.returncode != 0:
        raise RuntimeError(f"{backend} child failed:\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    names = args.models.split(",")
    if args.child:
        return child(args.child, names, args.repeats)
    if args.quick:
        args.rounds, args.repeats = 1, 3
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _timing import machine  # noqa: PLC0415

    samples: dict = {}
    for _ in range(args.rounds):
        for backend in ("jax", "tf"):
            for name, times in run_child(backend, names, args.repeats).items():
                for variant, ts in times.items():
                    for what, values in ts.items():
                        key = (f"{backend} {variant}", what)
                        samples.setdefault(name, {}).setdefault(key, []).extend(values)
    cols = ["jax native", "jax ffi", "jax stock", "tf native", "tf stock"]
    lines = [machine(), "", f"Per step (the cost of each step after the first {SHORT}), ms:", "",
             "| model | batch | " + " | ".join(cols) + " | jax native / jax stock |",
             "|---|---:|" + "---:|" * len(cols) + "---:|"]

    def med(name, col, what):
        return statistics.median(samples[name][(col, what)]) * 1e3

    for name in names:
        speed = med(name, "jax stock", "step") / med(name, "jax native", "step")
        lines.append(f"| {name} | {MODELS[name][1]} | "
                     + " | ".join(f"{med(name, c, 'step'):.2f}" for c in cols)
                     + f" | {speed:.2f}x |")
    lines += ["", "Fixed cost of one `fit` call beyond its steps, ms:", "",
              "| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{med(name, c, 'fixed'):.1f}" for c in cols)
                     + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
