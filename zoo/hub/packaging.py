"""``zoo package``: a preset directory -> a pip-installable plugin package.

The package is what a third party would write by hand: a pyproject.toml with an
entry point in ``zoo.models``, a module defining ``SPECS``, and the preset (config,
weights, metadata) as package data. Its WeightsSpec names the packaged weights as
a package resource with their sha256, so ``create_model(name, pretrained=True)``
verifies them like any other weights. Pure Python: no TensorFlow needed.
"""

from __future__ import annotations

import importlib.util
import pprint
import re
import shutil
import subprocess
import sys
from pathlib import Path

from zoo.hub import presets
from zoo.hub.weights import verify
from zoo.errors import PresetError
from zoo.hub.weights import verify

_DIST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$")
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_VERSION_RE = re.compile(r"^\d+(\.\d+)*([a-z]+\d+)?$")
PRESET_DIR = "preset"


def module_name_for(dist_name: str) -> str:
    """``zoo-foo`` -> ``zoo_foo``."""
    return re.sub(r"[^0-9a-zA-Z_]", "_", dist_name).lower()


def package_preset(
    preset_dir,
    output_dir=".",
    *,
    name: str,
    model_name: str | None = None,
    version: str = "0.1.0",
    tag: str = "default",
    force: bool = False,
) -> Path:
    """Write the plugin package for ``preset_dir`` under ``output_dir/name`` and return its path.

    Args:
        preset_dir: a directory written by :func:`zoo.save_preset`.
        output_dir: where the package directory goes.
        name: distribution name, e.g. ``"zoo-flowers"``.
        model_name: registry name of the model (default: the preset's name).
        version: package version.
        tag: pretrained tag; the model is then also ``"<model_name>.<tag>"``.
        force: replace an existing package directory.
    """
    metadata = presets.read_metadata(preset_dir)
    if not _DIST_RE.match(name):
        raise PresetError(f"{name!r} is not a valid distribution name; use letters, digits, '-', '_' and '.'")
    if not _VERSION_RE.match(version):
        raise PresetError(f"{version!r} is not a valid version; write it like 0.1.0")
    model_name = model_name or metadata["name"]
    if not _MODEL_RE.match(model_name):
        raise PresetError(f"{model_name!r} is not a valid model name; use letters, digits, '_' and '-'")
    for key in ("config", "weights"):  # refuse to package a file that no longer matches its digest
        verify(Path(preset_dir) / metadata["files"][key]["file"], metadata["files"][key]["sha256"],
                       what=f"preset {key} file")

    module = module_name_for(name)
    root = Path(output_dir).expanduser() / name
    if root.exists():
        if not force:
            raise PresetError(f"{root} already exists; pass --force to replace it")
        shutil.rmtree(root)
    package = root / module
    (package / PRESET_DIR).mkdir(parents=True)
    for key in ("config", "weights"):
        shutil.copyfile(Path(preset_dir) / metadata["files"][key]["file"],
                        package / PRESET_DIR / metadata["files"][key]["file"])
    shutil.copyfile(Path(preset_dir) / presets.METADATA_FILE, package / PRESET_DIR / presets.METADATA_FILE)

    (package / "__init__.py").write_text(_module_source(metadata, module, model_name, tag, name))
    (root / "pyproject.toml").write_text(_pyproject(metadata, name, module, model_name, version))
    (root / "README.md").write_text(_readme(metadata, name, model_name, tag))
    return root


def build_wheel(package_root, dist_dir=None) -> Path:
    """Build a wheel of a package written by :func:`package_preset` and return its path.

    Runs ``pip wheel`` in this interpreter. With setuptools installed here the
    build needs no network (no build isolation); without it pip fetches
    setuptools from the package index, as any ``pip install`` of the directory
    would.

    Args:
        package_root: the directory :func:`package_preset` returned.
        dist_dir: where the wheel goes (default: ``package_root/dist``).
    """
    root = Path(package_root)
    if not (root / "pyproject.toml").is_file():
        raise PresetError(f"{root} has no pyproject.toml; pass the directory `zoo package` wrote")
    dist = Path(dist_dir) if dist_dir is not None else root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist)]
    if importlib.util.find_spec("setuptools") is not None:
        cmd.append("--no-build-isolation")
    result = subprocess.run([*cmd, str(root)], capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise PresetError(f"building the wheel of {root} failed (pip exit {result.returncode}):\n{tail}")
    # The newest wheel of this package (an earlier build of the same version is overwritten).
    built = sorted(dist.glob(f"{module_name_for(root.name)}-*.whl"), key=lambda p: p.stat().st_mtime)
    if not built:
        raise PresetError(f"pip reported success but wrote no wheel to {dist}")
    return built[-1]


def _module_source(metadata: dict, module: str, model_name: str, tag: str, dist: str) -> str:
    files = metadata["files"]
    weights = {
        "tag": tag,
        "file": f"{module}:{PRESET_DIR}/{files['weights']['file']}",
        "sha256": files["weights"]["sha256"],
        "dataset": metadata.get("dataset", ""),
        "metrics": metadata.get("metrics") or {},
        "num_classes": metadata.get("num_classes"),
        "labels": tuple(metadata.get("labels") or ()),
        "preprocessing": metadata.get("preprocessing") or {},
    }
    spec = {
        "name": model_name,
        "family": metadata.get("family") or "custom",
        "task": metadata.get("task") or "custom",
        # The preset's own architecture: rebuilt from its Keras config, or from the
        # registry architecture it was fine-tuned from when shapes change.
        "builder": "zoo.create:build_from_preset",
        "default_input_shape": tuple(metadata["input_shape"]) if metadata.get("input_shape") else (),
        "default_num_classes": metadata.get("num_classes"),
        "description": metadata.get("description", ""),
        "license": metadata.get("license", ""),
        "default_kwargs": {"preset": f"{module}:{PRESET_DIR}"},
        "head": metadata.get("head", "head"),
    }
    fields = "".join(f"        {k}={pprint.pformat(v, width=80, sort_dicts=False)},\n" for k, v in spec.items())
    weight_fields = "".join(
        f"                {k}={pprint.pformat(v, width=70, sort_dicts=False)},\n" for k, v in weights.items()
    )
    return (
        f'"""{model_name}: a keras-zoo model package ({dist}), made with `zoo package`.\n\n'
        f'    import zoo\n    model = zoo.create_model("{model_name}", pretrained=True)\n"""\n\n'
        "from zoo import ModelSpec, WeightsSpec\n\n"
        "SPECS = [\n    ModelSpec(\n"
        f"{fields}"
        "        weights=(\n            WeightsSpec(\n"
        f"{weight_fields}"
        "            ),\n        ),\n    ),\n]\n"
    )


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _pyproject(metadata: dict, dist: str, module: str, model_name: str, version: str) -> str:
    from zoo import __version__ as zoo_version

    description = metadata.get("description") or f"keras-zoo model {model_name}"
    return f"""[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = {_toml_string(dist)}
version = {_toml_string(version)}
description = {_toml_string(description)}
readme = "README.md"
requires-python = ">=3.10"
dependencies = [{_toml_string(f"keras-zoo>={zoo_version}")}]

# keras-zoo finds the model through this entry point.
[project.entry-points."zoo.models"]
{module} = "{module}:SPECS"

# The preset folder is listed as a (data-only) package so setuptools ships it as is.
[tool.setuptools]
packages = [{_toml_string(module)}, {_toml_string(f"{module}.{PRESET_DIR}")}]

[tool.setuptools.package-data]
{_toml_string(f"{module}.{PRESET_DIR}")} = ["*"]
"""


def _readme(metadata: dict, dist: str, model_name: str, tag: str) -> str:
    metrics = ", ".join(f"{k}={v}" for k, v in (metadata.get("metrics") or {}).items()) or "not recorded"
    arch = (metadata.get("arch") or {}).get("name", "a custom Keras model")
    return f"""# {dist}

{metadata.get("description") or f"The keras-zoo model `{model_name}`."}

```
pip install ./{dist}
zoo info {model_name}
```

```python
import zoo
model = zoo.create_model("{model_name}", pretrained=True)   # also "{model_name}.{tag}"
```

- task: {metadata.get("task")}, architecture: {arch}
- input shape: {metadata.get("input_shape")}, classes: {metadata.get("num_classes")}
- trained on: {metadata.get("dataset") or "not recorded"}; metrics: {metrics}
- weights sha256: {metadata["files"]["weights"]["sha256"]}
"""
