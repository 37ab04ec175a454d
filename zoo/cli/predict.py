"""``zoo predict``: run a model on an image, a CSV file or an .npz file.

Inputs are shaped to the model's input (an image is resized, CSV rows are
reshaped) and prepared as the weights' ``preprocessing`` says: the channels
reversed when ``channel_order`` is ``"bgr"`` (Keras' caffe mode), then
``x * rescale``, then ``(x - mean) / std``. Nothing is unpickled: .npz files load
with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli.common import console, parse_pretrained, print_json, quiet_tensorflow
from zoo.cli.models import PRETRAINED_HELP

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@click.command("predict")
@click.argument("name")
@click.argument("input_file", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
@click.option("--pretrained", is_flag=False, flag_value="", default=None, help=PRETRAINED_HELP)
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="a local weights file")
@click.option("--num-classes", type=int, help="size of the head (when not given by the weights)")
@click.option("--key", help="array to use from an .npz file (default: 'x' or its only array)")
@click.option("--top-k", default=5, show_default=True, help="classes shown per sample")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def predict_command(name, input_file, pretrained, weights, num_classes, key, top_k, as_json):
    """Run NAME (a model or preset directory) on INPUT: an image, a .csv or an .npz file."""
    quiet_tensorflow()
    import numpy as np

    from zoo.create import create_model
    from zoo.hub.provenance import model_origin
    from zoo.inference import predict

    raw = _read_file(Path(input_file), key)  # bad input fails before the model is built
    model = create_model(name, parse_pretrained(pretrained), weights=weights, num_classes=num_classes)
    origin = model_origin(model) or {}
    trained = origin.get("weights") or {}
    x = _fit_to_model(raw, model.input_shape)
    x = _preprocess(x, origin.get("preprocessing") or {})
    y = np.asarray(predict(model, x))

    if "classification" in (origin.get("task") or "") and y.ndim == 2:
        results = _top_k(y, list(trained.get("labels") or []), top_k)
        if as_json:
            print_json({"task": origin.get("task"), "predictions": results})
            return
        out = console()
        for i, ranked in enumerate(results):
            out.print(f"[bold]sample {i}[/bold]: " + ", ".join(f"{r['label']} {r['score']:.3f}" for r in ranked))
        return
    if as_json:
        print_json({"task": origin.get("task"), "shape": list(y.shape), "outputs": y.tolist()})
        return
    out = console()
    out.print(f"output shape {tuple(y.shape)}")
    with np.printoptions(precision=4, suppress=True, threshold=200):
        out.print(str(y))


def _read_file(path: Path, key: str | None):
    """The file's data: ("array", ndarray) for .npz/.csv rows, ("image", encoded bytes) for images."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            names = list(data.keys())
            if key is None:
                key = "x" if "x" in names else (names[0] if len(names) == 1 else None)
            if key not in names:
                raise click.UsageError(f"{path} holds arrays {names}; choose one with --key")
            return "npz", data[key].astype("float32")
    if suffix == ".csv":
        return "csv", _read_csv(path)
    if suffix in IMAGE_SUFFIXES:
        return "image", path.read_bytes()
    raise click.UsageError(f"{path}: expected an image ({', '.join(sorted(IMAGE_SUFFIXES))}), .csv or .npz file")


def _fit_to_model(raw, input_shape):
    """Shape the file's data as a batch for the model's input."""
    import numpy as np

    kind, data = raw
    dims = tuple(input_shape[1:])
    if kind == "image":
        return _decode_image(data, dims)
    if kind == "csv" and data.shape[1:] != dims and None not in dims and data.shape[1] == int(np.prod(dims)):
        return data.reshape((-1, *dims))  # each row is one flattened sample
    return data[None] if data.ndim == len(dims) else data


def _read_csv(path: Path):
    import numpy as np

    try:
        return np.loadtxt(path, delimiter=",", ndmin=2, dtype="float32")
    except ValueError:  # a header row
        return np.loadtxt(path, delimiter=",", ndmin=2, dtype="float32", skiprows=1)


def _decode_image(encoded: bytes, dims):
    import tensorflow as tf

    if len(dims) != 3:
        raise click.UsageError(f"the model takes inputs of shape {dims}, not images")
    height, width, channels = dims
    image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    if height is not None and width is not None:
        image = tf.image.resize(image, (height, width))
    return tf.cast(image, "float32").numpy()[None]


def _preprocess(x, preprocessing: dict):
    import numpy as np

    x = np.asarray(x, dtype="float32")
    order = str(preprocessing.get("channel_order", "rgb")).lower()
    if order not in ("rgb", "bgr"):
        raise click.UsageError(f"preprocessing channel_order must be 'rgb' or 'bgr', got {order!r}")
    if order == "bgr":
        x = x[..., ::-1]
    if "rescale" in preprocessing:
        x = x * float(preprocessing["rescale"])
    if "mean" in preprocessing:
        x = x - np.asarray(preprocessing["mean"], dtype="float32")
    if "std" in preprocessing:
        x = x / np.asarray(preprocessing["std"], dtype="float32")
    return x


def _top_k(y, labels: list, k: int) -> list:
    import numpy as np

    # Heads may end in logits or in probabilities; rank by probabilities either way.
    if not (np.all(y >= 0) and np.allclose(y.sum(axis=-1), 1.0, atol=1e-3)):
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
    results = []
    for row in y:
        order = np.argsort(-row)[:k]
        results.append([
            {"index": int(i), "label": labels[i] if i < len(labels) else str(int(i)), "score": float(row[i])}
            for i in order
        ])
    return results
