"""The import structure stays one-directional: every internal import read from the source (AST).

errors/deps -> core -> text -> corpus -> model -> train | infer -> finetune -> serve -> api -> demo | adapt -> commands -> cli
A module may import its own package and any package of a lower layer, never a higher one or its
sibling (train and infer do not import each other); finetune sits above both (it runs the training
loop) and neither imports it; no two modules import each other, even indirectly; internal imports
sit at module top, where the graph is visible.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "jaroberta"

LAYERS = {
    "errors": 0, "deps": 0.5, "core": 0.7,
    "text": 1, "corpus": 2, "model": 3,
    "train": 5, "infer": 5, "finetune": 5.5,
    "service": 6, "api": 7, "demo": 8, "adapt": 8, "commands": 9, "cli": 10, "__main__": 11,
}
"""Package (first name under jaroberta) -> layer. Equal layers are siblings: neither imports the other."""


def _modules() -> dict[str, Path]:
    modules = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(("jaroberta", *path.relative_to(SRC).with_suffix("").parts))
        modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _modules()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _imports(module: str) -> list[tuple[str, bool]]:
    """(internal module imported, at module top?) for every import statement of `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
            if node.level:
                base = ".".join(base.split(".")[: len(base.split(".")) - node.level + 1])
                prefix = f"{base}.{node.module}" if node.module else base
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != module:
                found.append((target, id(node) in top))
    return found


def test_every_package_has_a_layer():
    assert {_package(m) for m in MODULES} - {"<root>"} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_and_sit_at_module_top(module):
    source = _package(module)
    for target, at_top in _imports(module):
        assert at_top, f"{module} imports {target} inside a function: internal imports go at module top"
        destination = _package(target)
        if destination in (source, "<root>") or source == "<root>":
            continue  # its own package; the root facade (version, verbs)
        assert LAYERS[destination] < LAYERS[source], (
            f"{module} imports {target}: {source} (layer {LAYERS[source]}) may only import lower layers, "
            f"not {destination} (layer {LAYERS[destination]})"
        )


def test_no_import_cycles_between_modules():
    graph = {m: {t for t, _ in _imports(m) if not (MODULES[t].name == "__init__.py" and m.startswith(t + "."))}
             for m in MODULES}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
