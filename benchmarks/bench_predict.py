"""Batch inference over an array: zoo.predict against model.predict, per batch.

Run:  python benchmarks/bench_predict.py [--models lstm_classifier,gru_forecaster] [--rounds 5]

Each model predicts the same array of 64 batches (plus a partial one), on the
same weights, ms per batch, medians over interleaved rounds:
  native predict        zoo's build, model.predict (Keras' defaults)
  native predict 32     zoo's build compiled with steps_per_execution=32
  native zoo.predict    zoo's build, zoo.predict
  stock predict         the native=False build, model.predict
  stock xla predict 32  the native=False build, jit_compile=True, steps_per_execution=32
  stock zoo.predict     the native=False build, zoo.predict
  jax stock predict     the native=False build on Keras' JAX backend (jit), model.predict,
                        in a child process of the same run (when jax is installed)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine, print_table  # noqa: E402

CASES = {
    "lstm_classifier": (dict(input_shape=(50, 16), num_classes=5, units=(64, 64)), 64),
    "gru_forecaster": (dict(input_shape=(50, 4), num_classes=8), 64),
    "dense_autoencoder": (dict(input_shape=(784,)), 128),
    "lenet": (dict(input_shape=(32, 32, 1), num_classes=10), 64),
}
BATCHES = 64


def data(name, batch):
    import numpy as np

    shape = CASES[name][0]["input_shape"]
    return np.random.default_rng(0).random((BATCHES * batch + batch // 2,) + shape, dtype=np.float32)


def variants(name, rounds):
    """Seconds per batch of each TF variant (this process is on TensorFlow)."""
    import keras

    import zoo

    overrides, batch = CASES[name]
    x = data(name, batch)
    keras.utils.set_random_seed(0)
    native = zoo.create_model(name, **overrides)
    weights = native.get_weights()

    def build(native_build, **compile_args):
        model = zoo.create_model(name, native=native_build, **overrides)
        model.set_weights(weights)
        if compile_args:
            model.compile(loss="mse", **compile_args)
        return model

    spe = build(True, steps_per_execution=32)
    stock = build(False)
    xla = build(False, jit_compile=True, steps_per_execution=32)
    fns = {
        "native predict": lambda: native.predict(x, batch_size=batch, verbose=0),
        "native predict 32": lambda: spe.predict(x, batch_size=batch, verbose=0),
        "native zoo.predict": lambda: zoo.predict(native, x, batch_size=batch),
        "stock predict": lambda: stock.predict(x, batch_size=batch, verbose=0),
        "stock xla predict 32": lambda: xla.predict(x, batch_size=batch, verbose=0),
        "stock zoo.predict": lambda: zoo.predict(stock, x, batch_size=batch),
    }
    per_batch = BATCHES + 1
    return {k: v / per_batch for k, v in
            interleaved_medians(fns, (), 0.0, min_rounds=rounds, max_rounds=rounds).items()}


def jax_child(names, rounds):
    """Stock model.predict on Keras' JAX backend, in a child process."""
    if importlib.util.find_spec("jax") is None:
        return {}
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", ",".join(names),
                           "--rounds", str(rounds)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(names, rounds):
    import zoo

    out = {}
    for name in names:
        overrides, batch = CASES[name]
        x = data(name, batch)
        model = zoo.create_model(name, native=False, **overrides)
        fns = {"jax": lambda: model.predict(x, batch_size=batch, verbose=0)}
        out[name] = interleaved_medians(fns, (), 0.0, min_rounds=rounds,
                                        max_rounds=rounds)["jax"] / (BATCHES + 1)
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(CASES),
                        help="comma-separated subset of: " + ", ".join(CASES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    if args.child:
        return child(args.child.split(","), args.rounds)
    names = [n.strip() for n in args.models.split(",")]
    unknown = set(names) - set(CASES)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(CASES)}")
    results = {}
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        results[name] = variants(name, args.rounds)
    jax = jax_child(names, args.rounds)
    keys = list(next(iter(results.values())))
    lines = [f"ms per batch over {BATCHES} batches (medians of {args.rounds} rounds), {machine()}",
             "",
             "| model | batch | " + " | ".join(keys) + " | jax stock predict "
             "| zoo.predict (native) vs the fastest stock |",
             "|---|---|" + "---|" * (len(keys) + 2)]
    for name, r in results.items():
        # The stock alternatives a user has without zoo.
        stock_best = min([r["stock predict"], r["stock xla predict 32"]]
                         + ([jax[name]] if name in jax else []))
        cells = [f"{r[k] * 1e3:.2f}" for k in keys]
        cells.append(f"{jax[name] * 1e3:.2f}" if name in jax else "n/a")
        lines.append(f"| {name} | {CASES[name][1]} | " + " | ".join(cells)
                     + f" | {stock_best / r['native zoo.predict']:.2f}x |")
    print_table(lines, args.out)


if __name__ == "__main__":
    main()
