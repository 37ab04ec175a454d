"""A short zoo.finetune run used by tests/test_distribute.py in child processes.

Fine-tunes a small model with zoo's native layers on fixed data (one head
epoch, then the rest with everything trainable), under the strategy named on
the command line, and writes the final weights and the epochs it trained. With
--kill-after-epoch N it stops itself with SIGKILL right after epoch N ended
(an abrupt crash, as from a lost machine).
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
    p.add_argument("--steps-per-execution", default="auto")
    args = p.parse_args()

    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)

    import keras
    import numpy as np

    import zoo
    from zoo.training.distribute import resolve_strategy

    # Multi-worker collectives must be configured before TensorFlow runs
    # anything, so the strategy is made first and passed on as an object.
    strategy = resolve_strategy(args.strategy)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 20)).astype("float32")
    y = (x[:, :3].sum(axis=1, keepdims=True) > 0).astype("float32")

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((20,)),
        zoo.layers.FusedDense(32, activation="gelu"),
        zoo.layers.FusedDense(16, activation="silu"),
        zoo.layers.FusedDense(1, activation="sigmoid", name="head"),
    ])

    class KillAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"finished epoch {epoch + 1}", flush=True)
            if args.kill_after_epoch and epoch + 1 == args.kill_after_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

    result = zoo.finetune(
        model, (x, y), head_epochs=1, epochs=args.epochs - 1, learning_rate=0.1,
        fine_tune_learning_rate=0.1, optimizer="sgd", loss="binary_crossentropy",
        metrics=[], batch_size=32 if args.strategy == "none" else 16, shuffle=False,
        verbose=0, strategy=strategy, backup_dir=args.backup_dir,
        callbacks=[KillAfter()],
        steps_per_execution=(args.steps_per_execution if args.steps_per_execution == "auto"
                             else int(args.steps_per_execution)))
    weights = result.model.get_weights()
    np.savez(args.out, *[np.asarray(w) for w in weights])
    with open(args.out + ".json", "w") as f:
        json.dump({"epochs_in_history": len(result.history["loss"]),
                   "phases": [list(p) for p in result.phases],
                   "settings": result.settings}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
