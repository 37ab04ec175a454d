"""Fine-tune a zoo model in a script, save it as a preset, package it with
`zoo package`, install the package and load it back by name.

    python examples/finetune_and_package.py                     # installs zoo-digits-parity here
    python examples/finetune_and_package.py --target DIR        # installs into DIR only (pip --target)
    python examples/finetune_and_package.py --epochs 1 --quick  # the reduced setting the tests run

The model: the prebuilt digits_cnn re-headed to tell even digits from odd ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CHECK = """
import numpy as np, zoo
from zoo_digits_cnn import data
x, y = data.load_split()["test"]
model = zoo.create_model("digits_parity", pretrained=True)
print("installed digits_parity: test accuracy", round(float(np.mean(model.predict(x, verbose=0).argmax(-1) == y % 2)), 4))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="head training only (smoke test)")
    parser.add_argument("--target", help="pip install the package into this directory only")
    parser.add_argument("--workdir", help="where the preset and the package go (default: a temporary directory)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    from zoo_digits_cnn import data

    import zoo

    keras.utils.set_random_seed(0)
    split = data.load_split()
    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = (split[k] for k in ("fit", "val", "test"))

    # 1. Fine-tune: a new two-class head on the pretrained CNN, then (unless --quick) everything.
    model = zoo.create_model("digits_cnn", pretrained=True, num_classes=2)
    model = zoo.finetune(model, (x_fit, y_fit % 2), validation_data=(x_val, y_val % 2), head_epochs=args.epochs,
                         epochs=0 if args.quick else args.epochs, verbose=2).model
    accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test % 2))
    print(f"fine-tuned: test accuracy {accuracy:.4f} (even vs odd)")

    # 2. Save a preset, and 3. package it: the package is a plugin like any other.
    work = Path(args.workdir or tempfile.mkdtemp(prefix="zoo-parity-")).resolve()
    preset = zoo.save_preset(model, work / "digits_parity", labels=("even", "odd"), license="Apache-2.0",
                             metrics={"test_accuracy": accuracy}, overwrite=True,
                             dataset="scikit-learn load_digits, even vs odd; the zoo-digits-cnn split",
                             description="digits_cnn fine-tuned to tell even digits from odd ones")
    zoo_cli = [sys.executable, "-m", "zoo"]
    # Subprocesses start in the work folder: run from a source checkout, the
    # current folder would otherwise put the uninstalled source tree on sys.path.
    subprocess.run([*zoo_cli, "package", str(preset), "--name", "zoo-digits-parity", "--output", str(work),
                    "--force"], check=True, cwd=work)

    # 4. Install it and load it by name in a new process (entry points are read at start-up).
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(work / "zoo-digits-parity")]
    env = dict(os.environ)
    if args.target:
        pip[-1:-1] = ["--target", args.target, "--upgrade"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(args.target).resolve()), env.get("PYTHONPATH")]))
    if importlib.util.find_spec("setuptools") is not None:
        pip.insert(-1, "--no-build-isolation")  # build with the setuptools already here: no download
    print("$", " ".join(pip))
    subprocess.run(pip, check=True, cwd=work)
    subprocess.run([*zoo_cli, "info", "digits_parity"], check=True, env=env, cwd=work)
    subprocess.run([sys.executable, "-c", CHECK], check=True, env=env, cwd=work)
    return accuracy


if __name__ == "__main__":
    main()
