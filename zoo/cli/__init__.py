"""The ``zoo`` command (the top of the flow: it may import any step below).

Each command group lives in its own module and is imported only when that
command runs (or ``--help`` lists it), so ``zoo list`` never pays for TensorFlow.
A new command is one line in ``COMMANDS``; its module must stay cheap to import
and import keras inside the command function.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

# command name -> "module:attribute" of its click command
COMMANDS = {
    "list": "zoo.cli.models:list_command",
    "info": "zoo.cli.models:info_command",
    "summary": "zoo.cli.models:summary_command",
    "predict": "zoo.cli.predict:predict_command",
    "plugins": "zoo.cli.plugins:plugins_command",
    "doctor": "zoo.cli.plugins:doctor_command",
    "package": "zoo.cli.package:package_command",
    "finetune": "zoo.cli.train:finetune_command",
    "export": "zoo.cli.train:export_command",
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
        # Restored afterwards: the command may run inside a caller's process (tests, notebooks).
        previous = warnings.formatwarning
        warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            # Our errors already say what went wrong and how to fix it: no traceback.
            raise click.ClickException(str(exc)) from exc
        finally:
            warnings.formatwarning = previous


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name="keras-zoo", prog_name="keras-zoo")
def main():
    """keras-zoo: models, plugins and native kernels for Keras 3."""


if __name__ == "__main__":
    sys.exit(main())
