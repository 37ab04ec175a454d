"""The zoo command, run as a user runs it: in a child process, in a venv with real plugins."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

IRIS_ROWS = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.9,3.1,5.4,2.1\n"


def zoo_script() -> str:
    """The console script installed beside the running interpreter."""
    script = Path(sys.executable).with_name("zoo")
    return str(script) if script.exists() else shutil.which("zoo")


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_console_script_lists_commands():
    result = ok(subprocess.run([zoo_script(), "--help"], capture_output=True, text=True, timeout=120))
    for command in ("list", "info", "plugins", "doctor", "summary", "predict", "package"):
        assert f"  {command} " in result.stdout


def test_list_never_imports_tensorflow(plugin_venv):
    code = (
        "import json, sys, time\n"
        "start = time.perf_counter()\n"
        "from zoo.cli import main\n"
        "main(['list'], standalone_mode=False)\n"
        "elapsed = time.perf_counter() - start\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(json.dumps({'heavy': heavy, 'elapsed': elapsed}))\n"
    )
    report = plugin_venv.python_json(code)
    assert report["heavy"] == []
    # The budget is 0.5 s on a warm, idle machine; this shared one only proves it is not
    # paying for TensorFlow (several seconds).
    assert report["elapsed"] < 3.0


def test_list_json_and_filters(plugin_venv):
    rows = json.loads(ok(plugin_venv.zoo("list", "example_*", "--json")).stdout)
    assert [r["name"] for r in rows] == ["example_cnn", "example_mlp"]
    assert rows[1] == {"name": "example_mlp", "family": "mlp", "task": "tabular-classification",
                       "input_shape": [4], "pretrained": ["iris"], "source": "zoo-example-plugin"}
    pretrained = json.loads(ok(plugin_venv.zoo("list", "--pretrained", "--json")).stdout)
    assert "example_mlp.iris" in [r["name"] for r in pretrained]
    mlps = json.loads(ok(plugin_venv.zoo("list", "example_*", "--family", "mlp", "--json", "-x", "*cnn")).stdout)
    assert [r["name"] for r in mlps] == ["example_mlp"]


def test_list_table_reports_broken_plugins(plugin_venv):
    result = ok(plugin_venv.zoo("list"))
    assert "example_mlp" in result.stdout and "resnet18" in result.stdout
    assert "warning: keras-zoo skipped plugin 'missing_dependency'" in result.stderr
    assert "zoo-broken-plugin 0.0.1" in result.stderr
    assert "2 plugin(s) failed to load; run `zoo plugins` for details" in result.stderr


def test_info(plugin_venv):
    info = json.loads(ok(plugin_venv.zoo("info", "example_mlp.iris", "--json")).stdout)
    assert info["tag"] == "iris" and info["weights"][0]["labels"] == ["setosa", "versicolor", "virginica"]
    assert info["builder"] == "zoo_example_plugin.models:build_mlp"
    table = ok(plugin_venv.zoo("info", "example_mlp")).stdout
    assert "pretrained weights" in table and "iris" in table and "zoo-example-plugin" in table


def test_unknown_model_is_a_one_line_error(plugin_venv):
    result = plugin_venv.zoo("info", "example_mpl")
    assert result.returncode == 1
    assert "Error: no model named 'example_mpl'. Did you mean 'example_mlp'" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugins_shows_status(plugin_venv):
    plugins = {p["name"]: p for p in json.loads(ok(plugin_venv.zoo("plugins", "--json")).stdout)}
    assert plugins["example"]["error"] is None and plugins["example"]["distribution"] == "zoo-example-plugin"
    assert plugins["missing_dependency"]["distribution"] == "zoo-broken-plugin"
    assert "No module named 'zoo_dependency_that_is_not_installed'" in plugins["missing_dependency"]["error"]
    table = ok(plugin_venv.zoo("plugins")).stdout
    assert "failed" in table and "built-in" in table and "third-party" in table


def test_doctor_reports_environment_and_problems(plugin_venv):
    result = plugin_venv.zoo("doctor")
    assert result.returncode == 1, result.stderr  # the broken plugin is a problem to fix
    out = " ".join(result.stdout.split())  # rich wraps long lines
    for expected in ("TensorFlow 2.", "Keras 3.", "c_module:", "tf_ops:", "isa in use:",
                     f"weights cache {plugin_venv.zoo_home / 'weights'}",
                     "plugin 'missing_dependency' (zoo_broken_plugin.missing_dependency:SPECS) from "
                     "zoo-broken-plugin 0.0.1 failed: ModuleNotFoundError"):
        assert expected in out, expected


def test_summary_builds_the_model(plugin_venv):
    out = ok(plugin_venv.zoo("summary", "example_cnn", "--num-classes", "5", "--input-shape", "16,16,3")).stdout
    assert "Total params" in out and "head" in out and "(None, 5)" in out


def test_predict_csv_with_pretrained_labels(plugin_venv, tmp_path):
    csv = tmp_path / "iris.csv"
    csv.write_text(IRIS_ROWS)
    result = json.loads(ok(plugin_venv.zoo("predict", "example_mlp.iris", str(csv), "--pretrained", "--json",
                                           "--top-k", "1")).stdout)
    assert [p[0]["label"] for p in result["predictions"]] == ["setosa", "virginica"]
    table = ok(plugin_venv.zoo("predict", "example_mlp", str(csv), "--pretrained", "iris")).stdout
    assert "sample 0: setosa" in table


def test_predict_image_and_npz(plugin_venv, tmp_path):
    import tensorflow as tf

    image = tmp_path / "img.png"
    image.write_bytes(tf.io.encode_png(np.full((20, 24, 3), 200, np.uint8)).numpy())
    result = json.loads(ok(plugin_venv.zoo("predict", "example_cnn", str(image), "--json", "--top-k", "3")).stdout)
    (ranked,) = result["predictions"]
    assert len(ranked) == 3 and ranked[0]["score"] >= ranked[-1]["score"]

    npz = tmp_path / "batch.npz"
    np.savez(npz, features=np.zeros((2, 4), "float32"))
    result = json.loads(ok(plugin_venv.zoo("predict", "example_mlp", str(npz), "--json")).stdout)
    assert len(result["predictions"]) == 2 and len(result["predictions"][0]) == 3
    bad = tmp_path / "two.npz"
    np.savez(bad, a=np.zeros(4), b=np.zeros(4))
    result = plugin_venv.zoo("predict", "example_mlp", str(bad))
    assert result.returncode == 2 and "holds arrays ['a', 'b']; choose one with --key" in result.stderr


def test_package_command_errors_cleanly(plugin_venv, tmp_path):
    result = plugin_venv.zoo("package", str(tmp_path), "--name", "zoo-x")
    assert result.returncode == 1 and "is not a keras-zoo preset" in result.stderr
    assert "Traceback" not in result.stderr


def test_strict_mode_cli_exits_with_the_plugin_error(plugin_venv):
    start = time.perf_counter()
    result = plugin_venv.zoo("list", ZOO_STRICT_PLUGINS="1")
    assert result.returncode == 1 and "Error: keras-zoo skipped plugin" in result.stderr
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("shape, expected", [("32,32,3", (32, 32, 3)), ("?x8", (None, 8)), (None, None)])
def test_parse_shape(shape, expected):
    from zoo.cli.common import parse_shape

    assert parse_shape(shape) == expected
