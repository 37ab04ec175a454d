"""Adam and AdamW whose per-variable update is one fused op on TensorFlow.

Keras 3's Adam updates each variable with about a dozen small ops (casts,
powers, two ``assign_add``, a square root, a division, an ``assign_sub``),
which TensorFlow's executor runs one by one. On the zoo's small models that
was 11-22 % of a training step (benchmarks/RESULTS.md, "Fused Adam").
:class:`FusedAdam` computes the same formulas in one op per variable,
TensorFlow's ``ResourceApplyAdam``, whose update is Keras' own, term for term
(it forms 1 - beta in float32 where Keras rounds a float64 1 - beta once: a
relative difference of about 2e-7 in those coefficients):

    m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
    var -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

Everything else (weight decay, gradient clipping, accumulation, EMA, loss
scaling) is Keras' base optimizer, unchanged. The fused op is used only where
it is exactly Keras' update: TensorFlow backend, dense gradients, float
variables, no ``amsgrad``, outside a distribution strategy's replica context.
Elsewhere (JAX, where XLA fuses Keras' update itself; sparse gradients;
``amsgrad``; ``tf.distribute``) the update is Keras'.
"""

from __future__ import annotations

import keras

_FUSED_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _fused_update(optimizer, gradient, variable, learning_rate) -> bool:
    """Apply the update with ResourceApplyAdam; False when it does not apply."""
    if keras.backend.backend() != "tensorflow" or optimizer.amsgrad:
        return False
    import tensorflow as tf

    if isinstance(gradient, tf.IndexedSlices) or variable.dtype not in _FUSED_DTYPES:
        return False
    if tf.distribute.has_strategy():  # per-replica variables: Keras handles them
        return False
    handle = getattr(variable, "handle", None)
    if handle is None:
        return False
    dtype = variable.dtype
    index = optimizer._get_variable_index(variable)
    step = tf.cast(optimizer.iterations + 1, dtype)
    beta_1 = tf.cast(optimizer.beta_1, dtype)
    beta_2 = tf.cast(optimizer.beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=handle, m=optimizer._momentums[index].handle, v=optimizer._velocities[index].handle,
        beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
        lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
        epsilon=tf.cast(optimizer.epsilon, dtype), grad=tf.cast(gradient, dtype),
        use_locking=False)
    return True


class _FusedUpdate:
    """The Adam update of FusedAdam / FusedAdamW: the fused op where it applies."""

    def update_step(self, gradient, variable, learning_rate):
        if not _fused_update(self, gradient, variable, learning_rate):
            super().update_step(gradient, variable, learning_rate)


@keras.saving.register_keras_serializable(package="zoo")
class FusedAdam(_FusedUpdate, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with one fused update op per variable on TensorFlow.

    Same arguments, state, results and saved form as Keras' Adam (see the
    module docstring for where the fused op applies).

    Example:

    ```python
    model.compile(optimizer=zoo.training.optimizers.FusedAdam(1e-3), loss="mse")
    ```
    """


@keras.saving.register_keras_serializable(package="zoo")
class FusedAdamW(_FusedUpdate, keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` with one fused update op per variable on TensorFlow.

    The decoupled weight decay is Keras' (applied by the base optimizer before
    the update); the Adam update is the fused op of :class:`FusedAdam`.

    Example:

    ```python
    model.compile(optimizer=zoo.training.optimizers.FusedAdamW(1e-3, weight_decay=1e-4),
                  loss="mse")
    ```
    """


# The names zoo.finetune(optimizer=...) resolves to the fused classes. Its
# default stays Keras' "adam": the fused update measured 0-12 % faster a step
# (benchmarks/RESULTS.md, "Fused Adam"), within this machine's noise for some
# families, and it is not bit-identical to Keras' (see the module docstring),
# while plain "adam" keeps finetune's results identical to compile + fit.
FUSED = {"fused_adam": FusedAdam, "fused_adamw": FusedAdamW}


def get(name: str, learning_rate: float):
    """The optimizer ``zoo.finetune`` uses for ``name``: ``"fused_adam"`` /
    ``"fused_adamw"`` or any Keras optimizer name."""
    cls = FUSED.get(name.lower())
    if cls is not None:
        return cls(learning_rate=learning_rate)
    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate}})
