"""The package's shape: no import circles, small modules, a short top level.

Imports are read from the source, function-level ones included (a circle closed inside a
function is still a circle: it only fails later). Imports under `if TYPE_CHECKING:` are
left out: they are never executed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import ec2_connector

PACKAGE = Path(ec2_connector.__file__).parent
ROOT = PACKAGE.parent
MAX_LINES = 500
MAX_TOP_LEVEL = 16


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _executed(tree: ast.AST) -> list[ast.ImportFrom | ast.Import]:
    found: list[ast.ImportFrom | ast.Import] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imports_of(name: str) -> set[str]:
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in _executed(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            edges |= {a.name for a in node.names if a.name in MODULES}
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in MODULES:
                edges.add(submodule)
            elif source in MODULES:
                edges.add(source)
    edges.discard(name)
    return edges


def circles() -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    graph = {name: imports_of(name) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in graph:
        if name not in index:
            connect(name)
    return found


def test_the_package_has_no_import_circle() -> None:
    assert circles() == []


def test_the_walk_sees_imports() -> None:
    # The probe itself works: known edges, a function-level one among them.
    assert "ec2_connector.fanout" in imports_of("ec2_connector.execution")
    assert "ec2_connector.actions.runner" in imports_of("ec2_connector.single")
    assert "ec2_connector.jobs.worker" in imports_of("ec2_connector.cli.jobs")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by concept"


def test_the_top_level_is_short() -> None:
    top = [p for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()]
    modules = [p.name for p in top if p.suffix == ".py"]
    assert len(modules) <= MAX_TOP_LEVEL, sorted(modules)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_import_of_ours_names_a_module_that_exists(name: str) -> None:
    # Relative imports that point nowhere only fail when that line runs (a function-level
    # import): the tree is checked as a whole instead.
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _executed(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
        if node.module is None:  # `from . import x`: each x is a module
            defined = MODULES[source].read_text()  # or a name its __init__ defines
            missing = [a.name for a in node.names if f"{source}.{a.name}" not in MODULES
                       and not re.search(rf"^(?:def |class )?{a.name}\b", defined, re.M)]
            assert not missing, f"{name}:{node.lineno} imports no module {missing}"
        else:
            assert source in MODULES, f"{name}:{node.lineno}: no module {source}"


def test_the_slow_files_started_first_exist() -> None:
    """A file renamed or moved would silently lose its early start."""
    from tests.conftest import ROOT, SLOW_FIRST

    assert [name for name in SLOW_FIRST if not (ROOT / name).is_file()] == []


def test_no_test_module_imports_another() -> None:
    """What tests share lives in tests/harness (or a conftest), never in a test module."""
    from tests.conftest import ROOT

    pattern = re.compile(r"^\s*(from|import)\s+tests\.(\w+\.)*test_\w+", re.M)
    found = [str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("*.py")
             if pattern.search(path.read_text())]
    assert found == []
