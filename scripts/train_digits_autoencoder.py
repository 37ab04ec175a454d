"""Train the digits_autoencoder prebuilt model (plugins/zoo-digits-autoencoder)
and write its weights, _meta.json and MODEL_CARD.md; the PCA baseline with the
same latent size is computed here too. Seeded; about a minute on two CPU cores.

    python scripts/train_digits_autoencoder.py
"""

from __future__ import annotations

import math
import time

import numpy as np
from _prebuilt import metrics_table, plugin_dir, seed_everything, write_package

PACKAGE = plugin_dir("zoo-digits-autoencoder") / "zoo_digits_autoencoder"
from zoo_digits_autoencoder import data  # noqa: E402  (from the source tree, installed or not)

ARCH = "conv_autoencoder"
ARCH_KWARGS = {"filters": [32, 64], "latent_channels": 4}
EPOCHS, BATCH, LR = 80, 32, 2e-3


def pca_mse(x_fit, x_eval, k: int) -> float:
    """Reconstruction MSE of PCA with k components fitted on x_fit."""
    from sklearn.decomposition import PCA

    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    pca = PCA(k, random_state=0).fit(flat(x_fit))
    return data.reconstruction_mse(x_eval, pca.inverse_transform(pca.transform(flat(x_eval))))


def main():
    seed_everything()
    import keras

    import zoo

    split = data.load_split()
    x_fit, x_val, x_test = split["fit"][0], split["val"][0], split["test"][0]
    model = zoo.create_model(ARCH, input_shape=(8, 8, 1), **ARCH_KWARGS)
    latent = math.prod(model.get_layer("encoder").output.shape[1:])
    steps = EPOCHS * int(np.ceil(len(x_fit) / BATCH))
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LR, steps)), "mse")
    start = time.time()
    model.fit(x_fit, x_fit, batch_size=BATCH, epochs=EPOCHS, validation_data=(x_val, x_val), verbose=2)
    seconds = time.time() - start
    mse = {part: data.reconstruction_mse(x, model.predict(x, verbose=0))
           for part, x in (("val", x_val), ("test", x_test))}
    pca = {part: pca_mse(x_fit, x, latent) for part, x in (("val", x_val), ("test", x_test))}
    print(f"digits_autoencoder: latent {latent}, test MSE {mse['test']:.5f}; PCA({latent}) {pca['test']:.5f}")

    meta = {
        "arch": ARCH, "arch_kwargs": ARCH_KWARGS, "input_shape": [8, 8, 1], "latent_size": latent,
        "weights_file": "digits_autoencoder.weights.h5",
        "dataset": "scikit-learn load_digits (UCI optdigits test set, 1,797 8x8 images); "
                   "stratified 75/25 split, random_state=0; labels unused",
        "preprocessing": {"rescale": 1 / data.PIXEL_MAX},
        "split": {"test_size": data.TEST_SIZE, "val_size": data.VAL_SIZE, "random_state": data.SEED,
                  "n_fit": len(x_fit), "n_val": len(x_val), "n_test": len(x_test)},
        "metrics": {"test_mse": mse["test"], "val_mse": mse["val"], "pca_test_mse": pca["test"],
                    "pca_val_mse": pca["val"]},
        "training": {"epochs": EPOCHS, "batch_size": BATCH, "learning_rate": LR, "schedule": "cosine",
                     "optimizer": "adam", "loss": "mse", "seconds": round(seconds, 1), "seed": 0},
    }
    write_package(PACKAGE, model, meta, CARD.replace("{table}", metrics_table([
        ("digits_autoencoder (this model)", "reconstruction MSE", f"{mse['test']:.5f}"),
        (f"PCA, {latent} components", "reconstruction MSE", f"{pca['test']:.5f}"),
    ])))


CARD = """# zoo-digits-autoencoder: `digits_autoencoder`

A convolutional autoencoder (keras-zoo's `conv_autoencoder` architecture with
`{arch_kwargs_text}`) for scikit-learn's 8x8 handwritten digits: two stride-2
convolutions down to a 2x2x4 code ({latent_size} numbers), transposed convolutions back up.

```python
import zoo
from zoo_digits_autoencoder import data

model = zoo.create_model("digits_autoencoder", pretrained=True)  # weights checked against their sha256
reconstruction = model.predict(data.preprocess(images))             # images: (n, 8, 8), values 0..16
codes = model.get_layer("encoder").predict(data.preprocess(images))  # (n, 2, 2, 4)
```

## Data set and split

- **Data set**: `sklearn.datasets.load_digits`, scikit-learn's bundled copy of the test set of
  the UCI "Optical Recognition of Handwritten Digits" data (1,797 images, 8x8, values 0..16).
  No download. Labels are not used for training.
- **Split** (`zoo_digits_autoencoder/data.py`, shared by the training script and the tests): 25%
  held out for testing, stratified by digit, `random_state=0` ({split[n_test]} images); of the
  rest, 15% (`random_state=0`) is a validation set ({split[n_val]} images); the model and the
  PCA baseline are fitted on the remaining {split[n_fit]}.
- **Preprocessing**: pixel values divided by 16 (`data.preprocess`); sigmoid output.

## Held-out metrics ({split[n_test]} test images, mean squared error per pixel on the [0, 1] scale)

{table}

Validation: autoencoder {metrics[val_mse]:.5f}, PCA {metrics[pca_val_mse]:.5f}. PCA keeps as many
components as the autoencoder's code has numbers ({latent_size}); both are computed by the
training script on the same split.

## Training

`python scripts/train_digits_autoencoder.py` (seed 0; {training[seconds]} s of training here).
Adam with a cosine-decayed learning rate from {training[learning_rate]}, {training[epochs]} epochs,
batch {training[batch_size]}, MSE loss. Environment: {environment_text}.

Weights: `zoo_digits_autoencoder/{weights_file}`, sha256 `{sha256}` (also in `_meta.json`,
checked on every load). Re-running the script on another machine may give slightly different
weights; the tests check the shipped weights against the recorded metrics.

## License

Code and weights: Apache-2.0. The digits data are distributed with scikit-learn (BSD-3-Clause);
the original UCI data set is by E. Alpaydin and C. Kaynak (CC BY 4.0).
"""

if __name__ == "__main__":
    main()
