"""``zoo package``: turn a preset directory into a pip-installable plugin package."""

from __future__ import annotations

import click

from zoo.cli.common import console


@click.command("package")
@click.argument("preset_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--name", required=True, help="distribution name, e.g. zoo-flowers")
@click.option("--model-name", help="registry name of the model (default: the preset's name)")
@click.option("--version", "version", default="0.1.0", show_default=True, help="package version")
@click.option("--tag", default="default", show_default=True, help="pretrained tag: MODEL.TAG")
@click.option("--output", "-o", "output_dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="directory to write the package into")
@click.option("--force", is_flag=True, help="replace an existing package directory")
@click.option("--wheel", is_flag=True, help="also build a wheel (into OUTPUT/dist) to share or upload")
def package_command(preset_dir, name, model_name, version, tag, output_dir, force, wheel):
    """Write a pip-installable plugin package for PRESET_DIR (made by zoo.save_preset)."""
    from pathlib import Path

    from zoo.hub.packaging import build_wheel, package_preset

    root = package_preset(preset_dir, output_dir, name=name, model_name=model_name, version=version, tag=tag,
                          force=force)
    out = console()
    out.print(f"wrote package [bold]{name}[/bold] to {root}")
    if wheel:
        built = build_wheel(root, Path(output_dir) / "dist")
        out.print(f"built wheel {built}")
        out.print(f"install it with:  pip install {built}")
    else:
        out.print(f"install it with:  pip install {root}")
