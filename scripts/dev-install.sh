#!/usr/bin/env bash
# Developer install into an existing venv: editable Python sources, native
# libraries rebuilt incrementally in build/. Serialised with a lock so that
# several shells rebuilding at once do not trample each other.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
exec flock /tmp/keras-zoo-build.lock "$PY" -m pip install -q --no-build-isolation --no-deps -e .
