"""The package's layering holds: every import (at a module's top or inside a function) goes to its
own layer or one listed above it in docs/architecture.md, every module has a layer there, and no
two modules import each other at load time, directly or round a loop."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "headsplat"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def documented_layers(text: str) -> dict[str, int]:
    """Each top-level package or module of the layer list (the code block of "Layout and
    layering") and its rank, from 0 (the bottom, the list's first line)."""
    section = text.split("## 2. Layout and layering", 1)[1]
    block = section.split("```", 2)[1]
    layers = {}
    for line in block.splitlines():
        head = re.match(r"^((?:[\w.]+/?,\s*)*[\w.]+/?)\s", line + " ")
        if head and not line.startswith(" "):
            rank = len(set(layers.values()))
            for name in re.split(r",\s*", head.group(1)):
                layers[name.removesuffix("/").removesuffix(".py")] = rank
    return layers


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported headsplat module, at load time) for each import of ``path``: at load time unless
    inside a function or under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    deferred = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        or (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))
        for inner in ast.walk(node)
        if inner is not node
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("headsplat"):
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name.startswith("headsplat")]
        else:
            continue
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}: a relative import"
        for target in targets:
            if resolves(target):
                found.append((target, id(node) not in deferred))
    return found


def resolves(name: str) -> bool:
    """Whether ``name`` is a module of the package (not a name inside one)."""
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or (PACKAGE.parent / relative).is_dir()


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
LAYERS = documented_layers(ARCHITECTURE.read_text())


def test_the_documented_list_is_read():
    assert LAYERS["io"] == 0 and LAYERS["cli"] > LAYERS["apps"] > LAYERS["training"] > LAYERS["avatar"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_its_own_layer_or_those_below(module):
    assert top(module) in LAYERS, f"{module}: add {top(module)} to docs/architecture.md's layer list"
    upward = [
        target
        for target, _ in imports(MODULES[module])
        if target != "headsplat" and LAYERS[top(target)] > LAYERS[top(module)]
    ]
    assert not upward, f"{module} imports upwards (docs/architecture.md, the layer list): {upward}"


def test_no_two_modules_import_each_other_at_load_time():
    graph = {
        module: {target for target, at_load in imports(path) if at_load and target != module}
        for module, path in MODULES.items()
    }
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"
