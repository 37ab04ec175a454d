"""The data set and its fixed split, shared by the training script and the tests.

scikit-learn's ``load_digits``: 1,797 grey-scale 8x8 images of handwritten digits
(pixel values 0..16), a copy of the test part of the UCI "Optical Recognition of
Handwritten Digits" data set, bundled with scikit-learn (no download).

Split: 25% held out for testing, stratified by digit, ``random_state=0``; of the
remaining 75%, 15% is carved out (stratified, ``random_state=0``) for validation.
Labels are only used to stratify: the autoencoder never sees them.
"""

from __future__ import annotations

import numpy as np

SEED = 0
TEST_SIZE = 0.25
VAL_SIZE = 0.15
PIXEL_MAX = 16.0


def preprocess(images) -> np.ndarray:
    """Raw 0..16 pixel values, shape (n, 8, 8) or (n, 64) -> float32 (n, 8, 8, 1) in [0, 1]."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 2:
        images = images.reshape(-1, 8, 8)
    return (images / PIXEL_MAX)[..., None]


def load_split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"fit": (x, y), "val": (x, y), "train": (x, y), "test": (x, y)}``;
    ``train`` is ``fit`` + ``val``; images preprocessed, labels int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x, y = preprocess(digits.images), digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED)
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=VAL_SIZE, stratify=y_train, random_state=SEED)
    return {"fit": (x_fit, y_fit), "val": (x_val, y_val), "train": (x_train, y_train),
            "test": (x_test, y_test)}


def reconstruction_mse(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared error per pixel, on the [0, 1] scale."""
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    return float(np.mean((np.asarray(reconstruction, dtype="float64").reshape(len(x), -1) - x) ** 2))
