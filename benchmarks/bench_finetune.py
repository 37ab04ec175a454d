"""zoo.finetune against plain Keras: wall time per epoch, same model, data and epochs.

Run:  python benchmarks/bench_finetune.py [--families dense,autoencoder,rnn,lenet,resnet18]
                                          [--rounds 3] [--precision | --jit | --pipeline]
                                          [--out table.md]

Per family, each round runs these variants one after the other (so load
from other processes hits them alike), each on a freshly built model with the
same seed:

  stock      model.compile(Adam(lr), loss, metrics); model.fit(x, y, batch_size, epochs)
             (Keras' defaults: steps_per_execution=1, float32, jit_compile="auto")
  stock-sgd  the same with SGD: how much of a step the optimizer update costs
  zoo        zoo.finetune(model, (x, y), head_epochs=0, epochs=...) with its defaults
             (precision="auto", steps_per_execution="auto", Keras' Adam)
  zoo-fused  the same with optimizer="fused_adam" (one fused update op per variable)
  zoo-graph, zoo-xla  zoo.finetune with jit_compile=False / True
  spe-arrays, spe-batches  compile(steps_per_execution as finetune picks) + fit on
             the arrays (Keras' pipeline) / on zoo.training.batches.epoch_batches

With --precision the run compares precisions instead (what the "auto" rule of
zoo.training.precision is set from): zoo.finetune's defaults with
precision="float32" against precision="bfloat16", on the same models and data.
With --jit, jit_compile=False against True (what zoo.training.speed's
decision to leave XLA off by default rests on). With --pipeline, Keras' array
pipeline against zoo's (what finetune feeds arrays through).

Both train the same layers: zoo.finetune's "full" phase keeps BatchNorm in
inference mode, so the stock variants get zoo.unfreeze(model) too. The time of
an epoch is taken from epoch-end callbacks (on_epoch_* only, which leave
finetune's choice of steps_per_execution alone); the first epoch (tracing) is
left out and the median of the others is the run's time; the table gives the
median over rounds. The final metrics are each run's evaluation on the
training data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
import zoo.training.batches  # noqa: E402
import zoo.training.speed  # noqa: E402
from _timing import machine  # noqa: E402
from zoo import _native  # noqa: E402


def _mlp():
    return keras.Sequential([
        keras.Input((784,)),
        zoo.layers.FusedDense(512, activation="gelu"),
        zoo.layers.FusedDense(256, activation="gelu"),
        zoo.layers.FusedDense(10, name="head"),
    ], name="mlp")


# family -> (model factory, x shape, examples, batch, epochs, labels: classes or None)
FAMILIES = {
    "dense": (_mlp, (784,), 4096, 128, 4, 10),
    "autoencoder": (lambda: zoo.create_model("dense_autoencoder"), (784,), 4096, 128, 4, None),
    "rnn": (lambda: zoo.create_model("lstm_classifier", input_shape=(32, 8), num_classes=4),
            (32, 8), 2048, 64, 4, 4),
    "lenet": (lambda: zoo.create_model("lenet", input_shape=(32, 32, 1), num_classes=10),
              (32, 32, 1), 2048, 64, 4, 10),
    "resnet18": (lambda: zoo.create_model("resnet18", input_shape=(32, 32, 3), num_classes=10),
                 (32, 32, 3), 256, 32, 3, 10),
}


def data(family):
    _, shape, n, _, _, classes = FAMILIES[family]
    rng = np.random.default_rng(0)
    x = rng.random((n, *shape), dtype=np.float32)
    if classes is None:
        return x, x.copy()
    # a learnable rule, so the metrics say something
    return x, (x.reshape(n, -1)[:, :classes].argmax(-1)).astype("int64")


def loss_and_metrics(family):
    if FAMILIES[family][5] is None:
        return "mse", ["mae"]
    model = FAMILIES[family][0]()
    from_logits = not zoo.finetune._gives_probabilities(model)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]


class EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def run(variant, family, x, y, lr=1e-3):
    factory, _, _, batch, epochs, _ = FAMILIES[family]
    loss, metrics = loss_and_metrics(family)
    keras.utils.set_random_seed(0)
    model = factory()
    timer = EpochTimes()
    if variant.startswith("zoo"):
        precision = {"zoo-float32": "float32", "zoo-bfloat16": "bfloat16"}.get(variant, "auto")
        result = zoo.finetune(model, (x, y), head_epochs=0, epochs=epochs, learning_rate=lr,
                              fine_tune_learning_rate=lr, batch_size=batch, loss=loss,
                              metrics=metrics, verbose=0, callbacks=[timer],
                              optimizer="fused_adam" if variant == "zoo-fused" else "adam",
                              precision=precision,
                              jit_compile={"zoo-graph": False, "zoo-xla": True}.get(variant, "auto"))
        final, settings = result.metrics, result.settings
    elif variant.startswith("spe-"):
        # zoo.finetune's steps per execution on compile + fit, the arrays fed
        # through Keras' pipeline or through zoo's (training/batches.py)
        zoo.unfreeze(model)
        per_epoch = zoo.training.speed.batches_per_epoch(x, batch)
        spe = zoo.training.speed.choose_steps_per_execution(
            "auto", batches=per_epoch, callbacks=[timer])
        # both variants at the executions that tile an epoch, as finetune runs
        spe = zoo.training.batches.aligned_steps_per_execution(spe, per_epoch, True) or spe
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=metrics,
                      steps_per_execution=spe)
        if variant == "spe-batches":
            train = zoo.training.batches.epoch_batches(x, y, batch_size=batch, seed=0)
            model.fit(train, epochs=epochs, verbose=0, callbacks=[timer],
                      steps_per_epoch=per_epoch)
        else:
            model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
        final = model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)
        settings = {"steps_per_execution": spe}
    else:
        zoo.unfreeze(model)
        optimizer = keras.optimizers.Adam(lr) if variant == "stock" else keras.optimizers.SGD(lr)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
        final = model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)
        settings = {}
    return statistics.median(timer.times[1:]), final, settings


def show(final):
    return ", ".join(f"{k} {v:.4g}" for k, v in final.items())


def measure(family, variants, rounds):
    """Interleaved rounds of each variant on one family: the data's x, the
    median epoch time per variant, each variant's final metrics and settings."""
    x, y = data(family)
    times = {v: [] for v in variants}
    finals, settings = {}, {}
    for _ in range(rounds):
        for variant in variants:
            t, final, chosen = run(variant, family, x, y)
            times[variant].append(t)
            finals[variant] = final
            settings[variant] = chosen or settings.get(variant)
    return x, {v: statistics.median(ts) for v, ts in times.items()}, finals, settings


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", default="stock,stock-sgd,zoo,zoo-fused")
    p.add_argument("--precision", action="store_true",
                   help="compare zoo.finetune in float32 and in bfloat16")
    p.add_argument("--jit", action="store_true",
                   help="compare zoo.finetune with jit_compile=False and True")
    p.add_argument("--pipeline", action="store_true",
                   help="compare Keras' array pipeline with zoo's, both at finetune's "
                        "steps per execution")
    p.add_argument("--out", help="append the markdown table to this file")
    args = p.parse_args()
    assert _native.use_tf_native(), "native op library not loaded"
    if args.precision:
        return compare_precisions(args)
    if args.jit:
        return compare_jit(args)
    if args.pipeline:
        return compare_settings(args, ("spe-arrays", "spe-batches"), ("Keras arrays", "zoo batches"),
                                "float32, Keras' Adam")
    variants = args.variants.split(",")
    lines = [
        f"Machine: {machine()}; ISA {_native.get_isa()}; medians over {args.rounds} "
        "interleaved rounds of each run's median epoch (first epoch left out).",
        "",
        "| family | batch | steps/epoch | stock s/epoch | stock-sgd s/epoch | zoo s/epoch | "
        "zoo-fused s/epoch | zoo vs stock | zoo-fused vs stock | Adam share of stock step | zoo settings | "
        "stock final | zoo final |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for family in args.families.split(","):
        x, med, finals, settings = measure(family, variants, args.rounds)
        batch = FAMILIES[family][3]

        sgd, fused = med.get("stock-sgd"), med.get("zoo-fused")
        fused_vs_stock = "-" if fused is None else f"{med['stock'] / fused:.2f}x"
        adam_share = f"{(med['stock'] - sgd) / med['stock']:.0%}" if sgd else "-"
        zoo_set = settings.get("zoo") or {}
        lines.append(
            f"| {family} | {batch} | {-(-len(x) // batch)} | {med['stock']:.3f} | "
            f"{sgd if sgd is None else f'{sgd:.3f}'} | {med['zoo']:.3f} | "
            f"{fused if fused is None else f'{fused:.3f}'} | "
            f"{med['stock'] / med['zoo']:.2f}x | "
            f"{fused_vs_stock} | "
            f"{adam_share} | "
            f"{zoo_set.get('precision')}, spe {zoo_set.get('steps_per_execution')} | "
            f"{show(finals['stock'])} | {show(finals['zoo'])} |")
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")


def compare_precisions(args):
    from zoo.training.precision import has_bf16_hardware

    compare_settings(args, ("zoo-float32", "zoo-bfloat16"), ("float32", "bfloat16"),
                     f"bfloat16 hardware: {has_bf16_hardware()}")


def compare_jit(args):
    compare_settings(args, ("zoo-graph", "zoo-xla"), ("graph", "XLA"),
                     f"XLA kernels in the op library: {_native.tf_xla_kernels()}")


def compare_settings(args, variants, names, note):
    """zoo.finetune's defaults with one setting changed: two variants, one row per family."""
    a, b = names
    lines = [
        f"Machine: {machine()}; ISA {_native.get_isa()}; {note}; medians over {args.rounds} "
        "interleaved rounds of each run's median epoch (first epoch left out).",
        "",
        f"| family | batch | steps/epoch | {a} s/epoch | {b} s/epoch | {b} speed-up "
        f"| {a} final | {b} final |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for family in args.families.split(","):
        x, med, finals, _ = measure(family, variants, args.rounds)
        ta, tb = (med[v] for v in variants)
        batch = FAMILIES[family][3]
        lines.append(f"| {family} | {batch} | {-(-len(x) // batch)} | {ta:.3f} | {tb:.3f} | "
                     f"{ta / tb:.2f}x | {show(finals[variants[0]])} | "
                     f"{show(finals[variants[1]])} |")
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
