"""Keras builders for the autoencoder family (specs in zoo.models.autoencoder).

Each autoencoder is ``decoder(encoder(x))`` with ``encoder`` and ``decoder``
nested Keras models, so ``model.get_layer("encoder")`` is a model of its own
for representation learning; ``features_only=True`` returns the encoder alone.
Train with ``fit(x, x)`` and a reconstruction loss (``"mse"``, or
``"binary_crossentropy"`` for data in [0, 1] with the default sigmoid output).
"""

from __future__ import annotations

import math

import keras

from zoo.models._common import Blocks
from zoo.models._layers import VAESampling

_L = keras.layers


def _fixed_shape(input_shape, what):
    shape = tuple(input_shape)
    if not shape or any(s is None for s in shape):
        raise ValueError(f"{what} needs a fully known input_shape, got {shape}")
    return shape


def _units(values, what):
    values = (values,) if isinstance(values, int) else tuple(values)
    if any(not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(f"{what} must be positive integers, got {values!r}")
    return values


def _assemble(inputs, encoder, decoder, name, noise_stddev, features_only, middle=None):
    if features_only:
        return encoder
    x = inputs
    if noise_stddev:
        # Corrupts the input while training only; the target stays clean (fit(x, x)).
        x = _L.GaussianNoise(noise_stddev, name="noise")(x)
    z = encoder(x)
    if middle is not None:
        z = middle(z)
    return keras.Model(inputs, decoder(z), name=name)


def _dense_decoder(blocks, shape, latent_dim, hidden, activation, output_activation):
    z = keras.Input((latent_dim,), name="latent")
    h = z
    for i, units in enumerate(reversed(hidden), start=1):
        h = blocks.dense(units, activation=activation, name=f"dec_dense{i}")(h)
    h = blocks.dense(math.prod(shape), activation=output_activation, name="dec_out")(h)
    if len(shape) > 1:
        h = _L.Reshape(shape, name="dec_reshape")(h)
    return keras.Model(z, h, name="decoder")


def dense_autoencoder(*, input_shape=(784,), num_classes=None, latent_dim=32, hidden=(256, 128),
                      activation="relu", output_activation="sigmoid", noise_stddev=0.0,
                      native=True, features_only=False):
    """Fully connected autoencoder; inputs of any fixed shape are flattened.

    ``noise_stddev`` > 0 makes it a denoising autoencoder (Gaussian noise on the
    input while training). ``num_classes`` is unused (autoencoders have no head).
    """
    shape = _fixed_shape(input_shape, "dense_autoencoder")
    hidden = _units(hidden, "hidden")
    latent_dim = _units(latent_dim, "latent_dim")[0]
    blocks = Blocks(native)
    inputs = keras.Input(shape, name="input")
    enc_in = keras.Input(shape, name="enc_input")
    h = _L.Flatten(name="enc_flatten")(enc_in) if len(shape) > 1 else enc_in
    for i, units in enumerate(hidden, start=1):
        h = blocks.dense(units, activation=activation, name=f"enc_dense{i}")(h)
    z = blocks.dense(latent_dim, name="latent_proj")(h)
    encoder = keras.Model(enc_in, z, name="encoder")
    decoder = _dense_decoder(blocks, shape, latent_dim, hidden, activation, output_activation)
    return _assemble(inputs, encoder, decoder, "dense_autoencoder", noise_stddev, features_only)


def conv_autoencoder(*, input_shape=(28, 28, 1), num_classes=None, filters=(32, 64),
                     latent_channels=16, activation="relu", output_activation="sigmoid",
                     noise_stddev=0.0, native=True, features_only=False):
    """Fully convolutional autoencoder: stride-2 convolutions down, transposed
    convolutions up, a 1x1 convolution to ``latent_channels`` in between.

    Any input size divisible by ``2 ** len(filters)`` works, including unknown
    (None) sizes. ``noise_stddev`` > 0 makes it a denoising autoencoder.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] is None:
        raise ValueError(f"input_shape must be (height, width, channels), got {shape}")
    filters = _units(filters, "filters")
    step = 2 ** len(filters)
    for side in shape[:2]:
        if side is not None and side % step:
            raise ValueError(
                f"input sides must be divisible by {step} (2 ** len(filters)) so the decoder "
                f"restores them, got {shape}"
            )
    blocks = Blocks(native)
    inputs = keras.Input(shape, name="image")

    enc_in = keras.Input(shape, name="enc_input")
    h = enc_in
    for i, f in enumerate(filters, start=1):
        h = blocks.conv_act(h, _L.Conv2D, f, 3, activation, name=f"enc{i}", strides=2,
                            padding="same")
    z = blocks.conv_act(h, _L.Conv2D, latent_channels, 1, "linear", name="latent")
    encoder = keras.Model(enc_in, z, name="encoder")

    dec_in = keras.Input(tuple(z.shape[1:]), name="latent")
    h = dec_in
    for i, f in enumerate(reversed(filters), start=1):
        h = blocks.conv_act(h, _L.Conv2DTranspose, f, 3, activation, name=f"dec{i}", strides=2,
                            padding="same")
    out = blocks.conv_act(h, _L.Conv2D, shape[-1], 3, output_activation, name="dec_out",
                          padding="same")
    decoder = keras.Model(dec_in, out, name="decoder")
    return _assemble(inputs, encoder, decoder, "conv_autoencoder", noise_stddev, features_only)


def vae(*, input_shape=(784,), num_classes=None, latent_dim=16, hidden=(256, 128),
        activation="relu", output_activation="sigmoid", kl_weight=None, seed=None, native=True,
        features_only=False):
    """Variational autoencoder (dense). The encoder outputs ``[z_mean, z_log_var]``;
    a :class:`VAESampling` layer samples while training and adds the KL term,
    so ``fit(x, x)`` with a mean-reduced reconstruction loss trains it.

    ``kl_weight`` defaults to ``1 / number of input elements``, which keeps the
    objective an ELBO when the reconstruction loss is a per-element mean.
    """
    shape = _fixed_shape(input_shape, "vae")
    hidden = _units(hidden, "hidden")
    latent_dim = _units(latent_dim, "latent_dim")[0]
    if kl_weight is None:
        kl_weight = 1.0 / math.prod(shape)
    blocks = Blocks(native)
    inputs = keras.Input(shape, name="input")
    enc_in = keras.Input(shape, name="enc_input")
    h = _L.Flatten(name="enc_flatten")(enc_in) if len(shape) > 1 else enc_in
    for i, units in enumerate(hidden, start=1):
        h = blocks.dense(units, activation=activation, name=f"enc_dense{i}")(h)
    z_mean = blocks.dense(latent_dim, name="z_mean")(h)
    z_log_var = blocks.dense(latent_dim, name="z_log_var")(h)
    encoder = keras.Model(enc_in, [z_mean, z_log_var], name="encoder")
    decoder = _dense_decoder(blocks, shape, latent_dim, hidden, activation, output_activation)
    sampling = VAESampling(kl_weight=kl_weight, seed=seed, name="sampling")
    return _assemble(inputs, encoder, decoder, "vae", 0.0, features_only, middle=sampling)
