"""``zoo plugins`` and ``zoo doctor``: what is installed and what is broken."""

from __future__ import annotations

import platform
import sys
import warnings

import click

from zoo.cli.common import console, print_json, quiet_tensorflow


def _plugins_quietly():
    """Discover plugins without the load warnings: these commands report failures themselves."""
    from zoo.registry import ZooPluginWarning, list_plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZooPluginWarning)
        return list_plugins()


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plugins_command(as_json):
    """List the zoo.models entry points, the models each gives, and load errors."""
    plugins = _plugins_quietly()
    if as_json:
        print_json([p.to_dict() for p in plugins])
        return
    from rich.table import Table

    table = Table(title=f"{len(plugins)} plugin(s) in entry-point group 'zoo.models'", title_justify="left")
    for column in ("plugin", "distribution", "kind", "models", "status"):
        table.add_column(column, overflow="fold")
    for p in plugins:
        status = "[green]ok[/green]" if p.ok else f"[red]failed: {p.error}[/red]"
        models = ", ".join(p.models) if len(p.models) <= 6 else f"{len(p.models)} models"
        table.add_row(p.name, f"{p.distribution or '?'} {p.version or ''}", "built-in" if p.builtin else "third-party",
                      models or "-", status)
    console().print(table)


@click.command("doctor")
def doctor_command():
    """Check the installation: versions, native kernels, weights cache, plugins.

    Exits with status 1 when something needs fixing.
    """
    quiet_tensorflow()
    from zoo import __version__
    from zoo.hub import weights as weights_lib

    out = console()
    problems = []
    out.print(f"[bold]keras-zoo {__version__}[/bold] on Python {platform.python_version()} ({sys.executable})")

    tf_version, keras_version = _version("tensorflow", problems), _version("keras", problems)
    out.print(f"TensorFlow {tf_version}, Keras {keras_version}")

    out.print("[bold]native kernels[/bold]")
    try:
        from zoo import _native

        status = _native.status()
    except Exception as exc:  # doctor must report, not crash
        status = {"error": f"{type(exc).__name__}: {exc}"}
        problems.append(f"native status unavailable: {status['error']}")
    for key, value in status.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        out.print(f"  {key}: {value}")
        if isinstance(value, str) and value.startswith("not loaded"):
            problems.append(f"native {key} {value}")
    _check_backend(out, problems)
    try:
        out.print(f"  isa in use: {_native.get_isa()}")
    except Exception as exc:
        out.print(f"  isa in use: unknown ({type(exc).__name__}: {exc})")

    cache = weights_lib.cache_dir()
    files = [p for p in cache.rglob("*") if p.is_file()] if cache.is_dir() else []
    size = sum(p.stat().st_size for p in files)
    out.print(f"[bold]weights cache[/bold] {cache} ({len(files)} files, {size / 1e6:.1f} MB; "
              "set ZOO_HOME to move it)")

    plugins = _plugins_quietly()
    failed = [p for p in plugins if not p.ok]
    models = sum(len(p.models) for p in plugins)
    out.print(f"[bold]plugins[/bold] {len(plugins)} found, {models} models, {len(failed)} failed")
    for p in failed:
        out.print(f"  [red]{p.describe()} failed: {p.error}[/red]")
        problems.append(f"{p.describe()} failed to load")

    if problems:
        out.print(f"[yellow]{len(problems)} problem(s) found[/yellow]")
        sys.exit(1)
    out.print("[green]no problems found[/green]")


def _check_backend(out, problems: list) -> None:
    """The Keras backend, and whether zoo's kernels can run on it."""
    try:
        import keras

        from zoo import _native

        backend = keras.backend.backend()
    except Exception as exc:  # doctor must report, not crash
        out.print(f"  keras backend: unknown ({type(exc).__name__}: {exc})")
        return
    if backend in _native.NATIVE_BACKENDS:
        out.print(f"  keras backend: {backend}")
        return
    out.print(f"  keras backend: {backend} (no zoo kernels: zoo's keras.ops references run)")
    try:
        _native.check_backend_has_kernels(backend)
    except _native.NativeUnavailableError as exc:  # required, and there are none
        problems.append(str(exc))


def _version(module_name: str, problems: list) -> str:
    try:
        module = __import__(module_name)
        return getattr(module, "__version__", "?")
    except Exception as exc:
        problems.append(f"{module_name} does not import: {exc}")
        return f"not importable ({type(exc).__name__}: {exc})"
