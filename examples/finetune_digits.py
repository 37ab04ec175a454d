"""Fine-tune a prebuilt keras-zoo model on new labels or new data, report the
metrics before and after, and save the result as a preset.

    python examples/finetune_digits.py                      # digits_cnn re-headed: "0-4" vs "5-9"
    python examples/finetune_digits.py --task rotated       # digits_cnn adapted to digits turned 90 degrees
    python examples/finetune_digits.py --images DIR         # your images: DIR/<class name>/*.png|jpg|bmp|gif
    python examples/finetune_digits.py --csv FILE [--column NAME]   # your series: sunspots_forecaster
    python examples/finetune_digits.py --epochs 1 --quick   # the reduced setting the tests run

Images are read in grey scale and resized to 8x8, the prebuilt CNN's input
(light strokes on a dark background, like the digits it learnt). A CSV series is
one numeric column (a header row is optional); the last 20% is held out and the
forecaster predicts each held-out value from the 20 before it.

Fine-tuning is ``zoo.finetune``'s two phases: the new head alone with the rest
frozen, then every layer at a tenth of the learning rate. The preset written at the end loads
with ``zoo.create_model(PATH)`` and packages with ``zoo package PATH --name ...``.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SEED = 0


# --------------------------------------------------------------------------- data


def digits_task(task: str) -> dict:
    """The digits split of the zoo-digits-cnn package, relabelled or transformed for ``task``."""
    from zoo_digits_cnn import data

    split = data.load_split()
    if task == "ge5":
        labels = ("0-4", "5-9")
        relabel = lambda x, y: (x, (y >= 5).astype("int64"))  # noqa: E731
        what = "digit >= 5 (binary)"
    elif task == "rotated":
        labels = data.LABELS
        relabel = lambda x, y: (np.rot90(x, 1, axes=(1, 2)).copy(), y)  # noqa: E731
        what = "digits rotated by 90 degrees"
    else:
        raise SystemExit(f"unknown --task {task!r}: use ge5 or rotated")
    parts = {name: relabel(*split[name]) for name in ("fit", "val", "test")}
    return {"parts": parts, "labels": labels, "name": f"digits_{task}",
            "dataset": f"scikit-learn load_digits, {what}; the zoo-digits-cnn split (test 25%, random_state=0)",
            "shift": data.shifted_copies, "preprocessing": {"rescale": 1 / data.PIXEL_MAX}}


def image_folder(directory: str) -> dict:
    """DIR/<class>/<image>: grey scale, resized to 8x8, scaled to [0, 1]; split 70/10/20 (stratified)."""
    import tensorflow as tf
    from sklearn.model_selection import train_test_split

    root = Path(directory)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise SystemExit(f"{root} needs one sub-folder per class (at least two), found {classes}")
    images, targets = [], []
    for index, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                image = tf.io.decode_image(tf.io.read_file(str(path)), channels=1, expand_animations=False)
                images.append(tf.image.resize(tf.cast(image, "float32"), (8, 8), method="area").numpy() / 255.0)
                targets.append(index)
    x, y = np.stack(images).astype("float32"), np.asarray(targets, dtype="int64")
    if min(np.bincount(y, minlength=len(classes))) < 5:
        raise SystemExit(f"{root}: every class needs at least 5 images ({dict(zip(classes, np.bincount(y)))})")
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)
    x_fit, x_val, y_fit, y_val = train_test_split(x_rest, y_rest, test_size=0.125, stratify=y_rest,
                                                  random_state=SEED)
    from zoo_digits_cnn import data

    return {"parts": {"fit": (x_fit, y_fit), "val": (x_val, y_val), "test": (x_test, y_test)},
            "labels": tuple(classes), "name": root.resolve().name or "images",
            "dataset": f"image folder {root} ({len(x)} images, {len(classes)} classes); stratified 70/10/20 split",
            "shift": data.shifted_copies, "preprocessing": {"rescale": 1 / 255, "resize": [8, 8], "grayscale": True}}


def read_series(path: str, column: str | None) -> np.ndarray:
    """One numeric column of a CSV file (the named one, else the last), header row optional."""
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    header = None
    try:
        float(rows[0][-1])
    except ValueError:
        header, rows = rows[0], rows[1:]
    index = -1
    if column is not None:
        if header is None or column not in header:
            raise SystemExit(f"{path} has no column {column!r} (header: {header})")
        index = header.index(column)
    values = np.asarray([float(row[index]) for row in rows], dtype="float64")
    if len(values) < 60:
        raise SystemExit(f"{path}: {len(values)} values; the forecaster needs at least 60 (windows of 20)")
    return values


# --------------------------------------------------------------------------- fine-tuning


def two_stage(model, train, validation, args, **kwargs):
    """zoo.finetune: the head alone with the rest frozen, then every layer at lr / 10."""
    import zoo

    print(f"fine-tuning: the head for {args.epochs} epoch(s), then every layer for {args.epochs}")
    result = zoo.finetune(model, train, validation_data=validation, head_epochs=args.epochs, epochs=args.epochs,
                          learning_rate=1e-3, verbose=args.verbose, seed=SEED, **kwargs)
    print(f"validation after fine-tuning: {result.summary()}")
    return result.model


def finetune_classifier(task: dict, args) -> tuple:
    import zoo

    parts, labels = task["parts"], task["labels"]
    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = parts["fit"], parts["val"], parts["test"]
    accuracy = lambda m: float(np.mean(m.predict(x_test, verbose=0).argmax(-1) == y_test))  # noqa: E731

    model = zoo.create_model("digits_cnn", pretrained=True, num_classes=len(labels))
    before = accuracy(model)
    how = "pretrained" if len(labels) == 10 else "new head, untrained"
    print(f"before fine-tuning ({how}): test accuracy {before:.4f} on {len(x_test)} images")
    if not args.quick:  # every shift by up to a pixel, as the prebuilt model was trained
        x_fit, y_fit = task["shift"](x_fit), np.tile(y_fit, 9)
    model = two_stage(model, (x_fit, y_fit), (x_val, y_val), args)
    after = accuracy(model)
    print(f"after fine-tuning: test accuracy {after:.4f} (before: {before:.4f})")
    metrics = {"test_accuracy": after, "test_accuracy_before": before}
    out = zoo.save_preset(model, args.output or default_output(task["name"]), name=task["name"],
                          labels=labels, metrics=metrics, dataset=task["dataset"], license="Apache-2.0",
                          preprocessing=task["preprocessing"],
                          description=f"digits_cnn fine-tuned: {task['dataset']}", overwrite=True)
    reloaded = zoo.create_model(str(out))
    assert abs(accuracy(reloaded) - after) < 1e-6, "the preset does not reproduce the fine-tuned model"
    return out, metrics


def finetune_forecaster(values: np.ndarray, path: str, args) -> tuple:
    import zoo

    window = 20
    n_train = int(len(values) * 0.8)
    mean, std = float(values[:n_train].mean()), float(values[:n_train].std() or 1.0)
    z = ((values - mean) / std).astype("float32")
    make = lambda idx: np.stack([z[t - window:t] for t in idx])[..., None]  # noqa: E731
    train_idx, test_idx = np.arange(window, n_train), np.arange(n_train, len(values))
    n_val = max(1, len(train_idx) // 8)
    fit_idx, val_idx = train_idx[:-n_val], train_idx[-n_val:]

    model = zoo.create_model("sunspots_forecaster", pretrained=True)
    rmse = lambda m: float(np.sqrt(np.mean(  # noqa: E731
        (m.predict(make(test_idx), verbose=0)[:, 0] * std + mean - values[test_idx]) ** 2)))
    naive = float(np.sqrt(np.mean((values[test_idx - 1] - values[test_idx]) ** 2)))
    before = rmse(model)
    print(f"before fine-tuning: test RMSE {before:.4f} on {len(test_idx)} one-step forecasts "
          f"(last-value baseline {naive:.4f})")
    model = two_stage(model, (make(fit_idx), z[fit_idx]), (make(val_idx), z[val_idx]), args, batch_size=16)
    after = rmse(model)
    print(f"after fine-tuning: test RMSE {after:.4f} (before: {before:.4f}, last-value baseline {naive:.4f})")
    name = Path(path).stem
    metrics = {"test_rmse": after, "test_rmse_before": before, "last_value_test_rmse": naive}
    out = zoo.save_preset(model, args.output or default_output(name), name=name, metrics=metrics,
                          dataset=f"CSV series {path} ({len(values)} values); last 20% held out",
                          preprocessing={"transform": "(y - series_mean) / series_std", "series_mean": mean,
                                         "series_std": std, "window": window},
                          description="sunspots_forecaster fine-tuned on a user series", license="Apache-2.0",
                          overwrite=True)
    return out, metrics


def default_output(name: str) -> Path:
    return Path("build") / "presets" / name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--task", choices=("ge5", "rotated"), default="ge5",
                        help="digits task: re-head for 'digit >= 5' or adapt to rotated digits (default ge5)")
    source.add_argument("--images", metavar="DIR", help="fine-tune digits_cnn on your image folder")
    source.add_argument("--csv", metavar="FILE", help="fine-tune sunspots_forecaster on your series")
    parser.add_argument("--column", help="CSV column to use (default: the last)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per stage (default 5)")
    parser.add_argument("--quick", action="store_true", help="no augmentation: the reduced setting for tests")
    parser.add_argument("--output", "-o", help="preset directory (default build/presets/<name>)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras progress: 1 is a bar")
    args = parser.parse_args(argv)

    import keras

    keras.utils.set_random_seed(SEED)
    if args.csv:
        out, metrics = finetune_forecaster(read_series(args.csv, args.column), args.csv, args)
    else:
        out, metrics = finetune_classifier(image_folder(args.images) if args.images else digits_task(args.task), args)
    print(f"saved preset {out}")
    print(f"  load it:    zoo.create_model({str(out)!r})")
    print(f"  package it: zoo package {out} --name zoo-{Path(out).name.replace('_', '-')}")
    return out, metrics


if __name__ == "__main__":
    main()
