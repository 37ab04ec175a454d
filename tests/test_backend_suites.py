"""The registry, model-family, fine-tuning, preset, export and predict suites again, on
Keras' other backends: JAX with the native FFI path required, and torch on
zoo's keras.ops references (zoo has no torch kernels yet).

The rest of the suite runs on TensorFlow, and a Keras backend is fixed per
process, so these files run in one child pytest per backend. Tests that are
about TensorFlow itself skip themselves elsewhere with a reason; everything
else must pass unchanged. The `slow` tests of those files stay on TensorFlow
only, to keep CI's time in check. scripts/test.sh installs jax and a CPU build
of torch; without them these tests skip and say why.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ["test_registry.py", "test_models.py", "test_presets.py", "test_finetune.py",
          "test_export.py", "test_predict.py"]


def run_suites(tmp_path, env):
    """The SUITES in one child pytest with `env`; they must pass, and be many."""
    env = dict(env, TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(HERE)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--rootdir={root}",
           "-c", os.path.join(root, "pyproject.toml"), "-q", "-m", "not slow",
           f"--basetemp={tmp_path / 'suites'}"] + [os.path.join(HERE, f) for f in SUITES]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=2400)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    summary = out.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    # The files hold well over a hundred cases on either backend; far fewer
    # means they were not collected (an import error would also fail above).
    assert passed >= 100, summary


@pytest.mark.slow  # one child pytest: about 8 CPU-minutes on 2 cores
@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed (pip install keras-zoo[jax])")
def test_suites_pass_on_the_jax_backend(tmp_path):
    run_suites(tmp_path, dict(os.environ, KERAS_BACKEND="jax", ZOO_REQUIRE_NATIVE="1",
                              JAX_PLATFORMS="cpu"))


@pytest.mark.slow  # one child pytest: about 4 CPU-minutes on 2 cores
@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed (scripts/test.sh installs a CPU build)")
def test_suites_pass_on_the_torch_backend(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="torch")
    env.pop("ZOO_REQUIRE_NATIVE", None)  # no torch kernels: requiring them is an error
    run_suites(tmp_path, env)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed (scripts/test.sh installs a CPU build)")
def test_requiring_native_kernels_on_torch_fails_loudly(tmp_path):
    # Each zoo op and layer on torch, with ZOO_REQUIRE_NATIVE=1: an error naming
    # the backend, never a quiet run on the references.
    code = (
        "import numpy as np, zoo\n"
        "from zoo._native import NativeUnavailableError\n"
        "x = np.ones((2, 5, 4), 'float32')\n"
        "calls = {\n"
        "  'bias_act': lambda: zoo.ops.bias_act(x, np.ones(4, 'float32'), 'gelu'),\n"
        "  'dense': lambda: zoo.ops.dense(x, np.ones((4, 3), 'float32')),\n"
        "  'sequence_mask': lambda: zoo.ops.sequence_mask(x),\n"
        "  'LSTM': lambda: zoo.layers.LSTM(3)(x),\n"
        "  'GRU': lambda: zoo.layers.GRU(3)(x),\n"
        "}\n"
        "for name, call in calls.items():\n"
        "    try:\n"
        "        call()\n"
        "    except NativeUnavailableError as e:\n"
        "        assert \"'torch'\" in str(e), (name, str(e))\n"
        "        print(name, 'raised')\n"
        "    else:\n"
        "        print(name, 'ran')\n"
    )
    env = dict(os.environ, KERAS_BACKEND="torch", ZOO_REQUIRE_NATIVE="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines == [f"{n} raised" for n in ("bias_act", "dense", "sequence_mask", "LSTM", "GRU")], lines
    # zoo doctor names the backend and counts the requirement as a problem.
    proc = subprocess.run([sys.executable, "-m", "zoo", "doctor"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    out = " ".join(proc.stdout.split())  # rich wraps long lines
    assert proc.returncode == 1, out[-3000:]
    assert "keras backend: torch (no zoo kernels" in out, out[-3000:]
    assert "1 problem(s) found" in out, out[-3000:]
