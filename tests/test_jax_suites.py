"""The registry, model-family, fine-tuning, preset and export suites again, on
Keras' JAX backend with the native FFI path required.

The rest of the suite runs on TensorFlow, and a Keras backend is fixed per
process, so these files run in ONE child pytest (KERAS_BACKEND=jax,
ZOO_REQUIRE_NATIVE=1: a missing JAX FFI library fails every native build
there). Tests that are about TensorFlow itself skip themselves on JAX with a
reason; everything else must pass unchanged. The `slow` tests of those files
stay on TensorFlow only, to keep CI's time in check.
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
          "test_export.py"]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install keras-zoo[jax])")


@pytest.mark.slow  # one child pytest: about 8 CPU-minutes on 2 cores
def test_suites_pass_on_the_jax_backend(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", ZOO_REQUIRE_NATIVE="1", JAX_PLATFORMS="cpu",
               TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(HERE)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--rootdir={root}",
           "-c", os.path.join(root, "pyproject.toml"), "-q", "-m", "not slow",
           f"--basetemp={tmp_path / 'jax'}"] + [os.path.join(HERE, f) for f in SUITES]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=2400)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    summary = out.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    # The files hold well over a hundred cases on JAX; far fewer means they were
    # not collected (an import error would also fail above).
    assert passed >= 100, summary
