"""Every example script and the main job run end to end, in their reduced settings
(one epoch per stage, no augmentation), as a user would run them: in a subprocess,
from the repository root. Installs go to temporary --target directories, so the
test environment is left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.slow


def run(*args, timeout=300, env=None) -> str:
    env = {**os.environ, **(env or {}), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    out = subprocess.run([*map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{args} failed with {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def read_metadata(preset: Path) -> dict:
    return json.loads((preset / "metadata.json").read_text())


def test_main_job_runs_the_finetuning_in_the_current_environment(tmp_path):
    """scripts/main-job.sh without its install step (ZOO_SKIP_INSTALL=1, this environment)."""
    preset = tmp_path / "preset"
    env = {"ZOO_SKIP_INSTALL": "1", "ZOO_VENV": sys.prefix}
    out = run("bash", ROOT / "scripts" / "main-job.sh", "--epochs", "1", "--quick", "--verbose", "2",
              "--output", preset, env=env)
    assert "digits_cnn.sklearn" in out and "before fine-tuning" in out and "after fine-tuning" in out
    meta = read_metadata(preset)
    assert meta["labels"] == ["0-4", "5-9"] and meta["arch"]["name"] == "digits_cnn"
    assert {"test_accuracy", "test_accuracy_before"} <= set(meta["metrics"])
    assert meta["metrics"]["test_accuracy"] > 0.6  # one epoch of head training on frozen features


def test_finetune_on_an_image_folder(tmp_path):
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = tmp_path / "images"
    for label, name in enumerate(("zero", "one", "two")):
        (folder / name).mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:20]):
            big = np.kron(image / 16 * 255, np.ones((2, 2)))[..., None].astype("uint8")  # 16x16 PNGs
            (folder / name / f"{i}.png").write_bytes(tf.io.encode_png(big).numpy())
    preset = tmp_path / "preset"
    out = run(sys.executable, EXAMPLES / "finetune_digits.py", "--images", folder, "--epochs", "1", "--quick",
              "--verbose", "0", "--output", preset)
    assert "after fine-tuning" in out
    assert read_metadata(preset)["labels"] == ["one", "two", "zero"]


def test_finetune_on_a_csv_series(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(160)
    values = 60 + 50 * np.sin(2 * np.pi * t / 11) + rng.normal(0, 5, len(t))
    csv = tmp_path / "series.csv"
    csv.write_text("year,value\n" + "".join(f"{1800 + i},{v:.3f}\n" for i, v in enumerate(values)))
    preset = tmp_path / "preset"
    out = run(sys.executable, EXAMPLES / "finetune_digits.py", "--csv", csv, "--column", "value", "--epochs", "1",
              "--quick", "--verbose", "0", "--output", preset)
    assert "test RMSE" in out
    meta = read_metadata(preset)
    assert meta["task"] == "forecasting" and meta["preprocessing"]["window"] == 20


def test_semi_supervised_example_quick():
    out = run(sys.executable, EXAMPLES / "semi_supervised_digits.py", "--quick")
    assert "67 labelled" in out and "from scratch" in out


def test_predict_prebuilt_example():
    out = run(sys.executable, EXAMPLES / "predict_prebuilt.py", "--count", "4")
    assert out.count("predicted") == 4 and "forecast for 2009" in out


def test_write_a_plugin_example(tmp_path):
    out = run(sys.executable, EXAMPLES / "write_a_plugin" / "install_and_use.py", "--target", tmp_path / "site")
    assert "zoo-hello-plugin" in out and "['hello_mlp32', 'hello_mlp128']" in out


def test_finetune_and_package_example(tmp_path):
    out = run(sys.executable, EXAMPLES / "finetune_and_package.py", "--epochs", "1", "--quick",
              "--target", tmp_path / "site", "--workdir", tmp_path / "work")
    assert "wrote package zoo-digits-parity" in out and "installed digits_parity: test accuracy" in out
