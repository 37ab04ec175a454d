"""``zoo list``, ``zoo info`` and ``zoo summary``.

list and info read the registry only (no TensorFlow); summary builds the model.
"""

from __future__ import annotations

import click

from zoo.cli.common import console, parse_pretrained, parse_shape, print_json, quiet_tensorflow

PRETRAINED_HELP = "load pretrained weights: no value for the default, or a tag, a file or a URL"


def _shape_text(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) if shape else "-"


@click.command("list")
@click.argument("pattern", default="*")
@click.option("--exclude", "-x", multiple=True, help="fnmatch pattern to leave out (repeatable)")
@click.option("--family", multiple=True, help="only this family: cnn, rnn, autoencoder... (repeatable)")
@click.option("--task", multiple=True, help="only this task, e.g. image-classification (repeatable)")
@click.option("--pretrained", is_flag=True, help="list 'arch.tag' for every set of pretrained weights")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_command(pattern, exclude, family, task, pretrained, as_json):
    """List registered models matching PATTERN (fnmatch, default '*')."""
    from zoo.registry import default_registry, list_models

    names = list_models(pattern, exclude=list(exclude), family=family or None, task=task or None,
                        pretrained=pretrained)
    registry = default_registry()
    rows = []
    for name in names:
        spec, tag = registry.resolve(name)
        source = registry.source(spec.name)
        rows.append({
            "name": name,
            "family": spec.family,
            "task": spec.task,
            "input_shape": list(spec.default_input_shape),
            "pretrained": list(spec.tags) if tag is None else [tag],
            "source": source.distribution if source else "runtime",
        })
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} model(s)", title_justify="left")
    table.add_column("name", no_wrap=True)  # names are copied into commands: never cut them
    for column in ("family", "task", "input", "pretrained", "from"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["family"], r["task"], _shape_text(r["input_shape"]),
                      ", ".join(r["pretrained"]) or "-", r["source"] or "?")
    out = console()
    out.print(table)
    failed = registry.failed_plugins()
    if failed:
        console(stderr=True).print(
            f"[yellow]{len(failed)} plugin(s) failed to load; run `zoo plugins` for details[/yellow]")


@click.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def info_command(name, as_json):
    """Show what the registry knows about NAME ('arch', 'arch.tag' or a preset directory)."""
    from zoo.create import model_info

    info = model_info(name)
    if as_json:
        print_json(info)
        return
    out = console()
    if "zoo_preset" in info:
        _print_preset_info(out, info)
        return
    title = info["name"] + (f".{info['tag']}" if info["tag"] else "")
    if info.get("alias"):
        title = f"{info['alias']} (alias of {title})"
    out.print(f"[bold]{title}[/bold]  {info['family']} / {info['task']}")
    if info["description"]:
        out.print(info["description"])
    source = info["source"]
    rows = [
        ("input shape", _shape_text(info["default_input_shape"])),
        ("classes", str(info["default_num_classes"] if info["default_num_classes"] is not None else "-")),
        ("capabilities", ", ".join(info["capabilities"]) or "-"),
        ("builder", info["builder"]),
        ("head layer", info["head"]),
        ("paper", info["paper"] or "-"),
        ("license", info["license"] or "-"),
        ("from", (f"{source.get('distribution')} {source.get('version') or ''} (plugin {source.get('name')})"
                  if source.get("distribution") else "registered at runtime")),
    ]
    if info.get("aliases"):
        rows.append(("aliases", ", ".join(info["aliases"])))
    if info["default_kwargs"]:
        rows.append(("builder defaults", ", ".join(f"{k}={v!r}" for k, v in info["default_kwargs"].items())))
    _print_rows(out, rows)
    weights = [w for w in info["weights"] if info["tag"] in (None, w["tag"])]
    if weights:
        from rich.table import Table

        table = Table(title="pretrained weights", title_justify="left")
        for column in ("tag", "dataset", "classes", "metrics", "digest", "source"):
            table.add_column(column)
        for w in weights:
            metrics = ", ".join(f"{k}={v}" for k, v in w["metrics"].items()) or "-"
            table.add_row(w["tag"], w["dataset"] or "-", str(w["num_classes"] or "-"), metrics,
                          _digest_text(w), w["file"] or w["url"])
            backbone = w.get("backbone")
            if backbone:
                table.add_row("", "head-less", "-", "", _digest_text(backbone), backbone["file"] or backbone["url"])
        out.print(table)
        for w in weights:
            if w["preprocessing"]:
                text = ", ".join(f"{k}={_short(v)}" for k, v in w["preprocessing"].items())
                out.print(f"[bold]{w['tag']} preprocessing[/bold]: {text}")
    else:
        out.print("no pretrained weights")


def _digest_text(entry: dict) -> str:
    """The digest a file is checked with, shortened: sha256 when known, else md5."""
    if entry.get("sha256"):
        return "sha256:" + entry["sha256"][:12] + "…"
    return "md5:" + entry["md5"][:12] + "…" if entry.get("md5") else "-"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def _print_rows(out, rows) -> None:
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


def _print_preset_info(out, info: dict) -> None:
    out.print(f"[bold]preset {info['name']}[/bold]  {info['family']} / {info['task']}  ({info['path']})")
    if info.get("description"):
        out.print(info["description"])
    arch = info.get("arch")
    _print_rows(out, [
        ("input shape", _shape_text(info.get("input_shape"))),
        ("classes", str(info.get("num_classes") if info.get("num_classes") is not None else "-")),
        ("labels", ", ".join(info.get("labels") or []) or "-"),
        ("architecture", arch["name"] if arch else "custom (not from the registry)"),
        ("dataset", info.get("dataset") or "-"),
        ("metrics", ", ".join(f"{k}={v}" for k, v in (info.get("metrics") or {}).items()) or "-"),
        ("weights sha256", info["files"]["weights"]["sha256"]),
        ("saved with", f"keras {info.get('keras_version')}, keras-zoo {info.get('zoo_version')}"),
    ])


@click.command("summary")
@click.argument("name")
@click.option("--num-classes", type=int, help="size of the head")
@click.option("--input-shape", help="input shape without the batch axis, e.g. 64,64,3")
@click.option("--pretrained", is_flag=False, flag_value="", default=None, help=PRETRAINED_HELP)
def summary_command(name, num_classes, input_shape, pretrained):
    """Build NAME (a model or preset directory) and print its layers and parameter count."""
    quiet_tensorflow()
    from zoo.create import create_model

    model = create_model(name, parse_pretrained(pretrained), num_classes=num_classes,
                         input_shape=parse_shape(input_shape))
    model.summary(print_fn=lambda line, *args, **kwargs: click.echo(line))
