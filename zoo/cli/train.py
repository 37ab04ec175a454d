"""``zoo finetune`` and ``zoo export``.

MODEL is a registered name (built with --input-shape / --num-classes) or a
``.keras`` file. Keras and TensorFlow load inside the commands only.
"""

from __future__ import annotations

import click

from zoo.cli.common import parse_shape, print_json, quiet_tensorflow


def _load(model, input_shape, num_classes):
    """A registered name or a .keras file -> keras.Model."""
    import os

    if model.endswith(".keras") or os.path.isfile(model):
        import keras

        import zoo.models._serializables  # noqa: F401  (zoo layers in the file)

        if input_shape is not None:
            raise click.UsageError("--input-shape applies to registered models, not to a saved file")
        return keras.saving.load_model(model, compile=False, safe_mode=True)
    import zoo

    kwargs = {} if input_shape is None else {"input_shape": input_shape}
    return zoo.create_model(model, num_classes=num_classes, **kwargs)


@click.command("finetune")
@click.argument("model")
@click.argument("data", type=click.Path(exists=True))
@click.option("--input-shape", help="input shape for a registered model, e.g. 64,64,3")
@click.option("--num-classes", type=int, help="new head size (default: the data's class count)")
@click.option("--head-epochs", type=int, default=1, show_default=True,
              help="epochs training the head only (phase 1)")
@click.option("--epochs", type=int, default=1, show_default=True,
              help="epochs training everything but BatchNorm (phase 2)")
@click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True,
              help="phase 1 learning rate")
@click.option("--fine-tune-lr", type=float, help="phase 2 learning rate (default lr / 10)")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--validation-split", type=float, default=0.0, show_default=True,
              help="fraction held out for validation (CSV series: 0.2 unless given)")
@click.option("--target", help="CSV series: the column to forecast (default the last numeric one)")
@click.option("--window", type=int, help="CSV series: time steps per example (default the model's)")
@click.option("--output", "-o", type=click.Path(), help="save the fine-tuned model (.keras)")
@click.option("--strategy", type=click.Choice(["none", "mirrored", "multi-worker"]),
              default="none", show_default=True,
              help="tf.distribute strategy (multi-worker reads the cluster from TF_CONFIG); "
                   "--batch-size is then per replica")
@click.option("--backup-dir", type=click.Path(file_okay=False),
              help="back up every epoch here; run the same command again after a crash to "
                   "resume from the last completed epoch")
@click.option("--precision", type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
              default="auto", show_default=True,
              help="compute type of the layers before the head (mixed precision; weights, head "
                   "and loss stay float32); auto: bfloat16 where measured faster")
@click.option("--steps-per-execution", default="auto", show_default=True,
              help="batches per call into TensorFlow (a positive integer); auto: up to 32, "
                   "1 under a distribution strategy")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def finetune_command(model, data, input_shape, num_classes, head_epochs, epochs, learning_rate,
                     fine_tune_lr, batch_size, validation_split, target, window, output,
                     strategy, backup_dir, precision, steps_per_execution, as_json):
    """Fine-tune MODEL on DATA: an image folder (one sub-folder per class), a .csv
    time series, or an .npz file with arrays x and y."""
    quiet_tensorflow()
    import zoo

    if steps_per_execution != "auto":
        try:
            steps_per_execution = int(steps_per_execution)
        except ValueError:
            steps_per_execution = 0
        if steps_per_execution < 1:
            raise click.BadParameter("must be a positive integer or 'auto'",
                                     param_hint="--steps-per-execution")
    if output is not None and not output.endswith(".keras"):
        raise click.BadParameter("the output file must end in .keras", param_hint="--output")
    from zoo.training.distribute import resolve_strategy

    # Before anything else touches TensorFlow: multi-worker collectives are
    # configured at start-up, and the model's variables must be the strategy's.
    dist = resolve_strategy(strategy)
    with dist.scope():
        net = _load(model, parse_shape(input_shape), num_classes)
    result = zoo.finetune(net, data, num_classes=num_classes, head_epochs=head_epochs,
                          epochs=epochs, learning_rate=learning_rate,
                          fine_tune_learning_rate=fine_tune_lr, batch_size=batch_size,
                          validation_split=validation_split, target=target, window=window,
                          verbose=0 if as_json else "auto", strategy=dist,
                          backup_dir=backup_dir, precision=precision,
                          steps_per_execution=steps_per_execution)
    if output is not None:
        result.model.save(output)
    if as_json:
        print_json({"metrics": result.metrics, "history": result.history,
                    "phases": [list(p) for p in result.phases], "data": result.data_info,
                    "settings": result.settings,
                    "output": output})
    else:
        click.echo(result.summary())
        if output is not None:
            click.echo(f"saved to {output}")


@click.command("export")
@click.argument("model")
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["keras", "savedmodel", "tflite", "onnx"]),
              default=None, help="default: from PATH (.keras, .tflite, .onnx, else savedmodel)")
@click.option("--input-shape", help="input shape for a registered model, e.g. 64,64,3")
@click.option("--num-classes", type=int, help="head size for a registered model")
@click.option("--batch-size", type=int, default=1, show_default=True,
              help="TFLite's fixed batch size")
def export_command(model, path, fmt, input_shape, num_classes, batch_size):
    """Export MODEL (a registered name or a .keras file) to PATH. Every format but
    keras runs without keras-zoo installed."""
    quiet_tensorflow()
    import zoo

    if fmt is None:
        fmt = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}.get(
            "." + path.rsplit(".", 1)[-1] if "." in path else "", "savedmodel")
    written = zoo.export(_load(model, parse_shape(input_shape), num_classes), path, format=fmt,
                         batch_size=batch_size)
    click.echo(f"{fmt} export written to {written}")
