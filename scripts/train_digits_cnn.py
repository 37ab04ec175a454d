"""Train the digits_cnn prebuilt model (plugins/zoo-digits-cnn) and write its
weights, _meta.json and MODEL_CARD.md. Seeded; about a minute on two CPU cores.

    python scripts/train_digits_cnn.py
"""

from __future__ import annotations

import time

import numpy as np
from _prebuilt import metrics_table, plugin_dir, seed_everything, write_package

PACKAGE = plugin_dir("zoo-digits-cnn") / "zoo_digits_cnn"
from zoo_digits_cnn import data  # noqa: E402  (from the source tree, installed or not)

ARCH = "lenet"
ARCH_KWARGS = {"filters": [32, 64], "hidden": [128], "dropout": 0.3}
EPOCHS, BATCH, LR = 30, 64, 1e-3


def svc_baseline(split) -> dict:
    """An RBF SVC on the raw 64 pixels: C and gamma chosen on the validation part."""
    from sklearn.svm import SVC

    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = split["fit"], split["val"], split["test"]
    best = max(((SVC(C=c, gamma=g).fit(flat(x_fit), y_fit).score(flat(x_val), y_val), c, g)
                for c in (1, 10, 100) for g in (0.01, 0.02, 0.05)), key=lambda t: t[0])
    _, c, g = best
    svc = SVC(C=c, gamma=g).fit(flat(x_fit), y_fit)
    return {"C": c, "gamma": g, "val_accuracy": float(svc.score(flat(x_val), y_val)),
            "test_accuracy": float(svc.score(flat(x_test), y_test))}


def main():
    seed_everything()
    import keras

    import zoo

    split = data.load_split()
    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = split["fit"], split["val"], split["test"]
    # Augmentation: every shift by up to one pixel (9 copies of each training image).
    x_aug, y_aug = data.shifted_copies(x_fit), np.tile(y_fit, 9)
    model = zoo.create_model(ARCH, input_shape=(8, 8, 1), num_classes=10, **ARCH_KWARGS)
    steps = EPOCHS * int(np.ceil(len(x_aug) / BATCH))
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LR, steps)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.time()
    model.fit(x_aug, y_aug, batch_size=BATCH, epochs=EPOCHS, validation_data=(x_val, y_val), verbose=2)
    seconds = time.time() - start
    val_acc = float(model.evaluate(x_val, y_val, verbose=0)[1])
    test_acc = float(model.evaluate(x_test, y_test, verbose=0)[1])
    svc = svc_baseline(split)
    print(f"digits_cnn: val {val_acc:.4f} test {test_acc:.4f}; SVC test {svc['test_accuracy']:.4f}")

    meta = {
        "arch": ARCH, "arch_kwargs": ARCH_KWARGS, "input_shape": [8, 8, 1], "labels": list(data.LABELS),
        "weights_file": "digits_cnn.weights.h5",
        "dataset": "scikit-learn load_digits (UCI optdigits test set, 1,797 8x8 images); "
                   "stratified 75/25 split, random_state=0",
        "preprocessing": {"rescale": 1 / data.PIXEL_MAX},
        "split": {"test_size": data.TEST_SIZE, "val_size": data.VAL_SIZE, "random_state": data.SEED,
                  "n_fit": len(x_fit), "n_val": len(x_val), "n_test": len(x_test)},
        "metrics": {"test_accuracy": test_acc, "val_accuracy": val_acc,
                    "svc_test_accuracy": svc["test_accuracy"]},
        "baseline": {"svc": svc},
        "training": {"epochs": EPOCHS, "batch_size": BATCH, "learning_rate": LR, "schedule": "cosine",
                     "optimizer": "adam", "augmentation": "all shifts by up to 1 pixel (9x)",
                     "seconds": round(seconds, 1), "seed": 0},
    }
    write_package(PACKAGE, model, meta, CARD.replace("{table}", metrics_table([
        ("digits_cnn (this model)", "accuracy", f"{test_acc:.4f}"),
        (f"SVC, RBF kernel (C={svc['C']}, gamma={svc['gamma']})", "accuracy", f"{svc['test_accuracy']:.4f}"),
    ])))


CARD = """# zoo-digits-cnn: `digits_cnn`

A small convolutional network (keras-zoo's `lenet` architecture with
`{arch_kwargs_text}`) that classifies scikit-learn's 8x8 handwritten digits.

```python
import zoo
from zoo_digits_cnn import data

model = zoo.create_model("digits_cnn", pretrained=True)  # weights checked against their sha256
probabilities = model.predict(data.preprocess(images))    # images: (n, 8, 8) with values 0..16
```

## Data set and split

- **Data set**: `sklearn.datasets.load_digits`, scikit-learn's bundled copy of the test set of
  the UCI "Optical Recognition of Handwritten Digits" data (1,797 images, 8x8, values 0..16,
  10 classes). No download.
- **Split** (`zoo_digits_cnn/data.py`, shared by the training script and the tests): 25% held out
  for testing, stratified by digit, `random_state=0` ({split[n_test]} images); of the rest, 15%
  (stratified, `random_state=0`) is a validation set ({split[n_val]} images), and the model trains
  on the remaining {split[n_fit]}. Architecture and training settings were chosen on the
  validation set; the test part is only used for the numbers below.
- **Preprocessing**: pixel values divided by 16 (`data.preprocess`).

## Held-out metrics ({split[n_test]} test images)

{table}

Validation accuracy: {metrics[val_accuracy]:.4f}. The SVC is computed by the same training script
on the same split (C and gamma chosen on the validation set from a 3x3 grid). One test image is
0.22 percentage points.

## Training

`python scripts/train_digits_cnn.py` (seed 0; {training[seconds]} s of training here). Adam with a
cosine-decayed learning rate from {training[learning_rate]}, {training[epochs]} epochs, batch
{training[batch_size]}; augmentation: {training[augmentation]}. A single model, no ensembling.
Environment: {environment_text}.

Weights: `zoo_digits_cnn/{weights_file}`, sha256 `{sha256}` (also in `_meta.json`, checked on
every load). Re-running the script on another machine may give slightly different weights
(thread scheduling); the tests check the shipped weights against the recorded metrics.

## License

Code and weights: Apache-2.0. The digits data are distributed with scikit-learn (BSD-3-Clause);
the original UCI data set is by E. Alpaydin and C. Kaynak (CC BY 4.0).
"""

if __name__ == "__main__":
    main()
