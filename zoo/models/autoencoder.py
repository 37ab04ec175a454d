"""Autoencoder family specs. Spec-only: the builders live in
zoo.models._autoencoder_build and load when a model is created.

Autoencoders have no classifier head (``head=None``); ``features_only=True``
returns the encoder, and ``model.get_layer("encoder")`` / ``"decoder"`` reach
both halves of a full model.
"""

from zoo.registry import ModelSpec

_BUILD = "zoo.models._autoencoder_build"
_FIT = "Train with fit(x, x) and a reconstruction loss."

SPECS = [
    ModelSpec(
        name="dense_autoencoder",
        family="autoencoder",
        task="reconstruction",
        builder=f"{_BUILD}:dense_autoencoder",
        default_input_shape=(784,),
        capabilities=frozenset({"features_only", "exportable"}),
        description="Fully connected autoencoder (inputs of any fixed shape are flattened). "
        "Keyword arguments: latent_dim, hidden, activation, output_activation, noise_stddev. "
        + _FIT,
        paper="Hinton & Salakhutdinov, Reducing the Dimensionality of Data with Neural "
        "Networks (2006)",
        license="Apache-2.0",
        head=None,
    ),
    ModelSpec(
        name="conv_autoencoder",
        family="autoencoder",
        task="reconstruction",
        builder=f"{_BUILD}:conv_autoencoder",
        default_input_shape=(28, 28, 1),
        capabilities=frozenset({"features_only", "variable_input_size", "exportable"}),
        description="Fully convolutional autoencoder; sides divisible by 2**len(filters). "
        "Keyword arguments: filters, latent_channels, activation, output_activation, "
        "noise_stddev. " + _FIT,
        license="Apache-2.0",
        head=None,
    ),
    ModelSpec(
        name="denoising_autoencoder",
        family="autoencoder",
        task="reconstruction",
        builder=f"{_BUILD}:conv_autoencoder",
        default_input_shape=(28, 28, 1),
        capabilities=frozenset({"features_only", "variable_input_size", "exportable"}),
        description="Convolutional denoising autoencoder: Gaussian noise (noise_stddev) on the "
        "input while training, clean targets. " + _FIT,
        paper="Vincent et al., Extracting and Composing Robust Features with Denoising "
        "Autoencoders (2008)",
        license="Apache-2.0",
        default_kwargs={"noise_stddev": 0.1},
        head=None,
    ),
    ModelSpec(
        name="vae",
        family="autoencoder",
        task="representation",
        builder=f"{_BUILD}:vae",
        default_input_shape=(784,),
        capabilities=frozenset({"features_only", "exportable"}),
        description="Dense variational autoencoder: the encoder outputs [z_mean, z_log_var]; "
        "sampling and the KL term (kl_weight, default 1/input size) are built in, so plain "
        "fit(x, x) with a mean reconstruction loss trains it. Inference uses z_mean.",
        paper="Kingma & Welling, Auto-Encoding Variational Bayes (2013)",
        license="Apache-2.0",
        head=None,
    ),
]
