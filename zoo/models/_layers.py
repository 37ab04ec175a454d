"""Layers the model families need beyond zoo.layers."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class VAESampling(keras.layers.Layer):
    """Reparameterised sampling of a diagonal Gaussian, adding the VAE's KL term.

    Takes ``[z_mean, z_log_var]``; while training returns
    ``z_mean + exp(z_log_var / 2) * eps`` with ``eps ~ N(0, I)``, otherwise
    ``z_mean`` (so inference and exports are deterministic). Every call adds
    ``kl_weight * KL(q(z|x) || N(0, I))``, summed over latent units and averaged
    over the batch, with ``add_loss``: a model using it trains with plain
    ``fit(x, x)`` and a reconstruction loss.

    Args:
        kl_weight: factor on the KL term; scale it to match how the
            reconstruction loss is reduced (a per-element mean wants
            ``1 / number of input elements`` to stay a true ELBO).
        seed: seed for the noise.
        **kwargs: base layer arguments.

    Example:
    >>> z = VAESampling(kl_weight=1 / 784)([z_mean, z_log_var])
    """

    def __init__(self, kl_weight=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not kl_weight >= 0:
            raise ValueError(f"kl_weight must be >= 0, got {kl_weight!r}")
        self.kl_weight = float(kl_weight)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        self.add_loss(self.kl_weight * ops.mean(kl))
        if not training:
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"kl_weight": self.kl_weight, "seed": self.seed})
        return config
