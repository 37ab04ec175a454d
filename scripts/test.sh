#!/usr/bin/env bash
# Set up a virtual environment on a fresh machine, build and install keras-zoo
# with its native libraries, install the plugin packages, and run the test
# suite with the native path required (a broken native build fails loudly).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ZOO_VENV:-.venv}
python3 -m venv "$VENV"
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
# The headers TF's XLA headers need, for the op library's XLA kernels (Debian packages).
bash scripts/xla-headers.sh
# jax is a build requirement: the JAX FFI library must be built (else CMake fails);
# so must the TF op library's XLA kernels.
ZOO_REQUIRE_JAX_BUILD=1 ZOO_REQUIRE_TF_XLA_BUILD=1 python -m pip install -q ".[test]"
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && python -m pip install -q "$plugin"
done
# The torch backend's tests (tests/test_backend_suites.py) need torch: its CPU
# build where a local wheel provides one (PyPI's torch is a CUDA build of
# several GB); without it those tests skip and say so.
python -m pip install -q "torch==2.13.0+cpu" 2>/dev/null ||
  echo "scripts/test.sh: no CPU build of torch 2.13.0 here; the torch backend's tests will skip"
# Where nvcc exists the CUDA kernels must compile (tests/test_cuda_build.py);
# their numerical tests need a GPU and skip without one.
if command -v nvcc >/dev/null; then
  ZOO_CUBLASLT_INCLUDE_DIR=$(bash scripts/cublas-headers.sh)
  export ZOO_CUBLASLT_INCLUDE_DIR ZOO_REQUIRE_CUDA_BUILD=1
fi
export TF_CPP_MIN_LOG_LEVEL=2 ZOO_REQUIRE_NATIVE=1 ZOO_REQUIRE_TF_XLA_BUILD=1
# One worker per core, whole files per worker (module fixtures build once); the
# long files go first (tests/conftest.py). ZOO_TEST_WORKERS=0 runs in-process.
exec pytest -p no:cacheprovider --rootdir=. -c pyproject.toml \
  -n "${ZOO_TEST_WORKERS:-auto}" --dist loadfile "$@"
