"""How many training steps :func:`zoo.finetune` runs per call into TensorFlow.

Keras' ``steps_per_execution`` runs N batches inside one ``tf.function`` call
(a ``tf.while_loop``), so the Python work of a step (callbacks, log
conversion, the function call itself) is paid once per N batches. On small
models that overhead is most of a step (benchmarks/RESULTS.md, "Fast
fine-tuning"). The results are the same: the batches, their order and the
updates do not change; only the points where Python sees the run do.

What changes with N > 1 (documented in README, "Speed"):

- the progress bar and ``on_train_batch_*`` hooks advance once per N batches
  (the batch index they see is the last of the N);
- ``EarlyStopping``, ``ModelCheckpoint`` / ``BackupAndRestore`` with
  ``save_freq="epoch"``, ``History``, ``CSVLogger``, ``ReduceLROnPlateau``,
  ``LearningRateScheduler`` act at epoch ends and behave exactly as before;
- an interruption loses at most the current epoch, as before (backups are
  written at epoch ends).

So N is 1 whenever a callback does its work in a per-batch hook (a user
callback overriding ``on_train_batch_begin/end`` or ``on_batch_begin/end``,
a ``LambdaCallback`` given such a hook, a checkpoint saving every K batches),
because running it every N batches would change what it does.
"""

from __future__ import annotations

import math

# More than this gains nothing measurable (RESULTS.md: 16 and 32 within noise
# of each other on the dense family) and makes the progress bar coarse.
MAX_STEPS_PER_EXECUTION = 32

_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")


def _epoch_level_keras_hooks():
    """Keras callbacks whose per-batch hooks only count batches (or print), so
    calling them once per execution changes nothing they do, with the
    condition under which that holds."""
    import keras

    cb = keras.callbacks
    return {
        cb.Callback: lambda c: True,
        cb.ProgbarLogger: lambda c: True,  # updates per execution, by design
        cb.History: lambda c: True,
        # NaN in a step makes the running mean loss NaN: seen at the execution's end
        cb.TerminateOnNaN: lambda c: True,
        cb.BackupAndRestore: lambda c: c.save_freq == "epoch",
        cb.ModelCheckpoint: lambda c: c.save_freq == "epoch",
    }


def needs_batch_hooks(callbacks) -> list[str]:
    """The callbacks (as ``"Name.hook"`` strings) that do real work per batch."""
    allowed = _epoch_level_keras_hooks()
    found = []
    for callback in callbacks or ():
        for hook in _BATCH_HOOKS:
            if hook in vars(callback):  # LambdaCallback stores hooks on the instance
                found.append(f"{type(callback).__name__}.{hook}")
                continue
            owner = next(k for k in type(callback).__mro__ if hook in vars(k))
            check = allowed.get(owner)
            if check is None or not check(callback):
                found.append(f"{type(callback).__name__}.{hook}")
    return found


def batches_per_epoch(x, batch_size) -> int | None:
    """Batches in an epoch of ``x`` (arrays or a tf.data.Dataset); None when unknown."""
    if hasattr(x, "cardinality"):
        n = int(x.cardinality())
        return n if n > 0 else None  # INFINITE (-1) or UNKNOWN (-2)
    if x is None or batch_size is None:
        return None
    return math.ceil(len(x) / batch_size)


def choose_steps_per_execution(requested, *, batches: int | None, callbacks=(),
                               strategy=None) -> int:
    """``steps_per_execution`` for a fine-tuning run.

    Args:
        requested: ``"auto"`` or a positive integer (used as given).
        batches: batches per epoch, None when unknown (a dataset of unknown
            cardinality).
        callbacks: the run's callbacks; any with per-batch work forces 1.
            So does Keras' torch backend, whose trainer runs one batch per
            call and refuses more.
        strategy: the run's ``tf.distribute`` strategy; anything but the
            default one gets 1 (not measured here; pass an integer to opt in).

    Returns:
        The integer to give ``compile(steps_per_execution=...)``.
    """
    if requested != "auto":
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"steps_per_execution must be a positive integer or 'auto', "
                             f"got {requested!r}")
        return requested
    if needs_batch_hooks(callbacks):
        return 1
    import keras

    if keras.backend.backend() == "torch":
        return 1
    if strategy is not None:
        import tensorflow as tf

        if strategy is not tf.distribute.get_strategy():
            return 1
    if batches is None:
        return MAX_STEPS_PER_EXECUTION
    # Never more than an epoch: one execution per epoch is the least overhead.
    return max(1, min(MAX_STEPS_PER_EXECUTION, batches))


def check_jit_compile(requested):
    """``jit_compile`` for a fine-tuning run's ``compile()``: True, False, or
    ``"auto"``, which is Keras' own (graph mode on a CPU-only TensorFlow).

    zoo models compile with XLA on TensorFlow, their LSTM/GRU kept native
    inside it, but at zoo.finetune's ``steps_per_execution`` XLA measured no
    steady gain on any family (benchmarks/RESULTS.md, "TensorFlow's XLA with
    the fused recurrent kernels": 0.87-1.27x either way between runs): the
    per-step work it removes is what 32 steps per execution already removes.
    So "auto" does not turn it on; pass True to choose it.
    """
    if requested not in (True, False, "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto', got {requested!r}")
    return requested
