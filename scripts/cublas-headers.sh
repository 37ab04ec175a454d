#!/usr/bin/env bash
# Print a folder holding cublasLt.h, fetching the headers from the
# nvidia-cublas wheel (CUDA 13 line, matching nvcc 13) on first use. Only the
# headers are unpacked: the CUDA build opens libcublasLt at run time, so the
# compile check needs nothing else. Cached under build/.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=build/cublas-headers
if [ ! -f "$DEST/cublasLt.h" ]; then
  tmp=$(mktemp -d)
  python -m pip download -q --no-deps -d "$tmp" "nvidia-cublas==13.*" >&2
  python - "$tmp" "$DEST" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
dest = pathlib.Path(sys.argv[2])
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if "/include/" in name and name.endswith(".h"):
            (dest / pathlib.Path(name).name).write_bytes(z.read(name))
PY
  rm -rf "$tmp"
fi
echo "$PWD/$DEST"
