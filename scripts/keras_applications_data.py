"""Write zoo/models/imagenet_data/: the ImageNet weights Keras publishes, as data.

    python scripts/keras_applications_data.py [--classes-from keras_hub-X.whl]

For every ``keras.applications`` architecture this asks Keras' own code what it
would download: each application is called with ``weights="imagenet"`` (with and
without its top) while ``file_utils.get_file`` is replaced by a recorder that
stops the call, so the URLs, cache names and digests are the ones Keras itself
uses, not a transcription. ``obtain_input_shape`` is recorded the same way for
the default and minimum input sizes, and the module's ``preprocess_input`` is
run on a probe and matched against the caffe / tf / torch modes (or none, for
models that normalise inside the graph).

Top-1/top-5 figures are the ones Keras documents (keras.io/api/applications and
the MobileNetV3 docstring); where Keras documents none the entry has none.

The 1000 class names (index order, with their WordNet ids) are read from the
``IMAGENET_NAMES`` table in a keras-hub wheel or source tree
(``pip download --no-deps keras-hub``): Keras' ``decode_predictions`` fetches
the same table from the network at run time, the zoo ships it as data. The
existing file is kept when no source is given.

Building every model (twice) takes a few minutes; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "zoo" / "models" / "imagenet_data"

# (Keras function, zoo name, paper), in the order keras.io lists them.
APPLICATIONS = [
    ("Xception", "xception", "Chollet, Xception: Deep Learning with Depthwise Separable Convolutions (2017)"),
    ("VGG16", "vgg16", "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition (2015)"),
    ("VGG19", "vgg19", "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition (2015)"),
    *[(f"ResNet{d}", f"resnet{d}", "He et al., Deep Residual Learning for Image Recognition (2015)")
      for d in (50, 101, 152)],
    *[(f"ResNet{d}V2", f"resnet{d}_v2", "He et al., Identity Mappings in Deep Residual Networks (2016)")
      for d in (50, 101, 152)],
    ("InceptionV3", "inception_v3", "Szegedy et al., Rethinking the Inception Architecture for Computer Vision (2016)"),
    ("InceptionResNetV2", "inception_resnet_v2",
     "Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning (2017)"),
    ("MobileNet", "mobilenet", "Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (2017)"),
    ("MobileNetV2", "mobilenet_v2", "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (2018)"),
    ("MobileNetV3Small", "mobilenet_v3_small", "Howard et al., Searching for MobileNetV3 (2019)"),
    ("MobileNetV3Large", "mobilenet_v3_large", "Howard et al., Searching for MobileNetV3 (2019)"),
    *[(f"DenseNet{d}", f"densenet{d}", "Huang et al., Densely Connected Convolutional Networks (2017)")
      for d in (121, 169, 201)],
    ("NASNetMobile", "nasnet_mobile", "Zoph et al., Learning Transferable Architectures for Scalable Image Recognition (2018)"),
    ("NASNetLarge", "nasnet_large", "Zoph et al., Learning Transferable Architectures for Scalable Image Recognition (2018)"),
    *[(f"EfficientNetB{i}", f"efficientnet_b{i}",
       "Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (2019)") for i in range(8)],
    *[(f"EfficientNetV2{v}", f"efficientnet_v2_{v.lower()}",
       "Tan & Le, EfficientNetV2: Smaller Models and Faster Training (2021)")
      for v in ("B0", "B1", "B2", "B3", "S", "M", "L")],
    *[(f"ConvNeXt{s}", f"convnext_{s.lower()}", "Liu et al., A ConvNet for the 2020s (2022)")
      for s in ("Tiny", "Small", "Base", "Large", "XLarge")],
]

# Top-1 / top-5 accuracy on the ImageNet validation set as Keras documents them:
# the "Available models" table of keras.io/api/applications, and for MobileNetV3
# (top-1 only) the table in keras.applications.MobileNetV3's docstring.
KERAS_METRICS = {
    "Xception": (0.790, 0.945), "VGG16": (0.713, 0.901), "VGG19": (0.713, 0.900),
    "ResNet50": (0.749, 0.921), "ResNet50V2": (0.760, 0.930), "ResNet101": (0.764, 0.928),
    "ResNet101V2": (0.772, 0.938), "ResNet152": (0.766, 0.931), "ResNet152V2": (0.780, 0.942),
    "InceptionV3": (0.779, 0.937), "InceptionResNetV2": (0.803, 0.953), "MobileNet": (0.704, 0.895),
    "MobileNetV2": (0.713, 0.901), "DenseNet121": (0.750, 0.923), "DenseNet169": (0.762, 0.932),
    "DenseNet201": (0.773, 0.936), "NASNetMobile": (0.744, 0.919), "NASNetLarge": (0.825, 0.960),
    "EfficientNetB0": (0.771, 0.933), "EfficientNetB1": (0.791, 0.944), "EfficientNetB2": (0.801, 0.949),
    "EfficientNetB3": (0.816, 0.957), "EfficientNetB4": (0.829, 0.964), "EfficientNetB5": (0.836, 0.967),
    "EfficientNetB6": (0.840, 0.968), "EfficientNetB7": (0.843, 0.970),
    "EfficientNetV2B0": (0.787, 0.943), "EfficientNetV2B1": (0.798, 0.950), "EfficientNetV2B2": (0.805, 0.951),
    "EfficientNetV2B3": (0.820, 0.958), "EfficientNetV2S": (0.839, 0.967), "EfficientNetV2M": (0.853, 0.974),
    "EfficientNetV2L": (0.857, 0.975),
    "MobileNetV3Large": (0.756, None), "MobileNetV3Small": (0.681, None),
}


# MobileNetV3 never calls obtain_input_shape: its weights are for 224x224 (it warns
# so for any other size) and it checks that both sides are at least 32.
SIZES_NOT_ASKED = {"MobileNetV3Small": (224, 32), "MobileNetV3Large": (224, 32)}


class _Stop(Exception):
    pass


def _record_calls():
    """Patch Keras so that an application call records its facts and stops at the download."""
    from keras.src.applications import imagenet_utils
    from keras.src.utils import file_utils

    seen: dict = {}
    original_shape = imagenet_utils.obtain_input_shape

    def obtain_input_shape(input_shape, default_size, min_size, *args, **kwargs):
        seen["default_size"], seen["min_size"] = default_size, min_size
        return original_shape(input_shape, default_size, min_size, *args, **kwargs)

    def get_file(fname=None, origin=None, md5_hash=None, file_hash=None, cache_subdir="datasets",
                 hash_algorithm="auto", **_):
        digest = file_hash or md5_hash
        if digest and hash_algorithm == "auto":
            # keras.utils.get_file's own rule for "auto"
            hash_algorithm = "sha256" if len(digest) == 64 else "md5"
        seen["file"] = {"url": origin, "cache_name": fname or Path(origin).name, "cache_subdir": cache_subdir,
                        hash_algorithm if digest else "digest": digest}
        raise _Stop

    imagenet_utils.obtain_input_shape = obtain_input_shape
    file_utils.get_file = get_file
    return seen


def _weights_file(fn, seen, **kwargs) -> dict:
    seen.clear()
    try:
        fn(weights="imagenet", **kwargs)
    except _Stop:
        return dict(seen["file"])
    raise RuntimeError(f"{fn.__name__}(weights='imagenet', {kwargs}) did not ask for a weights file")


def _preprocessing_mode(module) -> str:
    """Which imagenet_utils mode the module's preprocess_input applies ("none": identity)."""
    from keras.src.applications import imagenet_utils

    probe = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    got = np.asarray(module.preprocess_input(probe.copy()))
    if np.allclose(got, probe):
        return "none"
    for mode in ("caffe", "tf", "torch"):
        if np.allclose(got, np.asarray(imagenet_utils.preprocess_input(probe.copy(), mode=mode)), atol=1e-4):
            return mode
    raise RuntimeError(f"{module.__name__}.preprocess_input matches no known mode")


def applications(done: dict, save) -> list[dict]:
    """One entry per application; ``done`` (name -> entry, from an earlier run of the
    same Keras version) is kept, and ``save(entries)`` is called after each new one."""
    import keras

    seen = _record_calls()
    entries = []
    for fn_name, name, paper in APPLICATIONS:
        if name in done:
            entries.append(done[name])
            continue
        fn = getattr(keras.applications, fn_name)
        module = sys.modules[fn.__module__]
        top = _weights_file(fn, seen, include_top=True)
        default_size, min_size = SIZES_NOT_ASKED.get(fn_name) or (seen["default_size"], seen["min_size"])
        notop = _weights_file(fn, seen, include_top=False, input_shape=(default_size, default_size, 3))
        top1, top5 = KERAS_METRICS.get(fn_name, (None, None))
        metrics = {k: v for k, v in (("top1", top1), ("top5", top5)) if v is not None}
        entries.append({
            "name": name,
            "keras_name": fn_name,
            "module": fn.__module__.replace("keras.src.", "keras."),
            "paper": paper,
            "input_size": default_size,
            "min_input_size": min_size,
            "preprocessing": _preprocessing_mode(module),
            "metrics": metrics,
            "top": top,
            "notop": notop,
        })
        print(f"{fn_name:18s} {default_size:4d}  {entries[-1]['preprocessing']:6s} "
              f"{'md5' if 'md5' in top else 'sha256' if 'sha256' in top else 'no digest'}", flush=True)
        save(entries)
    return entries


def _imagenet_names_source(path: Path) -> str:
    """The text of keras_hub/src/utils/imagenet/imagenet_utils.py from a wheel or a source tree."""
    member = "keras_hub/src/utils/imagenet/imagenet_utils.py"
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(member).decode()
    if path.is_dir():
        return (path / member).read_text()
    return path.read_text()


def imagenet_classes(path: Path) -> list[list[str]]:
    tree = ast.parse(_imagenet_names_source(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "IMAGENET_NAMES" for t in node.targets):
            table = ast.literal_eval(node.value)
            break
    else:
        raise RuntimeError(f"{path}: no IMAGENET_NAMES table")
    if sorted(table) != list(range(1000)):
        raise RuntimeError(f"{path}: IMAGENET_NAMES does not hold indices 0..999")
    classes = [list(table[i]) for i in range(1000)]
    for wnid, label in classes:
        if not re.fullmatch(r"n\d{8}", wnid) or not label:
            raise RuntimeError(f"{path}: bad entry {wnid!r}: {label!r}")
    return classes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes-from", type=Path, help="a keras-hub wheel or source tree")
    parser.add_argument("--resume", action="store_true",
                        help="keep the entries already written by this Keras version")
    args = parser.parse_args(argv)
    import warnings

    import keras

    warnings.simplefilter("ignore")  # Keras' notes on input sizes while it is probed

    OUT.mkdir(parents=True, exist_ok=True)
    if args.classes_from:
        classes = imagenet_classes(args.classes_from)
        (OUT / "imagenet_classes.json").write_text(
            "[\n" + ",\n".join(json.dumps(c) for c in classes) + "\n]\n")
    path = OUT / "keras_applications.json"
    done = {}
    if args.resume and path.is_file():
        old = json.loads(path.read_text())
        if old.get("keras_version") == keras.__version__:
            done = {entry["name"]: entry for entry in old["applications"]}

    def save(entries):
        data = {"generated_by": "scripts/keras_applications_data.py", "keras_version": keras.__version__,
                "applications": entries}
        path.write_text(json.dumps(data, indent=1) + "\n")

    save(applications(done, save))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
