"""A throwaway virtual environment layered on the running one, for real plugin installs.

The new venv sees every package of the running environment (keras-zoo, TensorFlow,
pip, setuptools) through a .pth file that adds the running site-packages as a site
directory, so installing a small plugin into it takes a few seconds and the main
environment never changes. (``venv --system-site-packages`` would not do: made
from a venv it inherits the base interpreter's packages, not the venv's.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
EXAMPLE_PLUGIN = REPO / "plugins" / "zoo-example-plugin"
BROKEN_PLUGIN = TESTS_DIR / "plugins" / "zoo-broken-plugin"
SHADOW_PLUGIN = TESTS_DIR / "plugins" / "zoo-shadow-plugin"


class PluginVenv:
    def __init__(self, root: Path, zoo_home: Path):
        self.root = root
        self.zoo_home = zoo_home
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
        self.python = str(root / "bin" / "python")
        purelib = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout.strip()
        parent = sysconfig.get_paths()["purelib"]
        Path(purelib, "_zoo_test_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")

    def env(self, **extra) -> dict:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # the child must import zoo and plugins as installed
        env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "ZOO_HOME": str(self.zoo_home), "PYTHONWARNINGS": "default"})
        env.pop("ZOO_STRICT_PLUGINS", None)
        env.update(extra)
        return env

    def install(self, path: Path) -> None:
        """pip install a local package directory or wheel without dependencies or
        build isolation (seconds, offline).

        A directory is copied first: setuptools builds in the source tree, and
        the repository must stay clean for concurrent runs.
        """
        path = Path(path)
        if path.is_dir():
            copy = self.root / "src" / path.name
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(path, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
            path = copy
        result = subprocess.run(
            [self.python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", "--no-input", str(path)],
            capture_output=True, text=True, timeout=300, env=self.env(), cwd=self.root,
        )
        assert result.returncode == 0, f"pip install {path} failed:\n{result.stdout}\n{result.stderr}"

    def run(self, args, *, timeout=240, cwd=None, **env) -> subprocess.CompletedProcess:
        return subprocess.run([self.python, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env(**env), cwd=cwd or self.root)

    def zoo(self, *args, timeout=240, **env) -> subprocess.CompletedProcess:
        """Run the ``zoo`` command in this environment."""
        return self.run(["-m", "zoo", *args], timeout=timeout, **env)

    def python_json(self, code: str, *, timeout=240, cwd=None, **env):
        """Run ``code`` (which prints one JSON document last) and return it."""
        result = self.run(["-c", code], timeout=timeout, cwd=cwd, **env)
        assert result.returncode == 0, f"child failed:\n{result.stdout}\n{result.stderr}"
        return json.loads(result.stdout.strip().splitlines()[-1])
