"""Masking on TensorFlow: zoo.layers.Masking (one native op) against keras.layers.Masking.

Two levels, variants interleaved in one process, medians:
  op     the layer's output and its mask (what a functional model computes for
         the next layer), in a tf.function, on a (batch, time, features) batch
         with padded steps; "none" is the same tf.function returning its input
         (the call's own cost, which every variant pays)
  model  the RNN family's models (zoo's fused LSTM/GRU layers) built with zoo's
         Masking, with Keras' Masking, and without masking: `train_on_batch`
         (SGD) and `predict_on_batch`, blocks of 20 consecutive steps

Run:  python benchmarks/bench_masking.py [--rounds 15] [--out table.md]
"""

import argparse
import os
import sys
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ZOO_REQUIRE_NATIVE", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zoo  # noqa: E402
from _timing import interleaved_medians, machine, print_table  # noqa: E402

MODELS = {
    "lstm_classifier": (dict(input_shape=(50, 16), num_classes=5, units=(64, 64)), 64),
    "gru_forecaster": (dict(input_shape=(50, 4), num_classes=8), 64),
}
OP_SHAPES = [(64, 50, 16), (64, 50, 4), (256, 100, 32)]


def padded(shape, rng):
    x = rng.standard_normal(shape).astype("float32")
    lengths = rng.integers(shape[1] // 2, shape[1] + 1, shape[0])
    x[np.arange(shape[1])[None, :] >= lengths[:, None]] = 0.0
    return x


def op_rows(rounds, rng):
    rows = []
    for shape in OP_SHAPES:
        x = tf.constant(padded(shape, rng))
        fns = {"none": tf.function(lambda x: x)}
        for key, layer in (("keras", keras.layers.Masking(0.0)), ("zoo", zoo.layers.Masking(0.0))):
            fns[key] = tf.function(lambda x, layer=layer: (layer(x), layer.compute_mask(x)))
        t = interleaved_medians(fns, (x,), 0.0, min_rounds=rounds, max_rounds=rounds)
        rows.append((shape, t))
    return rows


def build(name, overrides, masking):
    """The zoo model with zoo's Masking ("zoo"), Keras' ("keras") or none."""
    import zoo.models._rnn_build as rnn_build

    if masking == "none":
        return zoo.create_model(name, masking=False, **overrides)
    if masking == "zoo":
        return zoo.create_model(name, **overrides)
    layers = {k: getattr(zoo.layers, k) for k in zoo.layers.__all__}
    rnn_build.zoo_layers = types.SimpleNamespace(**{**layers, "Masking": keras.layers.Masking})
    try:
        return zoo.create_model(name, **overrides)
    finally:
        rnn_build.zoo_layers = zoo.layers


def model_rows(rounds, rng):
    rows = []
    for name, (overrides, batch) in MODELS.items():
        models = {k: build(name, overrides, k) for k in ("zoo", "keras", "none")}
        weights = models["zoo"].get_weights()
        x = padded((batch,) + overrides["input_shape"], rng)
        classes = models["zoo"].output_shape[-1]
        if name.endswith("classifier"):
            y, loss = rng.integers(0, classes, batch), "sparse_categorical_crossentropy"
        else:
            y, loss = rng.standard_normal((batch, classes)).astype("float32"), "mse"
        train, infer = {}, {}
        for key, model in models.items():
            model.set_weights(weights)
            model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=loss)
            train[key] = lambda model=model: [model.train_on_batch(x, y) for _ in range(20)]
            infer[key] = lambda model=model: [model.predict_on_batch(x) for _ in range(20)]
        t = interleaved_medians(train, (), 0.0, min_rounds=rounds, max_rounds=rounds)
        i = interleaved_medians(infer, (), 0.0, min_rounds=rounds, max_rounds=rounds)
        rows.append((name, batch, {k: v / 20 for k, v in t.items()},
                     {k: v / 20 for k, v in i.items()}))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    lines = [f"Machine: {machine()}", "",
             "| shape | none (call only) | keras Masking | zoo Masking | keras - none | zoo - none |",
             "|---|---:|---:|---:|---:|---:|"]
    for shape, t in op_rows(args.rounds, rng):
        us = {k: v * 1e6 for k, v in t.items()}
        lines.append(f"| {'x'.join(map(str, shape))} | {us['none']:.0f} us | {us['keras']:.0f} us "
                     f"| {us['zoo']:.0f} us | {us['keras'] - us['none']:.0f} us "
                     f"| {us['zoo'] - us['none']:.0f} us |")
    lines += ["", "| model | batch | train zoo | train keras | train none | infer zoo | infer keras "
              "| infer none |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, batch, t, i in model_rows(args.rounds, rng):
        lines.append(f"| {name} | {batch} | " + " | ".join(
            f"{d[k] * 1e3:.2f} ms" for d in (t, i) for k in ("zoo", "keras", "none")) + " |")
    print_table(lines, args.out)


if __name__ == "__main__":
    main()
