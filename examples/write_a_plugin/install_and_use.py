"""Write a keras-zoo plugin, install it with pip, and use it.

    python examples/write_a_plugin/install_and_use.py               # into the current environment
    python examples/write_a_plugin/install_and_use.py --target DIR  # into DIR only (pip --target)
    pip uninstall zoo-hello-plugin                                  # to remove it again

The plugin is the package next to this script, zoo-hello-plugin/: a pyproject.toml
with an entry point in the group "zoo.models", a module with SPECS, and a builder.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PLUGIN = Path(__file__).resolve().parent / "zoo-hello-plugin"


def install(target: str | None) -> None:
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(PLUGIN)]
    if importlib.util.find_spec("setuptools") is not None:
        command.insert(-1, "--no-build-isolation")  # build with the setuptools already here: no download
    if target:
        command[-1:-1] = ["--target", target, "--upgrade"]
    print("$", " ".join(command))
    subprocess.run(command, check=True)
    if target:
        sys.path.insert(0, str(Path(target).resolve()))  # entry points are found wherever sys.path reaches
    importlib.invalidate_caches()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="install into this directory instead of the environment")
    args = parser.parse_args(argv)
    install(args.target)

    import numpy as np

    import zoo

    names = zoo.list_models("hello_*")
    plugin = next(p for p in zoo.list_plugins() if p.name == "hello")
    print(f"registered by {plugin.distribution} {plugin.version}: {names}")
    model = zoo.create_model("hello_mlp32", num_classes=4)
    out = model.predict(np.random.default_rng(0).normal(size=(5, 16)).astype("float32"), verbose=0)
    print(f"hello_mlp32 with 4 classes: {model.count_params()} parameters, output {out.shape}")
    return names


if __name__ == "__main__":
    main()
