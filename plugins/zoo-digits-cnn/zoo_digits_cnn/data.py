"""The data set and its fixed split, shared by the training script and the tests.

scikit-learn's ``load_digits``: 1,797 grey-scale 8x8 images of handwritten digits
(pixel values 0..16), a copy of the test part of the UCI "Optical Recognition of
Handwritten Digits" data set, bundled with scikit-learn (no download).

Split: 25% held out for testing, stratified by digit, ``random_state=0``; of the
remaining 75%, 15% is carved out (stratified, ``random_state=0``) as a validation
set for model selection. The test part is used once, for the reported metrics.
"""

from __future__ import annotations

import numpy as np

SEED = 0
TEST_SIZE = 0.25
VAL_SIZE = 0.15
PIXEL_MAX = 16.0
LABELS = tuple(str(d) for d in range(10))


def preprocess(images) -> np.ndarray:
    """Raw 0..16 pixel values, shape (n, 8, 8) -> float32 (n, 8, 8, 1) in [0, 1]."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 2:  # flattened rows of 64 pixels
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


def shifted_copies(x: np.ndarray, max_shift: int = 1) -> np.ndarray:
    """The images shifted by every (dy, dx) in [-max_shift, max_shift]^2, zero-filled,
    stacked shift by shift (the original images are the middle block)."""
    m = max_shift
    padded = np.pad(x, ((0, 0), (m, m), (m, m), (0, 0)))
    h, w = x.shape[1:3]
    return np.concatenate([padded[:, m + dy:m + dy + h, m + dx:m + dx + w]
                           for dy in range(-m, m + 1) for dx in range(-m, m + 1)])
