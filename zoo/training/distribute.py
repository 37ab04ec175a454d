"""Running zoo training on tf.distribute, and surviving interruption.

keras-zoo has no distributed engine of its own: a fine-tune scales out through
TensorFlow's strategies and resumes through Keras' BackupAndRestore.

- ``"none"``: the default strategy (one device).
- ``"mirrored"``: MirroredStrategy, every local device (GPUs, or logical CPUs).
- ``"multi-worker"``: MultiWorkerMirroredStrategy across hosts, configured by
  the ``TF_CONFIG`` environment variable of each worker.

Models must be built and compiled inside ``strategy.scope()``; Keras' ``fit``
then splits each global batch across replicas, shards datasets across workers
and sums the gradients. zoo's native ops run per replica like any TF op.

A multi-worker strategy must exist before TensorFlow runs anything in the
process (TF configures its collectives at start-up): create it first with
:func:`resolve_strategy` and pass the object on.
"""

from __future__ import annotations

import json
import os

STRATEGY_NAMES = ("none", "mirrored", "multi-worker")


class DistributionError(ValueError):
    """A strategy was asked for that this environment cannot provide."""


def resolve_strategy(strategy=None):
    """A ``tf.distribute.Strategy`` from a name, None or a strategy object."""
    import tensorflow as tf

    if strategy is None or strategy == "none":
        return tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "mirrored":
        # Every GPU; on a CPU-only host every logical CPU device (configure
        # several with tf.config.set_logical_device_configuration, as tests do).
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices)
    if strategy in ("multi-worker", "multi_worker"):
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise DistributionError(
                "the multi-worker strategy needs TF_CONFIG describing the cluster and this "
                "worker's task, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}'
            )
        try:
            json.loads(config)
        except json.JSONDecodeError as exc:
            raise DistributionError(f"TF_CONFIG is not valid JSON: {exc}") from exc
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise DistributionError(
        f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGY_NAMES)}"
    )


def global_batch_size(per_replica_batch_size: int, strategy) -> int:
    """Keras batches are global: each replica gets ``batch / replicas`` rows,
    so the per-replica batch the user chose is scaled by the replica count."""
    return int(per_replica_batch_size) * int(strategy.num_replicas_in_sync)


def is_chief() -> bool:
    """True on the worker that should write outputs (task 0, or no cluster)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    return task.get("type", "worker") in ("chief", "worker") and int(task.get("index", 0)) == 0


def backup_callback(backup_dir):
    """Keras' BackupAndRestore, with saves that a kill cannot leave half-written:
    it saves state at the end of every epoch and, when the same command is
    started again after a crash, resumes from the last completed epoch
    (deleting the backup once training finishes)."""
    import keras

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        """Keras writes ``latest.weights.h5`` in place, so a kill during a save
        leaves a truncated HDF5 file that the restarted run cannot open (seen
        in CI). Here every save writes a weights file of its own, then the
        metadata naming it under a temporary name, renamed into place: the
        rename is the commit, and whatever a kill interrupts is never read."""

        def _save_model(self):
            os.makedirs(self.backup_dir, exist_ok=True)
            name = f"epoch{self._current_epoch}-batch{self._last_batch_seen}.weights.h5"
            self.model.save_weights(os.path.join(self.backup_dir, name), overwrite=True)
            meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
            tmp = self._training_metadata_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(meta, f)
            os.replace(tmp, self._training_metadata_path)
            for entry in os.listdir(self.backup_dir):  # earlier saves, no longer named
                if entry.endswith(".weights.h5") and entry != name:
                    os.remove(os.path.join(self.backup_dir, entry))

        def _load_model(self):
            if not os.path.exists(self._training_metadata_path):
                return
            with open(self._training_metadata_path) as f:
                meta = json.load(f)
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(os.path.join(self.backup_dir, meta["weights"]))
            self.model._initial_epoch = meta["epoch"]

    os.makedirs(backup_dir, exist_ok=True)
    return AtomicBackupAndRestore(backup_dir=str(backup_dir), save_freq="epoch",
                                  delete_checkpoint=True)


def needs_custom_loop(strategy) -> bool:
    """Keras 3's ``fit`` cannot run under MultiWorkerMirroredStrategy (it
    reduces scalar logs along axis 0: keras-team/keras#20585); zoo trains
    there with :func:`fit_multi_worker` instead."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def fit_multi_worker(model, x, y, *, strategy, epochs: int, batch_size: int,
                     backup_dir=None, initial_epoch: int = 0, verbose: int = 1):
    """Synchronous data-parallel training across workers.

    The model must have been built and compiled inside ``strategy.scope()``.
    Each global batch of ``batch_size`` rows is split across the replicas of
    all workers; the optimizer all-reduces (sums) the replicas' gradients of
    their loss share, which equals the gradient of the global batch's mean.

    With ``backup_dir`` the model, optimizer and epoch counter are saved
    after every epoch (every worker writes its own copy, as TF's multi-worker
    checkpointing requires; the chief's is the one kept), and a restarted run
    resumes from the last completed epoch.

    Returns a dict with the mean loss of each epoch run by this call.
    """
    import numpy as np
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = (tf.data.Dataset.from_tensor_slices((np.asarray(x), np.asarray(y)))
               .batch(batch_size, drop_remainder=True).with_options(options))
    dist_dataset = strategy.experimental_distribute_dataset(dataset)

    with strategy.scope():
        epoch_var = tf.Variable(initial_epoch, dtype=tf.int64, trainable=False)
    manager = None
    if backup_dir is not None:
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch_var)
        directory = str(backup_dir) if is_chief() else os.path.join(
            str(backup_dir), f"worker-temp-{_task_index()}")
        manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1)
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint)

    @tf.function
    def train_step(inputs):
        def replica_step(xb, yb):
            with tf.GradientTape() as tape:
                y_pred = model(xb, training=True)
                # Keras losses already divide by the replica count inside a
                # replica context, so the summed gradients are the global mean's.
                loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, training=True)
            grads = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        per_replica = strategy.run(replica_step, args=inputs)
        return strategy.reduce("SUM", per_replica, axis=None)

    history = {"loss": []}
    for epoch in range(int(epoch_var.numpy()), epochs):
        losses = [float(train_step(batch)) for batch in dist_dataset]
        history["loss"].append(sum(losses) / max(1, len(losses)))
        epoch_var.assign(epoch + 1)
        if manager is not None:
            manager.save()
        if verbose:
            print(f"epoch {epoch + 1}/{epochs} - loss {history['loss'][-1]:.4f}", flush=True)
    if manager is not None and not is_chief():
        import shutil

        shutil.rmtree(manager.directory, ignore_errors=True)
    return history


def _task_index() -> int:
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    return int(config.get("task", {}).get("index", 0))


class PhasedBackup:
    """Crash recovery for a multi-phase fine-tune (head, then full).

    Inside a phase, Keras' BackupAndRestore (or the multi-worker loop's
    checkpoints) in ``<root>/<phase>`` resume from the last completed epoch.
    When a phase ends, its weights and history are kept in
    ``<root>/<phase>.done.weights.h5`` / ``.json``, written to a temporary name
    and renamed so a crash never leaves half a file; a restarted run restores a
    finished phase instead of training it again. :meth:`finish` removes it all.
    """

    def __init__(self, root):
        from pathlib import Path

        self.root = Path(root)

    def _done(self, phase):
        return self.root / f"{phase}.done.weights.h5", self.root / f"{phase}.done.json"

    def phase_dir(self, phase):
        return self.root / phase

    def is_done(self, phase) -> bool:
        weights, meta = self._done(phase)
        return weights.exists() and meta.exists()

    def restore(self, model, phase) -> dict:
        """Load a finished phase's weights into ``model``; return its history."""
        weights, meta = self._done(phase)
        model.load_weights(weights)
        return json.loads(meta.read_text())

    def mark_done(self, model, phase, history: dict) -> None:
        weights, meta = self._done(phase)
        self.root.mkdir(parents=True, exist_ok=True)
        if is_chief():
            tmp = weights.with_name(f".{phase}.tmp.weights.h5")
            model.save_weights(tmp)
            os.replace(tmp, weights)
            tmp_meta = meta.with_name(f".{phase}.tmp.json")
            tmp_meta.write_text(json.dumps(history))
            os.replace(tmp_meta, meta)

    def finish(self) -> None:
        import shutil

        if is_chief():
            shutil.rmtree(self.root, ignore_errors=True)


def build_in_scope(model, strategy):
    """A copy of ``model`` whose variables belong to ``strategy`` (mirrored
    variables must be created inside its scope); the default strategy needs none."""
    import keras
    import tensorflow as tf

    if strategy is tf.distribute.get_strategy():
        return model
    if model.weights and all(isinstance(getattr(w, "value", w), tf.distribute.DistributedValues)
                             for w in model.weights):
        return model  # already built in a strategy's scope
    with strategy.scope():
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
    return clone
