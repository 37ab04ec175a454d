"""Training recipes built on registry models.

:func:`semi_supervised`: pretrain an autoencoder on unlabelled data, then train a
classifier on its encoder with the few labels there are, and report it against the
same classifier trained from scratch on the same labels::

    result = zoo.recipes.semi_supervised(x_unlabeled, x_labeled, y_labeled, x_test, y_test)
    print(result.pretrained_accuracy, result.scratch_accuracy)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SemiSupervisedResult:
    """What :func:`semi_supervised` measured and trained.

    Attributes:
        pretrained_accuracy: test accuracy of the classifier on the pretrained encoder.
        scratch_accuracy: test accuracy of the same classifier trained from scratch.
        autoencoder_mse: test reconstruction MSE of the pretrained autoencoder.
        n_labeled, n_unlabeled: how many examples each stage saw.
        classifier, scratch_classifier, autoencoder: the trained Keras models.
    """

    pretrained_accuracy: float
    scratch_accuracy: float
    autoencoder_mse: float
    n_labeled: int
    n_unlabeled: int
    classifier: Any = field(repr=False)
    scratch_classifier: Any = field(repr=False)
    autoencoder: Any = field(repr=False)

    def summary(self) -> str:
        gain = self.pretrained_accuracy - self.scratch_accuracy
        return (f"{self.n_labeled} labelled examples ({self.n_unlabeled} unlabelled for pretraining): "
                f"test accuracy {self.pretrained_accuracy:.4f} on the pretrained encoder vs "
                f"{self.scratch_accuracy:.4f} from scratch ({gain:+.4f})")


def encoder_classifier(encoder, num_classes: int, *, hidden: int = 64, dropout: float = 0.3, name="classifier"):
    """``encoder`` -> flatten -> dense(hidden, relu) -> dropout -> ``head`` (softmax).

    The encoder is used as is (shared, not copied): freeze it with ``encoder.trainable = False``.
    """
    import keras

    from zoo.layers import FusedDense

    inputs = keras.Input(tuple(encoder.input_shape[1:]), name="image")
    x = keras.layers.Flatten(name="flatten")(encoder(inputs))
    x = FusedDense(hidden, activation="relu", name="fc")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    x = FusedDense(num_classes, name="head")(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def semi_supervised(
    x_unlabeled,
    x_labeled,
    y_labeled,
    x_test,
    y_test,
    *,
    autoencoder="conv_autoencoder",
    pretrained=False,
    num_classes: int | None = None,
    pretrain_epochs: int = 60,
    head_epochs: int = 100,
    finetune_epochs: int = 100,
    batch_size: int = 32,
    hidden: int = 64,
    dropout: float = 0.3,
    seed: int = 0,
    verbose: int = 0,
    **autoencoder_kwargs,
) -> SemiSupervisedResult:
    """Autoencoder pretraining on unlabelled data, then a classifier on its encoder.

    1. ``autoencoder`` (a registry name, built by :func:`zoo.create_model` with
       ``pretrained`` and ``autoencoder_kwargs``, or a Keras autoencoder with an
       ``"encoder"`` layer) is trained on ``x_unlabeled`` for ``pretrain_epochs``
       (0 keeps it as it is, e.g. a prebuilt one).
    2. A classifier (:func:`encoder_classifier`) on a copy of that encoder is
       fine-tuned by :func:`zoo.finetune`: the layers after the encoder for
       ``head_epochs`` with the encoder frozen, then everything for
       ``finetune_epochs`` at a tenth of the learning rate.
    3. The same classifier on a freshly initialised copy of the encoder trains from
       scratch on the same labels for ``head_epochs + finetune_epochs``.

    Both are evaluated on (``x_test``, ``y_test``). Seeded by ``seed``.
    """
    import keras

    from zoo.create import create_model
    from zoo.training.finetune import finetune

    x_unlabeled, x_labeled, x_test = (np.asarray(a, dtype="float32") for a in (x_unlabeled, x_labeled, x_test))
    y_labeled, y_test = np.asarray(y_labeled), np.asarray(y_test)
    if len(x_labeled) != len(y_labeled):
        raise ValueError(f"x_labeled has {len(x_labeled)} examples but y_labeled has {len(y_labeled)}")
    if num_classes is None:
        num_classes = int(max(y_labeled.max(), y_test.max())) + 1
    keras.utils.set_random_seed(seed)

    if isinstance(autoencoder, str):
        autoencoder = create_model(autoencoder, pretrained=pretrained, input_shape=x_labeled.shape[1:],
                                   **autoencoder_kwargs)
    try:
        encoder = autoencoder.get_layer("encoder")
    except ValueError as exc:
        raise ValueError("the autoencoder needs a nested model named 'encoder' (zoo's autoencoders have one)") from exc
    if pretrain_epochs:
        autoencoder.compile(keras.optimizers.Adam(2e-3), "mse")
        autoencoder.fit(x_unlabeled, x_unlabeled, batch_size=batch_size, epochs=pretrain_epochs, verbose=verbose)
    autoencoder_mse = float(np.mean((autoencoder.predict(x_test, verbose=0) - x_test) ** 2))

    def accuracy(model):
        return float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))

    # Pretrained: a copy of the encoder (the autoencoder stays as it was pretrained),
    # frozen while the new layers train, then everything at a tenth of the rate.
    encoder_copy = keras.models.clone_model(encoder)
    encoder_copy.set_weights(encoder.get_weights())
    classifier = encoder_classifier(encoder_copy, num_classes, hidden=hidden, dropout=dropout)
    train = dict(batch_size=batch_size, verbose=verbose, seed=seed, learning_rate=1e-3)
    classifier = finetune(classifier, (x_labeled, y_labeled), head_epochs=head_epochs, epochs=finetune_epochs,
                          freeze_up_to=encoder_copy.name, **train).model

    # From scratch: the same classifier on a freshly initialised copy of the encoder.
    keras.utils.set_random_seed(seed)
    scratch = encoder_classifier(keras.models.clone_model(encoder), num_classes, hidden=hidden, dropout=dropout,
                                 name="scratch_classifier")
    scratch = finetune(scratch, (x_labeled, y_labeled), head_epochs=0, epochs=head_epochs + finetune_epochs,
                       fine_tune_learning_rate=1e-3, **train).model

    return SemiSupervisedResult(
        pretrained_accuracy=accuracy(classifier), scratch_accuracy=accuracy(scratch),
        autoencoder_mse=autoencoder_mse, n_labeled=len(x_labeled), n_unlabeled=len(x_unlabeled),
        classifier=classifier, scratch_classifier=scratch, autoencoder=autoencoder,
    )
