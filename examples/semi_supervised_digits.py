"""Semi-supervised digits: pretrain a conv autoencoder without labels, then
classify with 5% of the labels, against the same classifier from scratch.

    python examples/semi_supervised_digits.py            # about a minute and a half on 2 cores
    python examples/semi_supervised_digits.py --quick    # a few epochs, for a smoke test

Data: scikit-learn's 8x8 digits with the fixed split of the zoo-digits-autoencoder
package. The autoencoder pretrains on every training image (1,347, labels
unused); the classifiers see a stratified 5% of them with labels; all are scored
on the 450 held-out test images, which no stage trains on.
With --prebuilt the pretraining is skipped and the encoder of the prebuilt
`digits_autoencoder` (trained on 85% of the same images, with a narrower 2x2x4
code) is used instead.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-fraction", type=float, default=0.05, help="share of training labels kept")
    parser.add_argument("--prebuilt", action="store_true", help="start from the prebuilt digits_autoencoder")
    parser.add_argument("--quick", action="store_true", help="a few epochs only (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn.model_selection import train_test_split
    from zoo_digits_autoencoder import data

    import zoo.training.recipes

    split = data.load_split()
    x_train, y_train = split["train"]
    x_test, y_test = split["test"]
    x_labeled, _, y_labeled, _ = train_test_split(x_train, y_train, train_size=args.label_fraction,
                                                  stratify=y_train, random_state=args.seed)
    epochs = dict(pretrain_epochs=3, head_epochs=3, finetune_epochs=3) if args.quick else {}
    if args.prebuilt:
        epochs["pretrain_epochs"] = 0
        source = dict(autoencoder="digits_autoencoder", pretrained=True)
    else:  # the prebuilt package's architecture with a wider code (2x2x16), pretrained here
        source = dict(autoencoder="conv_autoencoder", filters=(32, 64), latent_channels=16)
    print(f"pretraining on {len(x_train)} unlabelled images, {len(x_labeled)} labelled "
          f"({args.label_fraction:.0%}), testing on {len(x_test)}")
    result = zoo.training.recipes.semi_supervised(x_train, x_labeled, y_labeled, x_test, y_test, seed=args.seed,
                                         **source, **epochs)
    print(f"autoencoder test reconstruction MSE: {result.autoencoder_mse:.5f}")
    print(f"classifier on the pretrained encoder: {result.pretrained_accuracy:.4f} test accuracy")
    print(f"same classifier from scratch:         {result.scratch_accuracy:.4f} test accuracy")
    print(result.summary())
    return result


if __name__ == "__main__":
    main()
