"""The model registry: specs, discovery rules, listing, lookup, and create_model.

Discovery rules are checked on a Registry fed with in-memory entry points; the
real thing (pip-installed plugins, one of them broken) in a layered venv.
"""

from __future__ import annotations

import json
import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import zoo
from zoo.registry import catalog as _registry
from zoo.registry import ModelSpec, Registry, WeightsSpec, ZooPluginWarning
from zoo.errors import DuplicateModelError, PluginLoadError, UnknownModelError, WeightsError

SHA = "ab" * 32


def spec(name, **fields):
    defaults = dict(family="cnn", task="image-classification", builder="tiny_models:build",
                    default_input_shape=(8, 8, 3), default_num_classes=3)
    return ModelSpec(name=name, **{**defaults, **fields})


class FakeEntryPoint:
    """What importlib.metadata gives: name, value, dist, load()."""

    def __init__(self, name, obj, dist="some-plugin", version="1.0"):
        self.name, self.value, self._obj = name, f"{dist.replace('-', '_')}:SPECS", obj
        self.dist = SimpleNamespace(metadata={"Name": dist}, version=version)
        self.loads = 0

    def load(self):
        self.loads += 1
        if isinstance(self._obj, BaseException):
            raise self._obj
        return self._obj


def registry_of(*entry_points, strict=False):
    return Registry(entry_points=lambda: list(entry_points), strict=strict)


# --------------------------------------------------------------------------- specs


def test_spec_normalises_fields():
    s = spec("net", capabilities={"exportable"}, default_input_shape=[8, 8, 3],
             weights=[WeightsSpec("a", file="x:y.weights.h5", sha256=SHA.upper(), labels=["p", "q"])])
    assert s.capabilities == frozenset({"exportable"})
    assert s.default_input_shape == (8, 8, 3)
    assert s.weights[0].sha256 == SHA and s.weights[0].num_classes == 2
    assert s.get_weights().tag == "a" and s.tags == ("a",)
    json.dumps(s.to_dict())


MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def test_weights_digest_prefers_sha256_and_accepts_md5():
    from zoo.registry import WeightsFile

    assert WeightsSpec("a", url="http://h/a.h5", sha256=SHA, md5=MD5).digest == ("sha256", SHA)
    only_md5 = WeightsSpec("a", url="http://h/a.h5", md5=MD5.upper(), backbone=WeightsFile(url="http://h/b.h5", md5=MD5))
    assert only_md5.digest == ("md5", MD5) and only_md5.backbone.digest == ("md5", MD5)
    assert only_md5.to_dict()["backbone"]["md5"] == MD5
    for bad, message in ((dict(md5="abc"), "md5 of 32 hex digits"), (dict(sha256=MD5), "sha256 of 64 hex digits"),
                         ({}, "need a sha256")):
        with pytest.raises(ValueError, match=message):
            WeightsSpec("a", url="http://h/a.h5", **bad)
    with pytest.raises(ValueError, match="need a sha256"):
        WeightsFile(url="http://h/b.h5")


def test_aliases_resolve_but_never_shadow_a_name():
    weights = (WeightsSpec("imagenet", url="http://h/a.h5", sha256=SHA),)
    registry = registry_of(FakeEntryPoint("cnn", [
        spec("resnet50"), spec("keras_resnet50", weights=weights, aliases=("resnet50.imagenet", "kr50")),
        spec("other", weights=weights, aliases=("resnet50.imagenet", "keras_resnet50")),
    ], dist="keras-zoo"))
    with pytest.warns(ZooPluginWarning, match="alias 'resnet50.imagenet' of model 'other' already names"):
        assert registry.resolve("resnet50.imagenet") == (registry.resolve("keras_resnet50")[0], "imagenet")
    assert registry.resolve("kr50") == (registry.resolve("keras_resnet50")[0], None)
    assert registry.resolve("resnet50")[0].name == "resnet50"
    assert registry.resolve("keras_resnet50")[0].name == "keras_resnet50"  # a name beats an alias
    assert registry.info("resnet50.imagenet")["alias"] == "resnet50.imagenet"
    assert registry.info("keras_resnet50.imagenet")["alias"] is None
    with pytest.raises(UnknownModelError, match="no pretrained weights tagged 'cifar'"):
        registry.resolve("resnet50.cifar")
    with pytest.raises(ValueError, match="alias 'x.cifar' must be"):
        spec("y", weights=weights, aliases=("x.cifar",))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(name="res.net"), "a dot separates the architecture from a pretrained tag"),
        (dict(capabilities={"flying"}), "unknown capabilities"),
        (dict(builder="not a path"), "module.path:function"),
        (dict(weights=[WeightsSpec("a", url="http://x/a.h5", sha256=SHA)] * 2), "unique"),
    ],
)
def test_spec_rejects_bad_fields(fields, message):
    fields = dict(fields)
    with pytest.raises(ValueError, match=message):
        spec(fields.pop("name", "net"), **fields)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(file="p:w.h5", sha256="123"), "64 hex digits"),
        (dict(sha256=SHA), "need a file"),
        (dict(file="p:w.h5", sha256=SHA, labels=["a"], num_classes=2), "1 labels but num_classes=2"),
    ],
)
def test_weights_spec_rejects_bad_fields(fields, message):
    with pytest.raises(ValueError, match=message):
        WeightsSpec("t", **fields)


def test_string_builder_resolves_lazily():
    s = spec("net", builder="json:dumps")
    assert s.resolve_builder() is json.dumps and s.builder_path == "json:dumps"


# --------------------------------------------------------------------------- discovery rules


def test_builtins_win_over_third_party_whatever_the_order():
    third = FakeEntryPoint("third", [spec("net", description="third")], dist="aaa-plugin")
    builtin = FakeEntryPoint("cnn", [spec("net", description="builtin")], dist="keras-zoo")
    registry = registry_of(third, builtin)
    with pytest.warns(ZooPluginWarning, match=r"'net' is defined by both .*keras-zoo.* and .*aaa-plugin"):
        assert registry.resolve("net")[0].description == "builtin"
    assert [p.name for p in registry.plugins()] == ["cnn", "third"]
    assert registry.source("net").builtin


def test_between_third_parties_the_first_distribution_by_name_wins():
    later = FakeEntryPoint("b", [spec("net", description="zzz")], dist="zzz-plugin")
    first = FakeEntryPoint("a", [spec("net", description="aaa"), spec("other")], dist="aaa-plugin")
    with pytest.warns(ZooPluginWarning, match="zzz-plugin"):
        registry = registry_of(later, first)
        assert registry.resolve("net")[0].description == "aaa"
    later_info = [p for p in registry.plugins() if p.name == "b"][0]
    assert later_info.ok and later_info.models == ()


def test_strict_mode_raises_on_duplicates():
    a = FakeEntryPoint("a", [spec("net")], dist="aaa-plugin")
    b = FakeEntryPoint("b", [spec("net")], dist="bbb-plugin")
    with pytest.raises(DuplicateModelError, match="'net' is defined by both"):
        registry_of(a, b, strict=True).list()


def test_strict_mode_from_environment(monkeypatch):
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="broken-plugin"):
        registry_of(FakeEntryPoint("x", ImportError("no numpy"), dist="broken-plugin"), strict=None).list()


def test_broken_plugin_is_reported_and_skipped():
    good = FakeEntryPoint("good", [spec("net")], dist="good-plugin")
    broken = FakeEntryPoint("bad", ModuleNotFoundError("No module named 'torch'"), dist="broken-plugin",
                            version="0.3")
    wrong = FakeEntryPoint("wrong", {"name": "x"}, dist="wrong-plugin")
    registry = registry_of(good, broken, wrong)
    with pytest.warns(ZooPluginWarning) as record:
        assert registry.list() == ["net"]
    messages = [str(w.message) for w in record]
    assert any("broken-plugin 0.3" in m and "No module named 'torch'" in m for m in messages)
    assert any("wrong-plugin" in m and "resolved to dict" in m for m in messages)
    status = {p.name: p for p in registry.plugins()}
    assert status["good"].ok and status["good"].models == ("net",)
    assert "ModuleNotFoundError" in status["bad"].error and "TypeError" in status["wrong"].error
    with pytest.raises(UnknownModelError, match="2 plugin"):
        registry.resolve("missing")


def test_plugins_are_loaded_once_and_accept_callables():
    ep = FakeEntryPoint("p", lambda: [spec("a"), spec("b")])
    registry = registry_of(ep)
    registry.list()
    registry.resolve("a")
    registry.plugins()
    assert ep.loads == 1
    registry.reset()
    registry.list()
    assert ep.loads == 2


def test_strict_mode_raises_on_broken_plugin():
    with pytest.raises(PluginLoadError, match="failed to load with RuntimeError: boom"):
        registry_of(FakeEntryPoint("x", RuntimeError("boom")), strict=True).list()


# --------------------------------------------------------------------------- listing and lookup


@pytest.fixture
def zoo_registry():
    weights = (WeightsSpec("imagenet", url="http://h/a.weights.h5", sha256=SHA),
               WeightsSpec("cifar", url="http://h/b.weights.h5", sha256=SHA, num_classes=10))
    return registry_of(
        FakeEntryPoint("cnn", [spec("net10"), spec("net2", weights=weights), spec("Net3")], dist="keras-zoo"),
        FakeEntryPoint("rnn", [spec("lstm", family="rnn", task="forecasting", default_num_classes=None)],
                       dist="keras-zoo"),
    )


def test_list_sorts_naturally_and_filters(zoo_registry):
    assert zoo_registry.list() == ["lstm", "net2", "Net3", "net10"]
    assert zoo_registry.list("net*") == ["net2", "net10"]
    assert zoo_registry.list(["net*", "l*"], exclude="net1*") == ["lstm", "net2"]
    assert zoo_registry.list(family="rnn") == ["lstm"]
    assert zoo_registry.list(task=["forecasting", "reconstruction"]) == ["lstm"]
    assert zoo_registry.list(pretrained=True) == ["net2.cifar", "net2.imagenet"]
    assert zoo_registry.list("*.cifar", pretrained=True) == ["net2.cifar"]


def test_resolve_names_with_tags(zoo_registry):
    assert zoo_registry.resolve("net2.cifar") == (zoo_registry.resolve("net2")[0], "cifar")
    with pytest.raises(UnknownModelError, match=r"no pretrained weights tagged 'x'; available: net2.imagenet"):
        zoo_registry.resolve("net2.x")
    with pytest.raises(UnknownModelError, match=r"Did you mean 'net2'"):
        zoo_registry.resolve("nett2")


def test_info_is_json_ready(zoo_registry):
    info = zoo_registry.info("net2.cifar")
    assert info["tag"] == "cifar" and info["source"]["distribution"] == "keras-zoo"
    assert info["source"]["builtin"] is True
    assert [w["tag"] for w in info["weights"]] == ["imagenet", "cifar"]
    json.dumps(info)


def test_register_model_refuses_duplicates_unless_override(isolated_registry):
    zoo.register_model(spec("mine"))
    with pytest.raises(DuplicateModelError, match="override=True"):
        zoo.register_model(spec("mine"))
    zoo.register_model(spec("mine", description="new"), override=True)
    assert zoo.model_info("mine")["description"] == "new"
    assert zoo.model_info("mine")["source"]["registered_at_runtime"] is True


def test_register_model_as_decorator(isolated_registry):
    @zoo.register_model(name="decorated", family="mlp", task="tabular-classification",
                        default_input_shape=(4,), default_num_classes=2)
    def decorated(*, input_shape, num_classes):
        raise AssertionError("not built here")

    assert zoo.get_model_spec("decorated").builder is decorated
    assert zoo.list_models(family="mlp") == ["decorated"]


# --------------------------------------------------------------------------- create_model


def build_mlp(*, input_shape, num_classes, hidden=6):
    import keras

    from zoo.layers import BiasActivation

    inputs = keras.Input(input_shape)
    x = BiasActivation("relu")(keras.layers.Dense(hidden, use_bias=False)(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="head")(x))


@pytest.fixture
def pretrained_mlp(isolated_registry, tmp_path):
    """A runtime-registered model whose 'trained' weights are a local file with its digest."""
    import keras

    keras.utils.set_random_seed(1)
    source = build_mlp(input_shape=(5,), num_classes=3)
    path = tmp_path / "mlp.weights.h5"
    source.save_weights(path)
    from zoo.hub.weights import sha256_file

    weights = WeightsSpec("toy", file=str(path), sha256=sha256_file(path), labels=("a", "b", "c"))
    zoo.register_model(ModelSpec(name="mlp", family="mlp", task="tabular-classification", builder=build_mlp,
                                 default_input_shape=(5,), default_num_classes=7, weights=(weights,)))
    return source, path


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_create_model_default_is_untrained_with_spec_shapes(pretrained_mlp):
    model = zoo.create_model("mlp")
    assert model.input_shape == (None, 5) and model.output_shape == (None, 7)
    assert model.layers[1].get_weights()[0].shape == (5, 6)
    wide = zoo.create_model("mlp", hidden=9, input_shape=(4,))
    assert wide.layers[1].get_weights()[0].shape == (4, 9)


@pytest.mark.parametrize("name, pretrained", [("mlp", True), ("mlp.toy", True), ("mlp", "toy")])
def test_create_model_loads_pretrained_weights(pretrained_mlp, name, pretrained):
    source, _ = pretrained_mlp
    model = zoo.create_model(name, pretrained)
    assert model.output_shape == (None, 3)  # the weights' head, not the spec default of 7
    assert _same(model, source)


def test_create_model_with_other_num_classes_reinitialises_only_the_head(pretrained_mlp, caplog):
    source, _ = pretrained_mlp
    with caplog.at_level(logging.WARNING, logger="zoo"):
        model = zoo.create_model("mlp", pretrained=True, num_classes=4)
    assert model.output_shape == (None, 4)
    for src, dst in zip(source.layers, model.layers):
        if dst.name != "head":
            assert _same(src, dst)
    assert "3 classes but num_classes=4" in caplog.text and "'head' is newly initialised" in caplog.text


def test_create_model_from_a_weights_file_or_url(pretrained_mlp):
    source, path = pretrained_mlp
    assert _same(zoo.create_model("mlp", weights=path, num_classes=3), source)
    assert _same(zoo.create_model("mlp", pretrained=str(path), num_classes=3), source)
    from zoo.hub.weights import sha256_file

    url = f"{path.as_uri()}#sha256={sha256_file(path)}"
    assert _same(zoo.create_model("mlp", pretrained=url, num_classes=3), source)


@pytest.mark.filterwarnings("ignore:Skipping nested container:UserWarning")  # Keras, on the mismatched file this test loads on purpose
def test_create_model_errors_name_the_fix(pretrained_mlp, tmp_path):
    _, path = pretrained_mlp
    with pytest.raises(UnknownModelError, match="neither a weights tag"):
        zoo.create_model("mlp", pretrained="nope")
    with pytest.raises(ValueError, match="either pretrained= or weights="):
        zoo.create_model("mlp", pretrained=True, weights=path)
    with pytest.raises(WeightsError, match="does not fit this model"):
        zoo.create_model("mlp", weights=path)  # saved with 3 classes, built with 7
    zoo.register_model(spec("bare", builder=build_mlp, default_input_shape=(5,)))
    with pytest.raises(UnknownModelError, match="has no pretrained weights"):
        zoo.create_model("bare", pretrained=True)


def test_create_model_refuses_a_tampered_weights_file(pretrained_mlp):
    _, path = pretrained_mlp
    with open(path, "r+b") as f:
        f.seek(-8, 2)
        f.write(b"tampered")
    from zoo.errors import ChecksumError

    with pytest.raises(ChecksumError, match="tampered"):
        zoo.create_model("mlp", pretrained=True)


# --------------------------------------------------------------------------- real plugins


def test_installed_plugins_are_discovered_isolated_and_lazily_loaded(plugin_venv):
    report = plugin_venv.python_json(
        "import json, sys, warnings\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import zoo\n"
        "    names = zoo.list_models()\n"
        "    info = zoo.model_info('example_cnn')\n"
        "listed = {m: m in sys.modules for m in ('zoo_example_plugin', 'zoo_example_plugin.models',\n"
        "                                        'keras', 'tensorflow')}\n"
        "model = zoo.create_model('example_cnn', num_classes=4)\n"
        "created = 'zoo_example_plugin.models' in sys.modules\n"
        "print(json.dumps({'names': names, 'listed': listed, 'created': created,\n"
        "                  'output': list(model.output_shape), 'info': info,\n"
        "                  'warnings': [str(w.message) for w in caught],\n"
        "                  'plugins': [p.to_dict() for p in zoo.plugins()]}))\n"
    )
    assert {"example_mlp", "example_cnn", "shadow_plugin_unique"} <= set(report["names"])
    assert report["listed"] == {"zoo_example_plugin": True, "zoo_example_plugin.models": False,
                                "keras": False, "tensorflow": False}
    assert report["created"] and report["output"] == [None, 4]
    assert report["info"]["source"]["distribution"] == "zoo-example-plugin"

    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins["example"]["models"] == ["example_mlp", "example_cnn"] and plugins["example"]["error"] is None
    assert "zoo_dependency_that_is_not_installed" in plugins["missing_dependency"]["error"]
    assert "TypeError" in plugins["wrong_type"]["error"]
    assert {p["distribution"] for p in report["plugins"] if p["builtin"]} == {"keras-zoo"}
    broken_warnings = [w for w in report["warnings"] if "zoo-broken-plugin 0.0.1" in w]
    assert len(broken_warnings) == 2 and any("ModuleNotFoundError" in w for w in broken_warnings)


def test_installed_duplicates_keep_builtins_and_the_first_distribution(plugin_venv):
    report = plugin_venv.python_json(
        "import json, warnings\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import zoo\n"
        "    sources = {n: zoo.model_info(n)['source']['distribution']\n"
        "               for n in ('resnet18', 'example_cnn', 'shadow_plugin_unique')}\n"
        "print(json.dumps({'sources': sources, 'warnings': [str(w.message) for w in caught]}))\n"
    )
    assert report["sources"] == {"resnet18": "keras-zoo", "example_cnn": "zoo-example-plugin",
                                 "shadow_plugin_unique": "zoo-shadow-plugin"}, (
        "resnet18 must be a built-in model for this test (tests/plugins/zoo-shadow-plugin clashes with it)")
    clashes = [w for w in report["warnings"] if "is defined by both" in w]
    assert any("'resnet18'" in w and "keras-zoo" in w and "zoo-shadow-plugin" in w for w in clashes)
    assert any("'example_cnn'" in w and "zoo-example-plugin" in w and "zoo-shadow-plugin" in w for w in clashes)


def test_installed_plugins_in_strict_mode_fail_loudly(plugin_venv):
    result = plugin_venv.run(["-c", "import zoo; zoo.list_models()"], ZOO_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "PluginLoadError" in result.stderr and "zoo-broken-plugin" in result.stderr


def test_no_warning_without_broken_or_clashing_plugins():
    """The running environment's own plugins load cleanly (the built-ins at least)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZooPluginWarning)
        registry = Registry()
        registry.list()
    assert any(p.builtin for p in registry.plugins())
