"""The package's modules import each other without circles, and no layer imports one above it.

Read from the source with ``ast`` (every ``import``, module level or inside a function, ``TYPE_CHECKING`` blocks
included), so a circle fails here before it fails somebody's import order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import irlas_darts

ROOT = Path(irlas_darts.__file__).parent
PACKAGE = "irlas_darts"

# The layers of ARCHITECTURE.md, bottom first: a package imports its own modules and the layers below its own, never
# a package of its own layer or of one above.
LAYERS = [
    {"spaces"},
    {"ops", "data", "topology", "optim", "distributed"},
    {"networks", "regularizers", "viz"},
    {"search", "evaluation", "prior"},
    {"report"},
    {"app"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports: ``pkg.x`` for ``from .x import y``, ``pkg.x.y`` when y is one."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & modules.keys()
            out |= subs if subs else {target}
    return {m for m in out if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_relative_and_lazy_imports():
    graph = import_graph()
    assert "irlas_darts.spaces.genotype" in graph["irlas_darts.spaces.base"]  # from .genotype import AnyGenotype
    assert "irlas_darts.spaces" in graph["irlas_darts.search.architecture"]  # from ..spaces import ...
    assert "irlas_darts.data" in graph["irlas_darts.app.config"]  # imported inside a function


def test_find_cycle_reports_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_between_the_package_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_of(module: str) -> int | None:
    return next((k for k, layer in enumerate(LAYERS) if package_of(module) in layer), None)


def test_every_subpackage_has_a_layer():
    tops = {m.split(".")[1] for m in all_modules() if m.count(".") >= 1}
    missing = tops - set().union(*LAYERS) - {"__main__", "conf", "resources"}
    assert not missing, f"add {sorted(missing)} to LAYERS (and ARCHITECTURE.md)"


@pytest.mark.parametrize("module,imports", sorted(import_graph().items()))
def test_nothing_imports_its_own_layer_or_one_above(module, imports):
    mine = layer_of(module)
    if mine is None:
        return
    against = sorted(m for m in imports
                     if package_of(m) != package_of(module) and layer_of(m) is not None and layer_of(m) >= mine)
    assert not against, f"{module} imports packages of its own layer or one above: {against}"
