"""Array training data as a tf.data pipeline of whole batches, reshuffled
every epoch: what :func:`zoo.finetune` trains on when it is given arrays on
TensorFlow (on JAX, Keras' own numpy iterator measured as fast or faster).

Keras' own pipeline for arrays (its ``ArrayDataAdapter``) gathers every batch
in a tf.data ``map`` (one function call per batch on tf.data's threads,
competing with the training step for the cores) and, being a finite dataset,
is iterated anew, cold, at every epoch. Here the dataset is endless: fit gets
``steps_per_epoch``, so one iterator serves every epoch and the next epoch's
first batches are ready when it starts; an epoch is one permutation of the
examples, gathered a chunk of many batches at a time and cut into batches that
tf.data hands out as slices. At finetune's steps per execution an epoch of the
small families took 1.36-1.39x less time (benchmarks/RESULTS.md, "Fine-tuning:
zoo's array pipeline"); the kept iterator is most of it.

The rules are ``fit(x, y, batch_size, shuffle)``'s: a new order every epoch
(or the stored order with ``shuffle=False``), full batches first and the
partial one last, floats other than Keras' ``floatx`` cast to it. The orders
are not Keras' own (they come from ``seed``), so a run matches a plain
``fit`` up to the batches' composition, and two runs with one seed match
exactly.
"""

from __future__ import annotations

import numpy as np

# Examples gathered at once: at most this many bytes (and at least one batch),
# so an epoch of a large array is never copied whole.
CHUNK_BYTES = 32 << 20


# Fewer steps per execution than this and the per-call work the pipeline
# would save is outweighed by the per-call work of the extra executions.
MIN_ALIGNED_STEPS = 8


def aligned_steps_per_execution(steps_per_execution: int, batches: int,
                                chosen: bool) -> int | None:
    """The steps per execution to train this pipeline with, or None to leave
    the arrays to Keras.

    Keras runs every execution to its full length on an endless dataset, even
    the last one of an epoch, which then takes batches of the next epoch (one
    epoch of 10 steps at 4 per execution trains 12). So the executions must
    tile the epoch: ``steps_per_execution`` itself when it divides the
    batches, else, when finetune ``chosen`` it (not the caller), the largest
    divisor below it of at least MIN_ALIGNED_STEPS (an epoch of 322 batches
    runs 23 at a time). Otherwise None."""
    if batches % steps_per_execution == 0:
        return steps_per_execution
    if not chosen:
        return None
    divisor = max(d for d in range(1, steps_per_execution + 1) if batches % d == 0)
    return divisor if divisor >= MIN_ALIGNED_STEPS else None


def epoch_batches(x, y, *, batch_size: int, shuffle: bool = True, seed: int = 0,
                  chunk_bytes: int = CHUNK_BYTES):
    """An endless ``tf.data.Dataset`` of ``(x, y)`` batches: each run of
    ``ceil(len(x) / batch_size)`` batches (zoo.training.speed.batches_per_epoch)
    is one epoch, in a new order (drawn
    from ``seed``) when ``shuffle``. Give ``fit`` that many
    ``steps_per_epoch``: it then keeps one iterator for all epochs, where a
    finite dataset costs a new iterator (and a pipeline started cold) at every
    epoch; that was most of what this pipeline saves."""
    import keras
    import tensorflow as tf

    x, y = _floatx(np.asarray(x), keras), _floatx(np.asarray(y), keras)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x has {n} examples but y has {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    if n == 0:
        raise ValueError("no training examples")
    full, rest = divmod(n, batch_size)
    example_bytes = max(1, (x.nbytes + y.nbytes) // n)
    per_gather = max(1, chunk_bytes // (batch_size * example_bytes))
    xs, ys = tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    def take(rows):
        return tf.gather(xs, rows), tf.gather(ys, rows)

    def epoch(draw):
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=tf.stack([tf.constant(seed, tf.int64), draw]))
        batches = tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[:full * batch_size], (full, batch_size)))
        # Gather per_gather batches in one call, then slice them apart.
        batches = batches.batch(per_gather).map(take).unbatch()
        if rest:
            batches = batches.concatenate(
                tf.data.Dataset.from_tensors(order[full * batch_size:]).map(take))
        return batches

    # Each random draw seeds one epoch's order; a new iterator (the next fit)
    # draws anew, so two phases of a fine-tune do not repeat their orders.
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return draws.flat_map(epoch).prefetch(2)


def _floatx(a, keras):
    if a.dtype.kind == "f" and a.dtype != np.dtype(keras.config.floatx()):
        return a.astype(keras.config.floatx())
    return a
