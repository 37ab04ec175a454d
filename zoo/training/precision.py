"""Mixed precision for a fine-tuning run: ``precision=`` of :func:`zoo.finetune`.

``"float32"`` trains as built. ``"bfloat16"`` / ``"float16"`` train a copy of
the model whose layers compute in that type under Keras' ``mixed_*`` policy
(variables stay float32, so the optimizer updates float32 weights), except the
``head`` and every layer after it, and the last layer of a model without a
head, which stay float32: the outputs, and the loss on them, keep full
precision. The global dtype policy is set only while the copy is made and is
restored afterwards; the trained weights go back into the caller's float32
model.

``"auto"`` picks bfloat16 only where it was measured to win: on CPUs with
bfloat16 arithmetic (AVX-512-BF16 or AMX) and for the families in
:data:`BF16_WINS`. Without such hardware bfloat16 is emulated and slower, so
``"auto"`` means float32 there.

zoo's own layers under a mixed policy: ``FusedDense`` runs ``tf.matmul`` in
bfloat16/float16 plus zoo's fused bias+activation kernel (which has bf16/f16
variants); zoo's GEMM is float32-only and is not used. The fused LSTM/GRU
kernels take float32, bfloat16 and float16 inputs (zoo.ops.rnn).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

PRECISIONS = ("auto", "float32", "bfloat16", "float16")

# Families whose training step got faster under mixed_bfloat16 on an
# AVX-512-BF16 CPU. Measured with `benchmarks/bench_finetune.py --precision`
# on an AMD EPYC (Zen 5, AVX-512-BF16) on 2026-12-04 (benchmarks/RESULTS.md,
# "Fine-tuning in bfloat16 on bfloat16 hardware"), zoo.finetune per epoch,
# bfloat16 against float32: ResNet-18 1.39x, LeNet 1.14x faster; the dense
# MLP 0.99x, dense_autoencoder 0.84x (slower: the casts cost more than the
# bf16 matmuls save at these sizes), lstm_classifier 1.10x (within this
# host's noise; its fused LSTM kernel computes in float32 either way). So
# "auto" picks bfloat16 for CNNs only.
BF16_WINS = frozenset({"cnn"})

_POLICIES = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (Linux), empty elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def has_bf16_hardware(flags=None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return "avx512_bf16" in flags or "amx_bf16" in flags


def has_fp16_hardware(flags=None) -> bool:
    """A GPU, or a CPU with float16 arithmetic (AVX-512-FP16 or AMX-FP16)."""
    import tensorflow as tf

    flags = cpu_flags() if flags is None else flags
    return bool(tf.config.list_physical_devices("GPU")) or bool(
        {"avx512_fp16", "amx_fp16"} & flags)


def model_family(model) -> str | None:
    """The registry family of a zoo-built model, else a guess from its layers
    (any convolution: "cnn"; any recurrent layer: "rnn"); None otherwise."""
    import keras

    from zoo.hub.provenance import model_origin

    origin = model_origin(model)
    if origin and origin.get("family"):
        return origin["family"]
    layers = list(model._flatten_layers(include_self=False))
    if any(isinstance(l, keras.layers.RNN) for l in layers):
        return "rnn"
    if any(isinstance(l, keras.layers.Conv2D) for l in layers):
        return "cnn"
    return None


def resolve_precision(precision, family=None, *, flags=None) -> str:
    """``"float32"``, ``"bfloat16"`` or ``"float16"`` for this run."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if family in BF16_WINS and has_bf16_hardware(flags) else "float32"
    if precision == "float16" and not has_fp16_hardware(flags):
        raise ValueError(
            "precision='float16' needs a GPU or a CPU with AVX-512-FP16/AMX-FP16; this one "
            "would emulate it, slower than float32. Use 'bfloat16' or 'float32'"
        )
    return precision


@contextlib.contextmanager
def dtype_policy(name):
    """Keras' global dtype policy set to ``name`` inside the block only."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _float32_layers(model, head="head"):
    """Names of the layers that stay float32: the head and what follows it,
    or the last layer when there is no head."""
    names = [layer.name for layer in model.layers]
    start = names.index(head) if head in names else len(names) - 1
    return set(names[start:])


def mixed_copy(model, precision, *, head="head"):
    """A copy of ``model`` computing in ``precision`` under Keras' mixed policy,
    with the same (float32) weights; ``model`` itself is unchanged. float32
    returns ``model``."""
    if precision == "float32":
        return model
    import keras

    policy = _POLICIES[precision]
    keep = _float32_layers(model, head)

    def clone(layer):
        config = layer.get_config()
        # A layer's config names its own policy (float32): replace it, or the
        # clone would be float32 again. Operations in the graph (a mask's
        # not_equal) have no policy and are copied as they are.
        if "dtype" in config:
            config["dtype"] = "float32" if layer.name in keep else policy
        return type(layer).from_config(config)

    with dtype_policy(policy):
        copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy

