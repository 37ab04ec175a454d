"""Helpers shared by the command modules: output, and the CLI spellings of shapes
and ``pretrained``. Cheap to import (no keras)."""

from __future__ import annotations

import json

import click



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
