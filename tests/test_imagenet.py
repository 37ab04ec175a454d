"""ImageNet models (keras.applications with the weights Keras publishes), without internet.

Every registered ``keras_*`` spec is checked against Keras' own source and
preprocessing; every architecture is built once at its default input size
(random init, in one process: the graph build is the cost). The download path
runs end to end on a real HTTP server on 127.0.0.1 that serves randomly
initialised files in the layout Keras publishes (legacy HDF5 by layer), whose
digests the test spec carries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from local_http import serving

import zoo
from zoo.errors import ChecksumError, DownloadError
from zoo.models import imagenet
from zoo.registry import ModelSpec, WeightsFile, WeightsSpec, catalog

keras = pytest.importorskip("keras")

NAMES = zoo.list_models("keras_*")
APPS = {f"keras_{app['name']}": app for app in imagenet.applications()}
# The test network for downloads and fine-tuning: small, 32 px minimum, md5-published files.
SMALL = "keras_mobilenet_v3_small"
SMALL_SPEC = zoo.get_model_spec(SMALL)  # read before any test swaps the registry
# Graph builds take 3-60 s per architecture on a shared 2-core machine (DenseNet and
# NASNet the slowest), about 15 minutes for all of them: the default run builds one
# small network per Keras module family below, the slow run builds every one.
QUICK_BUILDS = ("keras_vgg16", "keras_mobilenet", "keras_mobilenet_v3_small", "keras_resnet50",
                "keras_efficientnet_b0", "keras_convnext_tiny")


def keras_module(name):
    return importlib.import_module(APPS[name]["module"].replace("keras.", "keras.src.", 1))


# --------------------------------------------------------------------------- the specs


def test_every_keras_application_is_registered():
    registered = {APPS[n]["keras_name"] for n in NAMES}
    public = {n for n in dir(keras.applications) if n[0].isupper() and callable(getattr(keras.applications, n))}
    assert registered == public
    assert len(NAMES) == len(APPS) == len(public)


def test_listing_imports_no_tensorflow(tmp_path):
    code = ("import json, sys, zoo\n"
            "names = zoo.list_models('keras_*')\n"
            "infos = [zoo.model_info(n) for n in names + ['resnet50.imagenet']]\n"
            "print(json.dumps({'n': len(names), 'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules,"
            " 'alias': infos[-1]['name']}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"n": len(NAMES), "tf": False, "keras": False, "alias": "keras_resnet50"}


def test_class_names():
    classes = imagenet.imagenet_classes()
    assert len(classes) == 1000 and len({wnid for wnid, _ in classes}) == 1000
    assert all(re.fullmatch(r"n\d{8}", wnid) and name for wnid, name in classes)
    assert classes[0] == ("n01440764", "tench") and classes[999] == ("n15075141", "toilet_tissue")


def _check_file(entry, keras_source: str):
    assert entry.url.startswith("https://storage.googleapis.com/") and entry.url.endswith(".h5")
    algorithm, digest = entry.digest
    assert re.fullmatch(r"[0-9a-f]{64}" if algorithm == "sha256" else r"[0-9a-f]{32}", digest)
    # the digest is Keras' own: it appears in the source that downloads the file
    assert digest in keras_source


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_well_formed(name):
    spec, app = zoo.get_model_spec(name), APPS[name]
    # the module's own source, and the ones it builds on (ResNetV2 downloads through resnet.ResNet)
    here = Path(inspect.getsourcefile(keras_module(name)))
    source = here.read_text() + "".join(p.read_text() for p in here.parent.glob("*.py") if p.stem in here.read_text())
    size = app["input_size"]
    assert spec.default_input_shape == (size, size, 3) and spec.default_num_classes == 1000
    assert spec.head == imagenet.HEAD and spec.default_kwargs["application"] == app["keras_name"]
    if not spec.weights:
        # published without any digest: Keras calls get_file without file_hash for these
        assert not any(app[part].get(k) for part in ("top", "notop") for k in ("md5", "sha256"))
        assert "without a digest" in spec.description
        return
    weights = spec.get_weights("imagenet")
    _check_file(weights, source)
    _check_file(weights.backbone, source)
    assert weights.url != weights.backbone.url
    assert weights.num_classes == 1000 and len(weights.labels) == 1000
    assert list(weights.labels) == [n for _, n in imagenet.imagenet_classes()]
    mode = weights.preprocessing["mode"]
    assert mode in imagenet.PREPROCESSING
    assert {k: v for k, v in weights.preprocessing.items() if k not in ("mode", "input_size")} == \
        imagenet.PREPROCESSING[mode]
    assert weights.preprocessing["input_size"] == [size, size]
    for key, value in weights.metrics.items():
        assert key in ("top1", "top5") and 0.5 < value < 1.0
    if "top5" in weights.metrics:
        assert weights.metrics["top5"] > weights.metrics["top1"]


def test_digest_algorithms_are_keras_own():
    """ConvNeXt is the one family Keras publishes sha256 for; md5 for the others."""
    algorithms = {n: zoo.get_model_spec(n).get_weights().digest[0] for n in NAMES if zoo.get_model_spec(n).weights}
    assert {n for n, a in algorithms.items() if a == "sha256"} == {n for n in algorithms if "convnext" in n}
    assert {n for n in NAMES if not zoo.get_model_spec(n).weights} == {"keras_mobilenet", "keras_mobilenet_v2"}


@pytest.mark.parametrize("mode", sorted(imagenet.PREPROCESSING))
def test_preprocessing_modes_match_keras(mode):
    from keras.src.applications import imagenet_utils

    from zoo.cli.predict import _preprocess

    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    ours = _preprocess(x.copy(), {"mode": mode, **imagenet.PREPROCESSING[mode]})
    expected = x if mode == "none" else imagenet_utils.preprocess_input(x.copy(), mode=mode)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)


def test_each_model_uses_its_modules_preprocessing():
    x = np.random.default_rng(1).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    from zoo.cli.predict import _preprocess

    for name in NAMES:
        spec = zoo.get_model_spec(name)
        mode = APPS[name]["preprocessing"]
        expected = np.asarray(keras_module(name).preprocess_input(x.copy()))
        ours = _preprocess(x.copy(), {"mode": mode, **imagenet.PREPROCESSING[mode]})
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4, err_msg=name)
        if spec.weights:
            assert spec.get_weights().preprocessing["mode"] == mode


def test_resnet50_imagenet_alias():
    spec, tag = catalog.default_registry().resolve("resnet50.imagenet")
    assert (spec.name, tag) == ("keras_resnet50", "imagenet")
    assert catalog.default_registry().resolve("resnet50")[0].builder_path.startswith("zoo.models._cnn_build")
    info = zoo.model_info("resnet50.imagenet")
    assert info["alias"] == "resnet50.imagenet" and info["name"] == "keras_resnet50"


def test_zoo_info_shows_the_weights_facts():
    from click.testing import CliRunner

    from zoo.cli import main

    result = CliRunner().invoke(main, ["info", "keras_resnet50.imagenet"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    weights = zoo.get_model_spec("keras_resnet50").get_weights()
    for text in ("top1=0.749", "top5=0.921", "md5:" + weights.md5[:12], "mode=caffe", "channel_order=bgr",
                 "head-less", "224x224x3"):
        assert text in result.output, text


# --------------------------------------------------------------------------- building


def _build_all(names):
    failures, shapes = {}, {}
    for name in names:
        keras.backend.clear_session()
        try:
            model = zoo.create_model(name)
            shapes[name] = (tuple(model.input_shape), tuple(model.output_shape))
        except Exception as exc:  # collect all, report together
            failures[name] = f"{type(exc).__name__}: {exc}"
    keras.backend.clear_session()
    assert not failures, failures
    for name, (inp, out) in shapes.items():
        assert inp[1:] == zoo.get_model_spec(name).default_input_shape and out == (None, 1000), name


def test_models_build_at_their_default_size():
    _build_all(QUICK_BUILDS)


@pytest.mark.slow
def test_every_model_builds_at_its_default_size():
    _build_all([n for n in NAMES if n not in QUICK_BUILDS])


def test_new_head_include_top_false_and_features():
    keras.backend.clear_session()
    model = zoo.create_model(SMALL, num_classes=5, input_shape=(96, 96, 3))
    assert model.output_shape == (None, 5) and model.get_layer(imagenet.HEAD).units == 5
    bare = zoo.create_model(SMALL, include_top=False, pooling="avg", input_shape=(96, 96, 3))
    assert len(bare.output_shape) == 2 and imagenet.HEAD not in [layer.name for layer in bare.layers]
    features = zoo.create_model(SMALL, features_only=True, input_shape=(96, 96, 3))
    sides = [shape[1] for shape in features.output_shape]
    assert sides == [48, 24, 12, 6, 3]


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="sides >= 32"):
        zoo.create_model(SMALL, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"\(height, width, 3\) RGB"):
        zoo.create_model(SMALL, input_shape=(64, 64, 1))


# --------------------------------------------------------------------------- downloads


class FileServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes) on 127.0.0.1 and records every request."""

    daemon_threads = True

    def __init__(self, files):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.requests = files, []

    def url(self, name):
        return f"http://127.0.0.1:{self.server_port}/{name}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _legacy_h5(model, path: Path) -> bytes:
    """``model``'s weights in the legacy by-layer HDF5 layout Keras' application files use."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path.read_bytes()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Randomly initialised top and no-top files for SMALL, as Keras lays them out."""
    root = tmp_path_factory.mktemp("published")
    fn = keras.applications.MobileNetV3Small
    keras.utils.set_random_seed(3)
    top = fn(weights=None, include_top=True)
    keras.utils.set_random_seed(4)
    notop = fn(weights=None, include_top=False)
    files = {"small_top.h5": _legacy_h5(top, root / "top.h5"), "small_notop.h5": _legacy_h5(notop, root / "notop.h5")}
    keras.backend.clear_session()
    return files, top.get_weights(), notop.get_weights()


@pytest.fixture
def server(published):
    with serving(FileServer(dict(published[0]))) as srv:
        yield srv


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    return tmp_path


def _served_spec(server, *, top_md5=None, notop_sha256=None):
    """SMALL's registered spec with its files on the local server and their digests."""
    files = server.files
    real = SMALL_SPEC
    weights = real.get_weights()
    served = WeightsSpec(
        "imagenet", url=server.url("small_top.h5"),
        md5=top_md5 or hashlib.md5(files["small_top.h5"]).hexdigest(),
        labels=weights.labels, preprocessing=weights.preprocessing, metrics=weights.metrics,
        backbone=WeightsFile(url=server.url("small_notop.h5"),
                             sha256=notop_sha256 or hashlib.sha256(files["small_notop.h5"]).hexdigest()),
    )
    fields = {k: getattr(real, k) for k in ("family", "task", "builder", "default_input_shape",
                                            "default_num_classes", "capabilities", "default_kwargs", "head")}
    return ModelSpec(name="served_small", weights=(served,), aliases=("small.imagenet",), **fields)


@pytest.fixture
def registry(monkeypatch):
    isolated = catalog.Registry(entry_points=lambda: [])
    monkeypatch.setattr(catalog, "_REGISTRY", isolated)
    return isolated


def _equal(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_download_verify_cache_end_to_end(server, caches, registry, published):
    _, top_weights, notop_weights = published
    zoo.register_model(_served_spec(server))
    keras.backend.clear_session()
    model = zoo.create_model("small.imagenet", pretrained=True, progress=False)
    assert server.requests == ["/small_top.h5"]
    assert _equal(model.get_weights(), top_weights)
    x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (1, 1000)

    # a new head: the head-less file (sha256) is fetched and loaded, the head is new
    reheaded = zoo.create_model("small.imagenet", pretrained=True, num_classes=5, input_shape=(96, 96, 3),
                                progress=False)
    assert server.requests == ["/small_top.h5", "/small_notop.h5"]
    assert reheaded.output_shape == (None, 5)
    head = reheaded.get_layer(imagenet.HEAD)
    body = [w for layer in reheaded.layers if layer is not head for w in layer.get_weights()]
    assert _equal(body, notop_weights)

    # both now come from the zoo's cache, with no request
    zoo.create_model("served_small", pretrained=True, progress=False)
    zoo.create_model("served_small", pretrained=True, num_classes=3, progress=False)
    assert len(server.requests) == 2


def test_wrong_digest_is_refused_and_nothing_kept(server, caches, registry):
    zoo.register_model(_served_spec(server, top_md5="0" * 32, notop_sha256="1" * 64))
    with pytest.raises(ChecksumError, match="md5"):
        zoo.create_model("served_small", pretrained=True, progress=False)
    with pytest.raises(ChecksumError, match="sha256"):
        zoo.create_model("served_small", pretrained=True, num_classes=4, progress=False)
    kept = [p for p in (caches / "zoo-home").rglob("*") if p.is_file()]
    assert kept == []


def test_keras_cache_is_used_without_a_request(server, caches, registry, published, monkeypatch):
    files, top_weights, _ = published
    keras_models = caches / "keras-home" / "models"
    keras_models.mkdir(parents=True)
    (keras_models / "small_top.h5").write_bytes(files["small_top.h5"])
    zoo.register_model(_served_spec(server))
    monkeypatch.setenv("ZOO_OFFLINE", "1")  # and not even allowed to ask
    keras.backend.clear_session()
    model = zoo.create_model("served_small", pretrained=True, progress=False)
    assert server.requests == [] and _equal(model.get_weights(), top_weights)
    # the head-less file is not in Keras' cache: offline, it is not fetched
    with pytest.raises(DownloadError, match="ZOO_OFFLINE"):
        zoo.create_model("served_small", pretrained=True, num_classes=4, progress=False)
    # a file of that name with other content is not trusted
    (keras_models / "small_top.h5").write_bytes(files["small_notop.h5"])
    monkeypatch.delenv("ZOO_OFFLINE")
    zoo.create_model("served_small", pretrained=True, progress=False)
    assert server.requests == ["/small_top.h5"]


def test_finetune_a_new_head(server, caches, registry):
    """zoo.finetune on the new head at 96x96: the backbone from the head-less file stays
    frozen in the head phase (the recorded head is 'predictions'), the loss falls."""
    zoo.register_model(_served_spec(server))
    keras.backend.clear_session()
    model = zoo.create_model("served_small", pretrained=True, num_classes=3, input_shape=(96, 96, 3),
                             progress=False)
    backbone = [w.copy() for layer in model.layers if layer.name != imagenet.HEAD for w in layer.get_weights()]
    rng = np.random.default_rng(0)
    y = np.arange(24) % 3
    # the classes differ in colour, which even random features separate
    x = rng.uniform(0, 80, (24, 96, 96, 3)).astype("float32")
    x[np.arange(24), :, :, y] += 170.0
    result = zoo.finetune(model, (x, y), head_epochs=6, epochs=0, learning_rate=0.05, batch_size=8,
                          verbose=0, seed=0)
    losses = result.history["loss"]
    assert result.phases == (("head", 6, 0.05),) and losses[-1] < losses[0]
    after = [w for layer in result.model.layers if layer.name != imagenet.HEAD for w in layer.get_weights()]
    assert _equal(after, backbone)


def test_preset_round_trip_keeps_architecture_and_preprocessing(server, caches, registry, tmp_path):
    """A re-headed model saved as a preset rebuilds from the registry and loads the same."""
    zoo.register_model(_served_spec(server))
    keras.backend.clear_session()
    model = zoo.create_model("served_small", pretrained=True, num_classes=4, input_shape=(64, 64, 3),
                             progress=False)
    preset = tmp_path / "preset"
    zoo.save_preset(model, preset)
    meta = zoo.model_info(str(preset))
    assert meta["arch"]["name"] == "served_small" and meta["preprocessing"]["mode"] == "none"
    x = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    loaded = zoo.create_model(str(preset))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert len(server.requests) == 1  # the preset carries its weights


def test_zoo_predict_prints_imagenet_labels_after_keras_preprocessing(server, caches, registry, tmp_path):
    """`zoo predict NAME image --pretrained`: the image resized, prepared as Keras' caffe
    mode does (BGR, mean subtracted), the top classes named from the 1000 labels."""
    import tensorflow as tf
    from click.testing import CliRunner
    from keras.src.applications import imagenet_utils

    from zoo.cli import main

    caffe = {"mode": "caffe", **imagenet.PREPROCESSING["caffe"]}  # as keras_resnet50's weights say
    spec = _served_spec(server)
    weights = dataclasses.replace(spec.weights[0], preprocessing=caffe)
    zoo.register_model(dataclasses.replace(spec, weights=(weights,)))
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (180, 240, 3), dtype=np.uint8)
    path = tmp_path / "cat.png"
    path.write_bytes(tf.io.encode_png(image).numpy())
    result = CliRunner().invoke(main, ["predict", "served_small", str(path), "--pretrained", "--json",
                                       "--top-k", "3"])
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.output[result.output.index("{"):])["predictions"][0]

    model = zoo.create_model("served_small", pretrained=True, progress=False)
    resized = tf.image.resize(tf.cast(image, "float32"), (224, 224)).numpy()[None]
    probs = model.predict(imagenet_utils.preprocess_input(resized.copy(), mode="caffe"), verbose=0)[0]
    top = np.argsort(-probs)[:3]
    labels = [name for _, name in imagenet.imagenet_classes()]
    assert [r["index"] for r in ranked] == top.tolist()
    assert [r["label"] for r in ranked] == [labels[i] for i in top]
    np.testing.assert_allclose([r["score"] for r in ranked], probs[top], rtol=1e-4)
