"""Model families: training-step time and inference latency of each family's
models, zoo's native build against the same architecture on stock Keras layers
(``native=False``), in graph mode and, for the stock build, under XLA.

Run:  python benchmarks/bench_models.py [--quick] [--models lenet,resnet18] [--out table.md]

Variants, each on the same weights and the same fixed batch:
  native   zoo layers (FusedDense / BiasActivation) on the native kernels, tf.function
  ref      the same model with zoo.native(False): zoo layers on their keras.ops reference
  stock    keras.layers.Dense / Activation (native=False build), tf.function
  xla      the stock build with jit_compile=True
  native xla  zoo's build with jit_compile=True: the recurrent layers' XLA kernels
           (one custom call each way); bias+activation and dense are XLA's own there
"train" is the time of one ``train_on_batch`` after warm-up; "infer" of one
``predict_on_batch``. With ``--steps-per-execution N`` (N > 1) every variant is
compiled with ``steps_per_execution=N``, as a user who wants speed from Keras
runs it, and a step is timed inside ``fit`` / ``predict`` over 2N batches
(Keras' per-call Python work amortised, as in a real epoch). The variants run
in interleaved rounds so that load on the machine hits them alike; in each
round a variant runs --calls consecutive steps (default: as many as fill
about 0.25 s, at most 20) and the round's time is their mean, so that a step
is timed as ``fit`` runs it, right after the same model's previous step (one
call per round, as before 2026-12-04, also timed the caches and thread pools
warming up again after the other variants, which costs a small model's step
more than a large one's). The table gives the median over rounds. An XLA column
reads "n/a" where XLA fails to compile.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine, print_table  # noqa: E402

import zoo  # noqa: E402
from zoo import _native  # noqa: E402

# name -> (builder overrides, batch): realistic small shapes that run in seconds on 2 cores.
CASES = {
    "lenet": (dict(input_shape=(32, 32, 1), num_classes=10), 64),
    "resnet18": (dict(input_shape=(32, 32, 3), num_classes=10), 32),
    "resnet50": (dict(input_shape=(32, 32, 3), num_classes=10, width=32), 16),
    "mobilenet_v2": (dict(input_shape=(64, 64, 3), num_classes=10, alpha=0.5), 32),
    "lstm_classifier": (dict(input_shape=(50, 16), num_classes=5, units=(64, 64)), 64),
    "gru_forecaster": (dict(input_shape=(50, 4), num_classes=8), 64),
    "bilstm_classifier": (dict(input_shape=(50, 16), num_classes=5, units=(64,)), 64),
    "conv_lstm_classifier": (dict(input_shape=(100, 8), num_classes=5), 64),
    "dense_autoencoder": (dict(input_shape=(784,)), 128),
    "conv_autoencoder": (dict(input_shape=(28, 28, 1)), 64),
    "vae": (dict(input_shape=(784,)), 128),
}
QUICK = {"lenet", "lstm_classifier", "dense_autoencoder"}


def targets(name, model, x, rng):
    spec = zoo.get_model_spec(name)
    if spec.family == "autoencoder":
        return x, "mse"
    if spec.task == "forecasting":
        return rng.random((len(x), model.output_shape[-1]), dtype=np.float32), "mse"
    y = rng.integers(0, model.output_shape[-1], len(x))
    return y, "sparse_categorical_crossentropy"


def prepare(model, x, y, loss, *, jit, reference=False, spe=1):
    """Compile and trace (in the native or reference context, which fixes the
    path) the train and predict steps; returns them as two callables, each
    running one step (spe == 1) or 2 * spe steps in one fit / predict call."""
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=loss, jit_compile=jit,
                  steps_per_execution=spe)

    if spe == 1:
        def train():
            model.train_on_batch(x, y)

        def infer():
            model.predict_on_batch(x)
    else:  # the same batch 2 * spe times: fit and predict run two executions
        xs, ys = np.concatenate([x] * (2 * spe)), np.concatenate([y] * (2 * spe))

        def train():
            model.fit(xs, ys, batch_size=len(x), epochs=1, shuffle=False, verbose=0)

        def infer():
            model.predict(xs, batch_size=len(x), verbose=0)

    # Tracing happens on the first call, inside the context: it fixes the path.
    with _native.native(not reference):
        for _ in range(2):
            train()
            infer()
    return train, infer


def consecutive(fn, calls):
    """fn run `calls` times in a row; interleaved_medians times the block."""
    def block():
        for _ in range(calls):
            fn()
    return block


def bench(name, overrides, batch, repeats, calls=None, spe=1):
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    native = zoo.create_model(name, **overrides)
    weights = native.get_weights()
    shape = tuple(native.input_shape[1:])
    x = rng.random((batch,) + shape, dtype=np.float32)
    y, loss = targets(name, native, x, rng)

    def same_weights(model):
        model.set_weights(weights)
        return model

    steps = {"native": prepare(native, x, y, loss, jit=False, spe=spe)}
    steps["ref"] = prepare(same_weights(zoo.create_model(name, **overrides)), x, y, loss,
                           jit=False, reference=True, spe=spe)
    steps["stock"] = prepare(same_weights(zoo.create_model(name, **overrides, native=False)),
                             x, y, loss, jit=False, spe=spe)
    for key, native_build in (("xla", False), ("native_xla", True)):
        try:
            steps[key] = prepare(
                same_weights(zoo.create_model(name, **overrides, native=native_build)),
                x, y, loss, jit=True, spe=spe)
        except Exception as exc:  # XLA cannot compile some graphs (e.g. some RNN loops)
            print(f"  {name}: {key} failed ({type(exc).__name__}: {exc})"[:300], file=sys.stderr)
    if calls is None:  # blocks of about 0.25 s of the slowest variant's step
        t0 = time.perf_counter()
        steps["stock"][0]()
        calls = max(1, min(20, round(0.25 / (time.perf_counter() - t0))))
    rounds = dict(min_rounds=repeats, max_rounds=repeats)
    train = interleaved_medians({k: consecutive(v[0], calls) for k, v in steps.items()}, (), 0.0,
                                **rounds)
    infer = interleaved_medians({k: consecutive(v[1], calls) for k, v in steps.items()}, (), 0.0,
                                **rounds)
    per_call = calls * (1 if spe == 1 else 2 * spe)  # steps a timed block runs
    return {k: (train[k] / per_call, infer[k] / per_call) if k in steps else None
            for k in VARIANTS}


VARIANTS = ("native", "native_xla", "ref", "stock", "xla")


def best(r, keys, i):
    """The fastest of these variants' times (train i=0, infer i=1)."""
    return min(r[k][i] for k in keys if r[k] is not None)


def fmt(seconds):
    return "n/a" if seconds is None else f"{seconds * 1e3:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="three small models, few repeats")
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(CASES))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None,
                        help="consecutive steps per variant and round (default: ~0.25 s worth)")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="compile every variant with this steps_per_execution and time "
                        "steps inside fit / predict (default 1: train_on_batch)")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    names = list(CASES)
    if args.models:
        names = [n.strip() for n in args.models.split(",")]
        unknown = set(names) - set(CASES)
        if unknown:
            parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(CASES)}")
    elif args.quick:
        names = [n for n in names if n in QUICK]
    if args.steps_per_execution < 1:
        parser.error("--steps-per-execution must be >= 1")
    repeats = args.repeats or (5 if args.quick else 15)
    if not _native.use_tf_native():
        print("warning: the native op library is not loaded; 'native' runs the reference",
              file=sys.stderr)

    lines = [
        f"Model step times in ms (median of {repeats}), "
        + ("train_on_batch / predict_on_batch" if args.steps_per_execution == 1 else
           f"fit / predict at steps_per_execution={args.steps_per_execution}")
        + f", {machine()}",
        "",
        "| model | family | batch | train native | train native xla | train ref | train stock "
        "| train xla | infer native | infer native xla | infer ref | infer stock | infer xla "
        "| train native/stock | zoo's best vs stock's best, train / infer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        overrides, batch = CASES[name]
        print(f"{name} ...", file=sys.stderr, flush=True)
        r = bench(name, overrides, batch, repeats, args.calls, args.steps_per_execution)
        ratio = r["native"][0] / r["stock"][0]
        cols = [fmt(r[v][0] if r[v] else None) for v in VARIANTS]
        cols += [fmt(r[v][1] if r[v] else None) for v in VARIANTS]
        zoo_keys, stock_keys = ("native", "native_xla"), ("stock", "xla")
        speedup = [best(r, stock_keys, i) / best(r, zoo_keys, i) for i in (0, 1)]
        lines.append(f"| {name} | {zoo.get_model_spec(name).family} | {batch} | "
                     + " | ".join(cols) + f" | {ratio:.2f} | "
                     f"{speedup[0]:.2f}x / {speedup[1]:.2f}x |")
    print_table(lines, args.out)


if __name__ == "__main__":
    main()
