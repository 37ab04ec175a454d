#!/usr/bin/env bash
# The main job, on a fresh machine: create a virtual environment, install
# keras-zoo (native kernels built by pip) and the bundled prebuilt model
# packages, then fine-tune the prebuilt digits CNN for a new label set
# ("digit >= 5") with metrics before and after, and save the result as a preset.
#
#   bash scripts/main-job.sh                    # the default job
#   bash scripts/main-job.sh --task rotated     # arguments go to examples/finetune_digits.py
#   bash scripts/main-job.sh --images DIR       # your own image folder (DIR/<class>/*.png)
#   bash scripts/main-job.sh --csv FILE         # your own series (fine-tunes the sunspots forecaster)
#
# ZOO_VENV picks the environment (default .venv, shared with scripts/test.sh);
# ZOO_SKIP_INSTALL=1 reuses it as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ZOO_VENV:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2
if [ "${ZOO_SKIP_INSTALL:-0}" != 1 ] || [ ! -x "$VENV/bin/python" ]; then
  echo "== setting up $VENV: keras-zoo and the prebuilt model packages"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # For the TF op library's XLA kernels (jit_compile=True with native LSTM/GRU); optional.
  bash scripts/xla-headers.sh || echo "== building without the TF op library's XLA kernels"
  # [data]: scikit-learn and statsmodels, which ship the data the prebuilt models were trained on.
  # A private build directory: the in-tree build/ may belong to a concurrent developer build.
  build_dir=$(mktemp -d)
  "$VENV/bin/python" -m pip install -q -C build-dir="$build_dir" ".[data]"
  rm -rf "$build_dir"
  "$VENV/bin/python" -m pip install -q plugins/zoo-digits-cnn plugins/zoo-digits-autoencoder \
    plugins/zoo-sunspots-forecaster
fi
. "$VENV/bin/activate"
echo "== prebuilt models"
zoo list --pretrained
echo "== fine-tuning"
start=$(date +%s)
python examples/finetune_digits.py "$@"
echo "== done in $(( $(date +%s) - start )) s"
