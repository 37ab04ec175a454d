"""Where zoo's fused layers could pay on the ImageNet models: their dense heads.

    python benchmarks/bench_imagenet.py [--batch 8] [--budget 20]

The keras_* models are Keras' own builders; their only dense layers are the
classifier head (ResNet50: 2048 -> 1000) and, for VGG, fc1/fc2 (25088 -> 4096 ->
4096 -> 1000). This times, interleaved in one process (medians): the whole
inference step, the stock head alone on the same features, and that head on
zoo's FusedDense (same weights, outputs compared). The head's share of the step
bounds what swapping it could save.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from _timing import interleaved_medians, machine  # noqa: E402
from zoo import _native  # noqa: E402
from zoo.layers import FusedDense  # noqa: E402

HEADS = {"keras_resnet50": ["predictions"], "keras_vgg16": ["fc1", "fc2", "predictions"]}


def head_models(model, names):
    """The head layers as a stock model and as a FusedDense model, with the same weights."""
    first = model.get_layer(names[0])
    inputs = keras.Input(first.input.shape[1:])
    x_stock, x_zoo = inputs, inputs
    for name in names:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        act = layer.get_config()["activation"]
        stock = keras.layers.Dense(layer.units, activation=act)
        x_stock = stock(x_stock)
        stock.set_weights([kernel, bias])
        fused = FusedDense(layer.units, activation=None if act == "softmax" else act)
        x_zoo = fused(x_zoo)
        fused.set_weights([kernel, bias])
        if act == "softmax":
            x_zoo = keras.layers.Activation("softmax")(x_zoo)
    return keras.Model(inputs, x_stock), keras.Model(inputs, x_zoo), first.input.shape[1:]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timing per model")
    p.add_argument("--out", help="append the markdown table to this file")
    args = p.parse_args()
    assert _native.use_tf_native(), "native op library not loaded"
    rng = np.random.default_rng(0)
    lines = [
        f"Machine: {machine()}; ISA {_native.get_isa()}; float32 inference, batch {args.batch}; "
        "medians of interleaved rounds.",
        "",
        "| model | head layers | step ms | stock head ms | FusedDense head ms | head share | "
        "saving if fused |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for name, head in HEADS.items():
        keras.backend.clear_session()
        model = zoo.create_model(name)
        stock, fused, feat_shape = head_models(model, head)
        x = tf.constant(rng.uniform(0, 255, (args.batch, *model.input_shape[1:])).astype("float32"))
        f = tf.constant(rng.standard_normal((args.batch, *feat_shape)).astype("float32"))
        np.testing.assert_allclose(fused(f).numpy(), stock(f).numpy(), rtol=1e-4, atol=1e-6)
        fns = {
            "step": tf.function(lambda a, b: model(a, training=False)),
            "stock": tf.function(lambda a, b: stock(b, training=False)),
            "zoo": tf.function(lambda a, b: fused(b, training=False)),
        }
        t = interleaved_medians(fns, (x, f), args.budget)
        lines.append(
            f"| {name} | {', '.join(head)} | {t['step']*1e3:.1f} | {t['stock']*1e3:.3f} | "
            f"{t['zoo']*1e3:.3f} | {t['stock']/t['step']:.2%} | {(t['stock']-t['zoo'])/t['step']:+.2%} |")
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
