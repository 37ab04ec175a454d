"""A short training run used by tests/test_distribute.py in child processes.

Trains a small model with zoo's native layers on fixed data, under the
strategy named on the command line, and writes the final weights and the
epochs it ran. With --kill-after-epoch N it stops itself with SIGKILL right
after epoch N has been backed up (an abrupt crash, as from a lost machine).
"""

import argparse
import json
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--strategy", default="none")
    p.add_argument("--logical-cpus", type=int, default=0)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("--backup-dir")
    p.add_argument("--kill-after-epoch", type=int, default=0)
    args = p.parse_args()

    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)

    import keras
    import numpy as np

    import zoo
    from zoo.distribute import backup_callback, fit_multi_worker, needs_custom_loop, resolve_strategy

    strategy = resolve_strategy(args.strategy)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 20)).astype("float32")
    y = (x[:, :3].sum(axis=1, keepdims=True) > 0).astype("float32")

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((20,)),
            zoo.layers.FusedDense(32, activation="gelu"),
            zoo.layers.FusedDense(16, activation="silu"),
            zoo.layers.FusedDense(1, activation="sigmoid"),
        ])
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")

    epochs_run = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs_run.append(epoch)
            print(f"finished epoch {epoch + 1}", flush=True)
            if args.kill_after_epoch and epoch + 1 == args.kill_after_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

    callbacks = [Record()]
    if args.backup_dir:
        # BackupAndRestore must run before the killer sees the epoch end.
        callbacks.insert(0, backup_callback(args.backup_dir))
    if needs_custom_loop(strategy):
        fit_multi_worker(model, x, y, strategy=strategy, epochs=args.epochs, batch_size=32,
                         verbose=0)
    else:
        model.fit(x, y, batch_size=32, epochs=args.epochs, shuffle=False, verbose=0,
                  callbacks=callbacks)
    np.savez(args.out, *[w.numpy() if hasattr(w, "numpy") else w for w in model.get_weights()])
    with open(args.out + ".json", "w") as f:
        json.dump({"epochs_run": epochs_run, "replicas": strategy.num_replicas_in_sync}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
