"""Imports run one way: what runs in GIMP takes only the client; the engine never takes the service, the installer
never the engine; the service reaches the engine only through the worker's one door; no module circles."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.quick

# Package -> the packages it may import (besides itself).  nst_server.cli and nst_server.doctor are the
# command line's glue over every part, so they are not listed.
ALLOWED = {
    "gimp_plugin": {"nst_server.client"},
    "nst_server.client": set(),
    "nst_server.pipe": {"nst_server.client"},
    "nst_server.engine": {"nst_server.client", "nst_server.pipe"},
    "nst_server.service": {"nst_server.client", "nst_server.pipe", "nst_server.engine.jobs"},
    "nst_server.installer": {"nst_server.client"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def project_modules() -> dict[str, Path]:
    files = [*(REPO / "nst_server").rglob("*.py"), *(REPO / "gimp_plugin").rglob("*.py")]
    return {module_name(p): p for p in files if "__pycache__" not in p.parts}


def imports(path: Path) -> set[str]:
    """The project modules ``path`` imports (``from a import b`` counts as a.b when that is a module)."""
    modules = project_modules()
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):  # imports inside functions and TYPE_CHECKING blocks count too
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules.keys()
            found |= submodules or {node.module}  # ``from package import module`` takes the module alone
    return {name for name in found if name in modules}


def package_of(module: str) -> str | None:
    return next((p for p in sorted(ALLOWED, key=len, reverse=True) if module == p or module.startswith(p + ".")),
                None)


def test_every_import_follows_the_direction_rules():
    wrong = []
    for module, path in project_modules().items():
        package = package_of(module)
        if package is None:
            continue
        for target in imports(path):
            if target == "nst_server":
                continue  # the root package holds only the version (copied beside the plug-in too)
            allowed = ALLOWED[package] | {package}
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the rules:\n" + "\n".join(sorted(wrong))


def test_no_module_imports_itself_in_a_circle():
    """Counting imports inside functions and for type checking: a circle hides which module depends on which."""
    modules = project_modules()
    graph = {m: {t for t in imports(p) if t != m} for m, p in modules.items()}
    circles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package's __init__ importing its own modules, which import the package for a name, is not a circle.
    circles = [c for c in circles if not all(part.startswith(c.split(" -> ")[0]) for part in c.split(" -> "))]
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_every_module_is_small_enough_to_own_one_thing():
    """A module past 400 lines has grown a second job (issue 19): split it by what it owns."""
    too_long = {name: n for name, path in project_modules().items()
                if (n := len(path.read_text().splitlines())) > 400}
    assert too_long == {}
