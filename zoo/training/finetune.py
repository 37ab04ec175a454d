"""Fine-tuning: replace the head, freeze and unfreeze, the two-phase schedule,
and :func:`finetune` for scripts.

Freezing follows Keras' convention: a layer with ``trainable = False`` keeps its
weights and, for BatchNormalization, runs in inference mode (its moving
statistics stop updating). Changes to ``trainable`` take effect at the next
``compile()``; :func:`finetune` compiles for each phase.

``zoo.finetune`` is both this module and its :func:`finetune` function: the
module is callable (see the end of the file), because importing a submodule
binds its name on the package and would otherwise hide the function.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

HEAD = "head"


# --------------------------------------------------------------------------- head, freeze


def _layer_index(model, layer) -> int:
    for i, candidate in enumerate(model.layers):
        if candidate is layer:
            return i
    raise ValueError(f"layer {layer.name!r} is not a top-level layer of {model.name!r}")


def head_name(model, head=None) -> str:
    """``head``, else the head layer ``zoo.create_model`` recorded for ``model`` (the
    spec's ``head``: ``"predictions"`` for the ImageNet models), else ``"head"``."""
    if head is not None:
        return head
    from zoo.hub.provenance import model_origin

    return (model_origin(model) or {}).get("head") or HEAD


def _head(model, head):
    try:
        return model.get_layer(head)
    except ValueError:
        raise ValueError(
            f"{model.name!r} has no layer named {head!r}; zoo models name their classifier "
            f"'head' (autoencoders have none). Pass head= or up_to= to name another layer"
        ) from None


def reset_head(model, num_classes, *, head=None):
    """A new model whose ``head`` layer is freshly initialised with ``num_classes`` units.

    Every other layer is shared with ``model`` (same objects, same weights);
    layers after the head (a softmax ``predictions`` layer) are kept.

    Args:
        model: a functional Keras model with a dense layer named ``head``.
        num_classes: the new head's width.
        head: name of the layer to replace (default: see :func:`head_name`).

    Returns:
        The new ``keras.Model``.

    Example:
    >>> model = zoo.reset_head(zoo.create_model("resnet18"), 5)
    """
    import keras

    if not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    head = head_name(model, head)
    old = _head(model, head)
    if "units" not in old.get_config():
        raise ValueError(f"layer {head!r} is a {type(old).__name__}, not a dense layer with units")
    # The new head goes onto the existing graph rather than through
    # keras.models.clone_model: a clone sharing the layers crashed TensorFlow
    # (segfault) when fit met a partial last batch (Keras 3.15, TF 2.21).
    new = type(old).from_config({**old.get_config(), "units": num_classes})
    x, previous = new(old.input), old.output
    for layer in model.layers[_layer_index(model, old) + 1:]:
        if layer.input is not previous:
            raise ValueError(
                f"reset_head needs the layers after {head!r} to form a single chain; "
                f"{layer.name!r} does not take {previous.name!r}'s output"
            )
        x, previous = layer(x), layer.output
    if len(model.outputs) != 1 or model.outputs[0] is not previous:
        raise ValueError(f"reset_head needs {head!r} (and the layers after it) to end the model")
    # a single input stays a single tensor, not a one-element list, so the new
    # model is called as the old one was
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, x, name=model.name)


def freeze(model, up_to=None, *, head=None):
    """Freeze the model's layers up to and including ``up_to``.

    Args:
        model: a Keras model.
        up_to: a layer name or top-level index; None freezes every layer
            before the head (the usual transfer-learning setup).
        head: the head's name, used when ``up_to`` is None (default: see :func:`head_name`).

    Returns:
        ``model``, changed in place. Compile again for it to take effect.
    """
    if up_to is None:
        stop = _layer_index(model, _head(model, head_name(model, head)))
    elif isinstance(up_to, str):
        stop = _layer_index(model, model.get_layer(up_to)) + 1
    elif isinstance(up_to, int):
        if not -len(model.layers) <= up_to < len(model.layers):
            raise ValueError(f"up_to={up_to} is out of range: {model.name!r} has {len(model.layers)} layers")
        stop = up_to % len(model.layers) + 1
    else:
        raise TypeError(f"up_to must be a layer name, an index or None, got {up_to!r}")
    _set_all_trainable(model)
    for layer in model.layers[:stop]:
        layer.trainable = False
    return model


def unfreeze(model, *, train_batchnorm=False):
    """Make every layer trainable, BatchNormalization excepted unless ``train_batchnorm``.

    Keeping BatchNorm frozen (inference mode, statistics fixed) is the usual
    recipe for the second phase of fine-tuning: small batches of new data would
    otherwise overwrite statistics learnt on far more data.

    Returns:
        ``model``, changed in place. Compile again for it to take effect.
    """
    import keras

    _set_all_trainable(model)
    if not train_batchnorm:
        for layer in _walk(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return model


def _set_all_trainable(model):
    # A functional model's `trainable = True` does not reach layers frozen one
    # by one, so every layer is set, nested models' layers included.
    model.trainable = True
    for layer in _walk(model):
        layer.trainable = True


def _walk(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _walk(layer)


# --------------------------------------------------------------------------- finetune


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns.

    Attributes:
        model: the trained model (a new object when the head was replaced).
        history: per-epoch logs of both phases, concatenated (``history["phase"]``
            says which phase each epoch belongs to).
        metrics: final evaluation, on the validation data when there is some,
            else on the training data.
        phases: ``(name, epochs, learning_rate)`` of each phase that ran.
        data_info: what was derived from the data (class names, normalisation).
        settings: the speed settings the run chose (``precision``,
            ``steps_per_execution``).
    """

    model: Any = field(repr=False)
    history: dict
    metrics: dict
    phases: tuple
    data_info: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items())
        runs = ", ".join(f"{name} {n} epoch(s) at lr {lr:g}" for name, n, lr in self.phases)
        return f"{runs}: {shown}"


def _gives_probabilities(model) -> bool:
    import keras

    activation = getattr(model.layers[-1], "activation", None)
    return activation in (keras.activations.softmax, "softmax") or getattr(
        activation, "__name__", "") == "softmax"


def _default_loss(model, prepared):
    import keras

    if prepared.integer_labels and model.output_shape[-1] > 1:
        from_logits = not _gives_probabilities(model)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]
    return "mse", ["mae"]


def finetune(model, data, *, num_classes=None, validation_data=None, validation_split=0.0,
             head_epochs=1, epochs=1, learning_rate=1e-3, fine_tune_learning_rate=None,
             batch_size=32, loss=None, metrics=None, callbacks=None, freeze_up_to=None,
             optimizer="adam", verbose="auto", rescale=1.0 / 255, target=None, window=None,
             normalize=True, seed=0, shuffle=True, strategy=None, backup_dir=None,
             precision="auto", steps_per_execution="auto", jit_compile="auto"):
    """Fine-tune ``model`` on ``data`` in two phases and report the result.

    Phase "head": the layers before the head (or up to ``freeze_up_to``) are
    frozen, BatchNorm included, and only the rest trains at ``learning_rate``
    for ``head_epochs``. Phase "full": everything but BatchNorm trains at
    ``fine_tune_learning_rate`` (default ``learning_rate / 10``) for ``epochs``.
    A phase with 0 epochs is skipped.

    Args:
        model: a Keras model, or a registered model name (built with defaults).
        data: ``(x, y)`` numpy arrays; a ``tf.data.Dataset`` of ``(x, y)``
            batches; an image folder (one sub-folder per class, read at the
            model's input size); a ``.csv`` time series (windows of the
            model's input length, the next ``horizon`` values of ``target``
            as labels); or an ``.npz`` with ``x`` and ``y``.
        num_classes: replace the head with this many classes; by default the
            class count of an image folder or integer labels when it differs.
        validation_data, validation_split: as for ``fit`` (for CSV series the
            split is the last part of the series, default 0.2).
        loss, metrics: default to sparse categorical cross-entropy and accuracy
            for integer labels, mean squared error and MAE otherwise.
        callbacks: Keras callbacks, given to both phases.
        optimizer: a Keras optimizer name, or ``"fused_adam"`` / ``"fused_adamw"``
            (Keras' Adam/AdamW update as one fused op per variable on
            TensorFlow); one is made per phase.
        verbose: Keras' progress bar setting.
        rescale: factor on image-folder pixels (0..255).
        target, window, normalize: CSV series options: the column to forecast
            (default the last numeric one), the window length (default the
            model's), and standardisation with the training part's statistics.
        seed: shuffling and validation-split seed.
        shuffle: shuffle array data every epoch (as ``fit``; the orders come
            from ``seed``, see zoo.training.batches).
        strategy: ``"none"``, ``"mirrored"``, ``"multi-worker"`` (cluster from
            ``TF_CONFIG``) or a ``tf.distribute.Strategy``. The model is built
            (or copied) and compiled in its scope, and ``batch_size`` is per
            replica: the global batch is ``batch_size * replicas``.
        backup_dir: enables crash recovery: started again with the same
            arguments after an interruption, the fine-tune resumes from the last
            completed epoch (a finished phase is restored, not retrained) and
            trains the same number of epochs in all. Removed when it finishes.
        precision: ``"float32"``, ``"bfloat16"``, ``"float16"`` (GPU or a
            CPU with float16 arithmetic) or ``"auto"``: a mixed-precision copy
            trains, the head and loss in float32, and the trained weights go
            back into the float32 model (zoo.training.precision). ``"auto"``
            is bfloat16 only for families measured faster with it, on CPUs
            with AVX-512-BF16/AMX; float32 otherwise.
        steps_per_execution: batches per call into TensorFlow, or ``"auto"``:
            up to 32 (at most an epoch), 1 when a callback works per batch or
            under a distribution strategy (zoo.training.speed). The progress
            bar and batch hooks then advance once per execution.
        jit_compile: as for ``compile()`` (``"auto"``: Keras' choice, graph
            mode on a CPU-only TensorFlow). With True, zoo's LSTM/GRU keep
            their fused kernels inside XLA.

    Returns:
        A :class:`FinetuneResult`.

    Example:
    >>> result = zoo.finetune("resnet18", "photos/", num_classes=5, input_shape=...)  # doctest: +SKIP
    >>> result = zoo.finetune(model, (x, y), head_epochs=2, epochs=3)
    >>> result.metrics["accuracy"]
    """
    import keras

    from zoo.training import batches, distribute, optimizers, speed
    from zoo.training import precision as precision_lib
    from zoo.training.data import prepare

    dist = distribute.resolve_strategy(strategy)
    if isinstance(model, str):
        from zoo.create import create_model

        with dist.scope():
            model = create_model(model)
    else:
        model = distribute.build_in_scope(model, dist)
    batch_size = distribute.global_batch_size(batch_size, dist)
    custom_loop = distribute.needs_custom_loop(dist)
    backup = distribute.PhasedBackup(backup_dir) if backup_dir is not None else None
    for name, value in (("head_epochs", head_epochs), ("epochs", epochs)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    jit = speed.check_jit_compile(jit_compile)
    family = precision_lib.model_family(model)  # before a new head drops the origin
    prepared = prepare(data, model, validation_data=validation_data,
                       validation_split=validation_split, batch_size=batch_size, seed=seed,
                       rescale=rescale, target=target, window=window, normalize=normalize)
    head = head_name(model)
    if _has_layer(model, head):
        units = model.get_layer(head).units
        wanted = num_classes
        if wanted is None and prepared.classes is not None:
            # Integer labels only bound the class count from below: a head wide
            # enough for them stays.
            too_narrow = prepared.classes > units
            wanted = prepared.classes if prepared.exact_classes or too_narrow else None
        if wanted is not None and wanted != units:
            with dist.scope():
                model = reset_head(model, wanted, head=head)
    elif num_classes is not None:
        raise ValueError(f"{model.name!r} has no layer named {head!r} to resize to num_classes={num_classes}")
    if loss is None:
        loss, default_metrics = _default_loss(model, prepared)
        metrics = default_metrics if metrics is None else metrics
    fine_lr = learning_rate / 10 if fine_tune_learning_rate is None else fine_tune_learning_rate

    x, y = (prepared.train if isinstance(prepared.train, tuple) else (prepared.train, None))
    run_precision = precision_lib.resolve_precision(precision, family)
    per_epoch = speed.batches_per_epoch(x, batch_size)
    spe = speed.choose_steps_per_execution(
        steps_per_execution, batches=per_epoch, callbacks=callbacks, strategy=dist)
    float32_model = model
    with dist.scope():
        model = precision_lib.mixed_copy(model, run_precision)

    def make_optimizer(lr):
        # "fused_adam"/"fused_adamw": Keras' update as one op per variable (training/optimizers.py)
        return optimizers.get(optimizer, lr)

    history: dict[str, list] = {}
    phases = []
    done = 0
    # Datasets arrive shuffled (or ordered on purpose): Keras' default
    # shuffle=True would only warn that it ignores it.
    train_data, train_kwargs = (x, y), {"shuffle": False}
    if y is not None:
        # Arrays: on TensorFlow zoo's endless batch pipeline (training/batches.py:
        # one iterator for all epochs, one gather per chunk of batches) when the
        # executions can tile an epoch; else Keras' own array pipeline (on JAX
        # a numpy iterator, measured faster there than tf.data: RESULTS.md,
        # "Fine-tuning: zoo's array pipeline").
        train_kwargs = {"batch_size": batch_size, "shuffle": shuffle}
        aligned = None
        if keras.backend.backend() == "tensorflow" and not custom_loop:
            aligned = batches.aligned_steps_per_execution(
                spe, per_epoch, chosen=steps_per_execution == "auto")
        if aligned is not None:
            spe = aligned
            train_data = (batches.epoch_batches(x, y, batch_size=batch_size, shuffle=shuffle,
                                                seed=seed), None)
            train_kwargs = {"shuffle": False, "steps_per_epoch": per_epoch}

    def set_trainable(m, phase):
        if phase == "head":
            freeze(m, freeze_up_to, head=head)
        else:
            unfreeze(m)

    for phase, n, lr in (("head", head_epochs, learning_rate), ("full", epochs, fine_lr)):
        if n == 0:
            continue
        set_trainable(model, phase)
        with dist.scope():
            model.compile(optimizer=make_optimizer(lr), loss=loss, metrics=metrics,
                          steps_per_execution=spe, jit_compile=jit)
        if backup is not None and backup.is_done(phase):
            run_history = backup.restore(model, phase)
        elif custom_loop:
            if y is None:
                raise ValueError("the multi-worker strategy trains on (x, y) arrays, .npz or "
                                 "CSV series; this data came as a dataset")
            run_history = distribute.fit_multi_worker(
                model, x, y, strategy=dist, epochs=n, batch_size=batch_size,
                backup_dir=None if backup is None else backup.phase_dir(phase),
                verbose=0 if verbose == 0 else 1)
        else:
            phase_callbacks = list(callbacks or [])
            if backup is not None:
                phase_callbacks.insert(0, distribute.backup_callback(backup.phase_dir(phase)))
            # Array validation data is evaluated in training-sized batches.
            fit_kwargs = dict(train_kwargs)
            if isinstance(prepared.validation, tuple):
                fit_kwargs["validation_batch_size"] = batch_size
            run = model.fit(*train_data, validation_data=prepared.validation, initial_epoch=done,
                            epochs=done + n, callbacks=phase_callbacks, verbose=verbose,
                            **fit_kwargs)
            run_history = {k: [float(v) for v in vals] for k, vals in run.history.items()}
        if backup is not None and not backup.is_done(phase):
            backup.mark_done(model, phase, run_history)
        for key, values in run_history.items():
            history.setdefault(key, []).extend(values)
        history.setdefault("phase", []).extend(
            [phase] * len(next(iter(run_history.values()), [])))
        phases.append((phase, n, lr))
        done += n
    if not phases:
        raise ValueError("head_epochs and epochs are both 0: nothing to train")
    if backup is not None:
        backup.finish()
    if model is not float32_model:
        # The caller gets its float32 model back, trained, compiled for it,
        # with the last phase's frozen layers (BatchNorm in inference mode).
        float32_model.set_weights(model.get_weights())
        model = float32_model
        set_trainable(model, phases[-1][0])
        with dist.scope():
            model.compile(optimizer=make_optimizer(phases[-1][2]), loss=loss, metrics=metrics,
                          steps_per_execution=spe, jit_compile=jit)
    evaluation = prepared.validation if prepared.validation is not None else prepared.train
    ex, ey = evaluation if isinstance(evaluation, tuple) else (evaluation, None)
    kwargs = {"batch_size": batch_size} if ey is not None else {}
    if custom_loop:
        # Keras' evaluate has the same multi-worker limitation as fit: report
        # the last epoch's training loss, which every worker agrees on.
        final = {"loss": history["loss"][-1]}
    else:
        final = model.evaluate(ex, ey, verbose=0, return_dict=True, **kwargs)
    return FinetuneResult(model=model, history=history,
                          metrics={k: float(v) for k, v in final.items()},
                          phases=tuple(phases), data_info=prepared.info,
                          settings={"precision": run_precision, "steps_per_execution": spe,
                                    "jit_compile": model.jit_compile})


def _has_layer(model, name) -> bool:
    return any(layer.name == name for layer in model.layers)


class _CallableModule(types.ModuleType):
    """``zoo.finetune(...)`` calls :func:`finetune` even once this module is imported."""

    def __call__(self, *args, **kwargs):
        return finetune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
