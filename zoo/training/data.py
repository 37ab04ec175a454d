"""Turning what ``zoo.finetune`` is given into Keras training data.

Accepted: ``(x, y)`` numpy arrays, a ``tf.data.Dataset`` of ``(x, y)`` batches,
an image folder (one sub-folder per class, read with
``keras.utils.image_dataset_from_directory``), a CSV time series, or an
``.npz`` file holding ``x`` and ``y``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


@dataclass
class Prepared:
    """Training (and validation) data in a form ``model.fit`` takes.

    Arrays stay arrays here (finetune batches them: training/batches.py);
    ``classes`` is the class count the data implies (None when unknown or a
    regression), ``exact_classes`` whether it is the full set (an image
    folder's sub-folders) or only a lower bound (the largest integer label + 1);
    ``info`` records what was done (class names, normalisation).
    """

    train: Any
    validation: Any = None
    classes: int | None = None
    exact_classes: bool = False
    integer_labels: bool = False
    info: dict = field(default_factory=dict)


def prepare(data, model, *, validation_data=None, validation_split=0.0, batch_size=32, seed=0,
            rescale=1.0 / 255, target=None, window=None, normalize=True) -> Prepared:
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir():
            return _image_folder(path, model, validation_split=validation_split,
                                 batch_size=batch_size, seed=seed, rescale=rescale)
        if path.suffix.lower() == ".csv":
            return _csv_series(path, model, target=target, window=window,
                               validation_split=validation_split or 0.2, normalize=normalize)
        if path.suffix.lower() == ".npz":
            with np.load(path) as arrays:
                missing = {"x", "y"} - set(arrays.files)
                if missing:
                    raise ValueError(f"{path} must hold arrays named 'x' and 'y'; it lacks {sorted(missing)}")
                data = (arrays["x"], arrays["y"])
        elif not path.exists():
            raise FileNotFoundError(f"training data {path} does not exist")
        else:
            raise ValueError(
                f"cannot read training data from {path}: give an image folder (one sub-folder per "
                "class), a .csv time series or an .npz file with arrays 'x' and 'y'"
            )
    if isinstance(data, tuple) and len(data) == 2:
        return _arrays(data, validation_data, validation_split)
    if _is_dataset(data):
        labels = data.element_spec[1] if isinstance(data.element_spec, tuple) else None
        if labels is None:
            raise ValueError("a tf.data.Dataset for finetune must yield (x, y) pairs")
        return Prepared(train=_prefetched(data), validation=_prefetched(validation_data),
                        integer_labels=labels.dtype.is_integer)
    raise TypeError(
        f"cannot train on a {type(data).__name__}: give (x, y) arrays, a tf.data.Dataset, an "
        "image folder, a .csv series or an .npz file"
    )


_AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow here


def _prefetched(dataset):
    """``dataset`` with a prefetch at its end, so the next batches are read
    while a step runs (a second prefetch on a dataset that has one costs a
    buffer, nothing else); anything that is not a dataset passes through."""
    if not _is_dataset(dataset):
        return dataset
    return dataset.prefetch(_AUTOTUNE)


def _is_dataset(obj) -> bool:
    try:
        import tensorflow as tf
    except ImportError:
        return False
    return isinstance(obj, tf.data.Dataset)


def _arrays(data, validation_data, validation_split) -> Prepared:
    x, y = (np.asarray(a) for a in data)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    integer = np.issubdtype(y.dtype, np.integer)
    classes = int(y.max()) + 1 if integer and y.ndim == 1 and len(y) else None
    if validation_data is None and validation_split:
        # The last part, as fit(validation_split=...) takes it; kept here so the
        # final evaluation can use it too.
        n_val = int(len(x) * validation_split)
        if not 0 < n_val < len(x):
            raise ValueError(f"validation_split={validation_split} leaves no validation or no "
                             f"training examples out of {len(x)}")
        validation_data = (x[-n_val:].copy(), y[-n_val:].copy())
        x, y = x[:-n_val].copy(), y[:-n_val].copy()
    return Prepared(train=(x, y), validation=validation_data, classes=classes,
                    integer_labels=integer)


def _image_folder(path, model, *, validation_split, batch_size, seed, rescale) -> Prepared:
    import keras

    height, width, channels = model.input_shape[1:]
    if height is None or width is None:
        raise ValueError(
            f"{model.name} takes images of any size; give it a fixed input_shape to read the "
            "image folder at (create_model(..., input_shape=(h, w, c)))"
        )
    if channels not in _COLOR_MODES:
        raise ValueError(f"image folders can feed 1, 3 or 4 channels, the model takes {channels}")
    common = dict(image_size=(height, width), color_mode=_COLOR_MODES[channels],
                  batch_size=batch_size, seed=seed, label_mode="int")
    if validation_split:
        train, val = keras.utils.image_dataset_from_directory(
            path, validation_split=validation_split, subset="both", **common)
    else:
        train, val = keras.utils.image_dataset_from_directory(path, **common), None
    names = list(train.class_names)
    if rescale is not None:
        # The models take the pixel scale they are trained on; folders give 0..255.
        scale = float(rescale)
        train = _prefetched(train.map(lambda a, b: (a * scale, b), num_parallel_calls=_AUTOTUNE))
        val = None if val is None else _prefetched(
            val.map(lambda a, b: (a * scale, b), num_parallel_calls=_AUTOTUNE))
    return Prepared(train=train, validation=val, classes=len(names), exact_classes=True,
                    integer_labels=True,
                    info={"class_names": names, "rescale": rescale})


def _csv_series(path, model, *, target, window, validation_split, normalize) -> Prepared:
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    if table.dtype.names is None or table.size < 2:
        raise ValueError(f"{path} must be a CSV with a header row and at least two rows")
    numeric = [n for n in table.dtype.names if np.issubdtype(table.dtype[n], np.number)]
    if not numeric:
        raise ValueError(f"{path} has no numeric column to forecast")
    target = target or numeric[-1]
    if target not in numeric:
        raise ValueError(f"target column {target!r} is not a numeric column of {path}: {numeric}")
    features = model.input_shape[-1]
    columns = [target] if features == 1 else numeric
    if len(columns) != features:
        raise ValueError(
            f"{model.name} takes {features} features per step but {path} has {len(numeric)} "
            f"numeric columns ({numeric}); build the model with input_shape=(window, {len(numeric)})"
        )
    series = np.stack([np.asarray(table[c], np.float32) for c in columns], axis=-1)
    if np.isnan(series).any():
        raise ValueError(f"{path} has empty or non-numeric cells in {columns}; fill them first")
    window = window or model.input_shape[1]
    if window is None:
        raise ValueError(f"{model.name} takes sequences of any length: pass window= (time steps per example)")
    horizon = model.output_shape[-1]
    split = int(len(series) * (1.0 - validation_split))
    info = {"target": target, "columns": columns, "window": window, "horizon": horizon}
    if normalize:
        # Statistics of the training part only: the validation part stays unseen.
        mean, std = series[:split].mean(axis=0), series[:split].std(axis=0) + 1e-8
        series = (series - mean) / std
        info.update(mean=mean.tolist(), std=std.tolist())
    t_col = columns.index(target)

    def windows(part):
        n = len(part) - window - horizon + 1
        if n <= 0:
            return None
        x = np.stack([part[i:i + window] for i in range(n)])
        y = np.stack([part[i + window:i + window + horizon, t_col] for i in range(n)])
        return x, y

    train = windows(series[:split])
    if train is None:
        raise ValueError(f"{path} has {split} training rows, too few for windows of "
                         f"{window} steps and a horizon of {horizon}")
    val = windows(series[split - window:]) if validation_split else None
    return Prepared(train=train, validation=val, info=info)
