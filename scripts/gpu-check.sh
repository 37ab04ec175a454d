#!/usr/bin/env bash
# The GPU checks in one run, for a machine with an NVIDIA GPU and no network
# (such as the device machine lent to some sessions): build keras-zoo with the
# CUDA kernels against that machine's python3 (which must have torch with CUDA,
# jax with its CUDA plugin, pybind11, cmake, ninja and the nvidia-cublas wheel),
# run the CUDA tests and the GPU benchmarks, and write everything under OUT.
#
#   bash scripts/gpu-check.sh --fetch     # here, with network: the wheels that machine lacks
#   bash scripts/gpu-check.sh [OUT]       # there (OUT defaults to $OUT, else build/gpu-check)
#
# --fetch downloads keras and its two pure dependencies that are not in that
# image (for GPU_PYTHON_VERSION, default 3.12) into build/gpu-wheels; carry
# that folder to the GPU machine (the device tool's `carry`: ["build/gpu-wheels"]).
# Nothing else is installed there: the zoo sources and the built libraries go
# into build/gpu-site, put on PYTHONPATH. About 3-5 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=build/gpu-wheels
if [ "${1:-}" = "--fetch" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" \
    --python-version "${GPU_PYTHON_VERSION:-3.12}" --platform manylinux2014_x86_64 \
    keras namex optree
  ls "$WHEELS"
  exit 0
fi
OUT=${1:-${OUT:-build/gpu-check}}
PY=${PYTHON:-python3}
SITE=$PWD/build/gpu-site
export KERAS_BACKEND=jax  # no TensorFlow there: Keras runs on JAX
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi -L 2>&1 | head -1)"
"$PY" - <<'PY' || true
import sys
print("python", sys.version.split()[0])
for name in ("torch", "jax"):
    try:
        mod = __import__(name)
        devices = mod.cuda.is_available() if name == "torch" else mod.devices()
        print(name, mod.__version__, devices)
    except Exception as exc:  # the tests say what is missing; keep going
        print(name, "unavailable:", exc)
PY

echo "== python packages"
rm -rf "$SITE"
mkdir -p "$SITE"
if ! "$PY" -c "import keras" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
fi
cp -r zoo "$SITE/zoo"

echo "== build (CUDA for sm_90, JAX FFI library, no TensorFlow op library)"
start=$(date +%s)
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DZOO_WITH_CUDA=ON \
  -DZOO_CUDA_ARCHS=90 -DZOO_WITH_TF=OFF -DZOO_WITH_JAX=ON -DPython_EXECUTABLE="$(command -v "$PY")" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" \
  ${ZOO_CUBLASLT_INCLUDE_DIR:+-DZOO_CUBLASLT_INCLUDE_DIR=$ZOO_CUBLASLT_INCLUDE_DIR} \
  > "$OUT/cmake-configure.txt"
cmake --build build/gpu -j "$(nproc)" > "$OUT/cmake-build.txt"
cmake --install build/gpu --prefix "$SITE" > /dev/null
echo "built in $(( $(date +%s) - start )) s"

export PYTHONPATH=$SITE ZOO_REQUIRE_NATIVE=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
# From outside the checkout, whose zoo/ (no libraries) would shadow build/gpu-site's.
(cd "$OUT" && "$PY" -c "from zoo import _C, _native; print(_C.build_info()); print(_C.cuda.device_info()); \
print('jax CUDA handlers:', _native.jax_ops_cuda())") || echo "import FAILED"

echo "== tests"
(cd "$OUT" && "$PY" -m pytest -p no:cacheprovider -c "$OLDPWD/pyproject.toml" \
  --rootdir="$OLDPWD" -q -rs "$OLDPWD/tests/test_cuda.py" "$OLDPWD/tests/test_jax_cuda.py" \
  --junitxml=junit.xml) | tail -25 || echo "pytest exit code ${PIPESTATUS[0]}"

echo "== benchmarks"
"$PY" benchmarks/bench_cuda.py --dtype float16 > "$OUT/bench_cuda_f16.md" || echo "bench_cuda FAILED"
"$PY" benchmarks/bench_cuda.py --dtype float32 > "$OUT/bench_cuda_f32.md" || echo "bench_cuda FAILED"
"$PY" benchmarks/bench_jax_cuda.py > "$OUT/bench_jax_cuda.md" || echo "bench_jax_cuda FAILED"
cat "$OUT"/bench_*.md
echo "== done"
