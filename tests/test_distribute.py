"""zoo.finetune under tf.distribute with zoo's native ops, and resuming after a crash.

Each run is a child process (strategies and logical devices must be set up
before TensorFlow initialises). Times are bounded; children are killed on
failure.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = str(Path(__file__).with_name("dist_worker.py"))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_worker(*args, env=None, timeout=240):
    out = subprocess.run([sys.executable, WORKER, *args], capture_output=True, text=True,
                         env=env or ENV, timeout=timeout)
    return out


def load(path):
    with np.load(path) as f:
        weights = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]
    meta = json.loads(Path(str(path) + ".json").read_text())
    return weights, meta


def assert_same_weights(a, b, rtol=1e-4, atol=1e-5):
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "w.npz"
    res = run_worker("--out", str(out))
    assert res.returncode == 0, res.stderr
    return load(out)


def test_mirrored_strategy_matches_single_device(single_run, tmp_path):
    out = tmp_path / "w.npz"
    res = run_worker("--strategy", "mirrored", "--logical-cpus", "2", "--out", str(out))
    assert res.returncode == 0, res.stderr
    weights, meta = load(out)
    assert meta["phases"] == single_run[1]["phases"]
    assert_same_weights(weights, single_run[0])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_strategy_two_processes_agree(single_run, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    procs = []
    try:
        for index in range(2):
            env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                   "task": {"type": "worker", "index": index}})}
            procs.append(subprocess.Popen(
                [sys.executable, WORKER, "--strategy", "multi-worker",
                 "--out", str(tmp_path / f"w{index}.npz")],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for proc in procs:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    (w0, m0), (w1, m1) = load(tmp_path / "w0.npz"), load(tmp_path / "w1.npz")
    assert m0["epochs_in_history"] == m1["epochs_in_history"] == 3
    assert_same_weights(w0, w1, rtol=0, atol=0)  # all-reduced: bit-identical
    # Each worker sees half of every global batch: the same as one device.
    assert_same_weights(w0, single_run[0])


def test_killed_fine_tune_resumes_from_last_epoch(single_run, tmp_path):
    backup = tmp_path / "backup"
    out = tmp_path / "w.npz"
    # Epoch 1 is the head phase, epochs 2-3 the full phase: die inside the latter.
    first = run_worker("--out", str(out), "--backup-dir", str(backup), "--kill-after-epoch", "2")
    assert first.returncode == -9, first.stderr  # SIGKILL
    assert "finished epoch 2" in first.stdout and not out.exists()
    assert (backup / "head.done.weights.h5").exists(), "finished phase was not kept"

    second = run_worker("--out", str(out), "--backup-dir", str(backup))
    assert second.returncode == 0, second.stderr
    # Only the one missing epoch ran; the head phase was restored, not retrained.
    assert second.stdout.split() == ["finished", "epoch", "3"], second.stdout
    weights, meta = load(out)
    assert meta["phases"] == single_run[1]["phases"]
    assert_same_weights(weights, single_run[0], rtol=1e-5, atol=1e-6)
    assert not backup.exists(), "the backup is removed once the fine-tune finishes"


def test_unknown_and_unconfigured_strategies_raise():
    from zoo.training.distribute import DistributionError, resolve_strategy

    with pytest.raises(DistributionError, match="unknown strategy 'ring'"):
        resolve_strategy("ring")
    env_backup = os.environ.pop("TF_CONFIG", None)
    try:
        with pytest.raises(DistributionError, match="needs TF_CONFIG"):
            resolve_strategy("multi-worker")
    finally:
        if env_backup is not None:
            os.environ["TF_CONFIG"] = env_backup


def test_cli_fine_tune_killed_mid_phase_resumes_with_the_same_command(tmp_path):
    import time

    script = (
        "import keras, zoo\n"
        "keras.utils.set_random_seed(0)\n"
        "m = keras.Sequential([keras.Input((20,)), zoo.layers.FusedDense(64, activation='gelu'),"
        " zoo.layers.FusedDense(2, name='head')])\n"
        f"m.save({str(tmp_path / 'mlp.keras')!r})\n"
    )
    # cwd outside the checkout: `python -c` puts the current folder on sys.path.
    assert subprocess.run([sys.executable, "-c", script], env=ENV, timeout=120,
                          cwd=tmp_path).returncode == 0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 20)).astype("float32")
    np.savez(tmp_path / "data.npz", x=x, y=(x[:, 0] > 0).astype("int64"))
    backup = tmp_path / "backup"
    zoo_cli = str(Path(sys.executable).with_name("zoo"))
    command = [zoo_cli, "finetune", str(tmp_path / "mlp.keras"), str(tmp_path / "data.npz"),
               "--head-epochs", "1", "--epochs", "25", "--batch-size", "8",
               "--backup-dir", str(backup), "--json"]

    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Kill once the head phase is kept and the full phase has committed a
        # backup (its metadata file is renamed into place last).
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if ((backup / "head.done.json").exists()
                    and (backup / "full" / "training_metadata.json").exists()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the fine-tune ended before it could be interrupted"
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -9

    second = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    result = json.loads(second.stdout)
    assert [p[:2] for p in result["phases"]] == [["head", 1], ["full", 25]]
    resumed_full_epochs = result["history"]["phase"].count("full")
    assert 1 <= resumed_full_epochs < 25  # only what was left ran again
    assert result["history"]["phase"].count("head") == 1  # restored, with its history
    assert not backup.exists()


def test_backup_interrupted_mid_save_restores_the_last_committed_epoch(tmp_path):
    """A kill while the weights are being written leaves a partial file; the
    restarted run must restore the previous, committed save and ignore it."""
    import keras

    from zoo.training.distribute import backup_callback

    def model(seed):
        keras.utils.set_random_seed(seed)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile("sgd", "mse")
        return m

    saved = model(0)
    cb = backup_callback(tmp_path / "backup")
    cb.set_model(saved)
    cb._current_epoch, cb._last_batch_seen = 3, 0
    cb._save_model()
    # The next epoch's save, killed half-way: a truncated HDF5 file and no metadata.
    (tmp_path / "backup" / "epoch4-batch0.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)

    restarted = model(1)
    assert not np.allclose(restarted.get_weights()[0], saved.get_weights()[0])
    cb2 = backup_callback(tmp_path / "backup")
    cb2.set_model(restarted)
    cb2.on_train_begin()
    for got, want in zip(restarted.get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert restarted._initial_epoch == 3
