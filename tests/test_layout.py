"""The package layout is the architecture: data flows one way (name -> registry ->
spec -> builder -> layers -> ops -> op library -> kernel core), so no module imports
one of a higher step, lazily or not, and no two modules import each other in a
circle. Checked from the code's own imports (every ``import`` statement, inside
functions too), read with ``ast`` from the installed package's sources."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import zoo

ROOT = Path(zoo.__file__).parent

# step -> the steps it may import (besides itself and the root package's metadata).
# Leaves first; zoo.cli and the former-path shims sit on top and may import anything.
BASE = {"zoo.errors", "zoo._native", "zoo._malloc", "zoo._C"}
ALLOWED = {
    "zoo.errors": set(),
    "zoo._C": set(),
    "zoo._malloc": set(),
    "zoo._native": {"zoo._C", "zoo._malloc"},
    "zoo.registry": {"zoo.errors"},
    "zoo.hub": {"zoo.registry", "zoo.errors"},
    "zoo.ops": BASE,
    "zoo.layers": BASE | {"zoo.ops"},
    "zoo.models": BASE | {"zoo.ops", "zoo.layers", "zoo.registry"},
    "zoo.create": BASE | {"zoo.registry", "zoo.hub", "zoo.models"},
    "zoo.export": BASE | {"zoo.ops", "zoo.layers", "zoo.models"},
    "zoo.inference": set(),  # any Keras model: it needs nothing of zoo
    "zoo.training": BASE | {"zoo.registry", "zoo.hub", "zoo.ops", "zoo.layers", "zoo.models", "zoo.create"},
}
# zoo._export_tf is a `python -m` entry point (zoo.export's TensorFlow child), like __main__.
TOP = {"zoo.cli", "zoo.__main__", "zoo._export_tf", "zoo.presets", "zoo.recipes", "zoo.distribute"}
STEPS = sorted(set(ALLOWED) | TOP, key=len, reverse=True)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def step_of(module: str) -> str | None:
    for step in STEPS:
        if module == step or module.startswith(step + "."):
            return step
    return None


def lazy_target(name: str) -> str | None:
    """What ``from zoo import name`` really imports (zoo's lazy public API)."""
    target = zoo._LAZY.get(name)
    return target.partition(":")[0] if target else None


def imports_of(path: Path) -> set[str]:
    """The zoo modules one source file imports; ``"zoo"`` for the whole lazy API."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "zoo")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "zoo":
                continue
            for alias in node.names:
                if base == "zoo":
                    if alias.name == "__version__":
                        continue
                    if (ROOT / alias.name).is_dir() or any(ROOT.glob(f"{alias.name}.*")):  # .py or .so
                        found.add(f"zoo.{alias.name}")
                    else:
                        found.add(lazy_target(alias.name) or "zoo")
                else:
                    found.add(base)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(ROOT.rglob("*.py")):
        graph[module_name(path)] = {m for m in imports_of(path)} - {module_name(path)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle between modules, or None (a package counts as its __init__)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, deps in sorted(graph.items()):
        step = step_of(module)
        if step is None:
            if module != "zoo":
                problems.append(f"{module} belongs to no step of the layout")
            continue
        if step in TOP:
            continue
        for dep in sorted(deps):
            target = step_of(dep)
            if dep == "zoo" or target is None:
                problems.append(f"{module} imports {dep}, which can reach every step")
            elif target != step and target not in ALLOWED[step]:
                problems.append(f"{module} ({step}) imports {dep} ({target}), which is not below it")
    return problems


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_step_imports_a_higher_one():
    assert upward_imports(import_graph()) == []


def test_the_checks_catch_a_cycle_and_an_upward_import():
    # today's knot before the layout change: the factory and presets loading each other
    graph = {"zoo.create": {"zoo.hub.presets"}, "zoo.hub.presets": {"zoo.create"}, "zoo.registry.catalog": set()}
    assert find_cycle(graph) == ["zoo.create", "zoo.hub.presets", "zoo.create"]
    assert upward_imports(graph) == ["zoo.hub.presets (zoo.hub) imports zoo.create (zoo.create), which is not below it"]
    assert upward_imports({"zoo.registry.catalog": {"zoo"}}) == [
        "zoo.registry.catalog imports zoo, which can reach every step"]


def test_every_subpackage_says_what_it_owns_and_may_import():
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in doc, f"{init.parent.name}/__init__.py should open with what it owns and may import"


@pytest.mark.parametrize("old, name, new", [
    ("zoo.presets", "build_architecture", "zoo.create"),
    ("zoo.presets", "build_from_preset", "zoo.create"),
    ("zoo.presets", "read_package_meta", "zoo.hub.presets"),
    ("zoo.recipes", "semi_supervised", "zoo.training.recipes"),
    ("zoo.distribute", "resolve_strategy", "zoo.training.distribute"),
])
def test_former_import_paths_still_work(old, name, new):
    """Installed model packages name ``zoo.presets:build_architecture``; README showed the others."""
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_public_api_resolves():
    for name in zoo.__all__:
        assert getattr(zoo, name) is not None
    assert callable(zoo.finetune) and zoo.reset_head is zoo.finetune.reset_head
