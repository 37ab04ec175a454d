"""Shared by the scripts that train the bundled prebuilt model packages: seeding,
and writing a package's weights metadata (``_meta.json``) and model card."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 0


def plugin_dir(dist: str) -> Path:
    """``plugins/<dist>``, put on sys.path so its data module imports without installing it."""
    path = ROOT / "plugins" / dist
    sys.path.insert(0, str(path))
    return path


def seed_everything(seed: int = SEED) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(seed)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def environment() -> dict:
    import keras
    import numpy
    import sklearn
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": numpy.__version__, "scikit-learn": sklearn.__version__, "machine": platform.machine()}


def write_package(package: Path, model, meta: dict, card: str) -> dict:
    """Save ``model``'s weights into the package, then ``_meta.json`` (with their
    sha256) and ``MODEL_CARD.md`` beside the package directory. Returns the meta."""
    weights = package / meta["weights_file"]
    model.save_weights(weights)
    meta = {**meta, "sha256": sha256_file(weights), "environment": environment(),
            "trained": time.strftime("%Y-%m-%d")}
    (package / "_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    text = {"arch_kwargs_text": ", ".join(f"{k}={v}" for k, v in meta.get("arch_kwargs", {}).items()),
            "environment_text": ", ".join(f"{k} {v}" for k, v in meta["environment"].items())}
    (package.parent / "MODEL_CARD.md").write_text(card.format(**meta, **text))
    print(f"wrote {weights} (sha256 {meta['sha256']}), _meta.json and MODEL_CARD.md")
    return meta


def metrics_table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| model | metric | held-out value |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
