"""The ``zoo`` command.

Each command group lives in its own module and is imported only when that
command runs (or ``--help`` lists it), so ``zoo list`` never pays for TensorFlow.
A new command is one line in ``COMMANDS``; its module must stay cheap to import
and import keras inside the command function.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import warnings

import click

# command name -> "module:attribute" of its click command
COMMANDS = {
    "list": "zoo._cli_models:list_command",
    "info": "zoo._cli_models:info_command",
    "summary": "zoo._cli_models:summary_command",
    "predict": "zoo._cli_predict:predict_command",
    "plugins": "zoo._cli_plugins:plugins_command",
    "doctor": "zoo._cli_plugins:doctor_command",
    "package": "zoo._cli_package:package_command",
    "finetune": "zoo._cli_train:finetune_command",
    "export": "zoo._cli_train:export_command",
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            module_name, _, attr = self.lazy_commands[name].partition(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        from zoo.errors import ZooError

        # TensorFlow's C++ start-up chatter (oneDNN notices) is noise on a
        # command line; a user who wants it sets the variable themselves.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

        # One line per warning (a broken plugin, a duplicate name), not Python's two-line form.
        warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            # Our errors already say what went wrong and how to fix it: no traceback.
            raise click.ClickException(str(exc)) from exc


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name="keras-zoo", prog_name="keras-zoo")
def main():
    """keras-zoo: models, plugins and native kernels for Keras 3."""


# --------------------------------------------------------------------------- helpers for command modules


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=repr))


def parse_shape(text: str | None):
    """``"32,32,3"`` or ``"32x32x3"`` -> (32, 32, 3); ``None`` stays None; ``none``/``?`` is a free axis."""
    if text is None:
        return None
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        return tuple(None if p.lower() in {"none", "?"} else int(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a shape; write it like 32,32,3") from None


def parse_pretrained(value: str | None):
    """CLI spelling of create_model's ``pretrained``: absent -> False, "" -> True, else the tag/path/URL."""
    if value is None:
        return False
    return True if value in {"", "default", "true"} else value


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter out of command output."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


if __name__ == "__main__":
    sys.exit(main())
