"""Shared test setup. Tests import the *installed* zoo (scripts/test.sh runs
pytest so the source tree is not on sys.path); ZOO_REQUIRE_NATIVE=1 there makes
a broken native build an error instead of a silent fallback."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def _gpu_visible() -> bool:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


# The files whose tests take minutes (child pytest on JAX, sanitizer builds, every
# ImageNet architecture, the JAX op child, the export child), longest first.
# scripts/test.sh runs the files on several workers (pytest-xdist, one file per
# worker at a time, handed out in collection order): started first, these
# overlap the many short files instead of running alone at the end.
LONG_FILES = ("test_backend_suites.py", "test_sanitizers.py", "test_imagenet.py", "test_jax.py",
              "test_export.py")


def _long_first(item) -> int:
    name = os.path.basename(str(item.fspath))
    return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_long_first)  # stable: each file keeps its own order
    if any("cuda" in item.keywords for item in items) and not _gpu_visible():
        skip = pytest.mark.skip(reason="no CUDA GPU visible (nvidia-smi -L found none)")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def isolated_registry(monkeypatch):
    """Swap the process-wide registry for an empty one, so runtime registrations don't leak."""
    from zoo.registry import Registry, catalog

    registry = Registry(entry_points=lambda: [], strict=False)
    monkeypatch.setattr(catalog, "_REGISTRY", registry)
    return registry


@pytest.fixture
def python_exe():
    return sys.executable


@pytest.fixture(scope="session")
def plugin_venv(tmp_path_factory):
    """A venv layered on this one with the example, broken and shadowing plugins
    pip-installed (see tests/plugin_env.py); made once per test session."""
    from plugin_env import BROKEN_PLUGIN, EXAMPLE_PLUGIN, SHADOW_PLUGIN, PluginVenv

    root = tmp_path_factory.mktemp("plugin-venv")
    venv = PluginVenv(root / "venv", zoo_home=root / "zoo-home")
    for plugin in (EXAMPLE_PLUGIN, BROKEN_PLUGIN, SHADOW_PLUGIN):
        venv.install(plugin)
    return venv
