"""zoo on Keras' JAX backend: the XLA FFI kernels (csrc/jax) against the
keras.ops references, inside and outside jit, the fused LSTM/GRU against
keras.layers with the same weights, the custom calls in a jitted train step's
HLO, and fit/evaluate/predict of one model per family with native required.

The suite itself runs on TensorFlow, so everything JAX runs in ONE child
process (tests/jax_child.py, KERAS_BACKEND=jax) that reports JSON; each test
here asserts one group of its cases. (The torch backend: test_backend_suites.py.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jax_child.py")
GROUPS = ["bias_act", "dense", "errors", "rnn", "fit", "required", "platform"]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install keras-zoo[jax])")


@pytest.fixture(scope="module")
def child_results(tmp_path_factory):
    env = dict(os.environ, KERAS_BACKEND="jax", ZOO_REQUIRE_NATIVE="1", TF_CPP_MIN_LOG_LEVEL="3",
               JAX_PLATFORMS="cpu")
    # cwd outside the checkout, so the child imports the installed package.
    proc = subprocess.run([sys.executable, CHILD], env=env, cwd=tmp_path_factory.mktemp("jax"),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # one child: about 3 CPU-minutes of JAX compiles and fits
@pytest.mark.parametrize("group", GROUPS)
def test_jax_backend(child_results, group):
    cases = child_results.get(group)
    assert cases, f"the child ran no {group} cases"
    failed = [c for c in cases if not c["ok"]]
    assert not failed, "\n".join(f"{c['case']}: {c['detail']}" for c in failed[:20])
