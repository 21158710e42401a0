"""No import runs up the house: converters/ imports nothing from hypernet/ or app/, and hypernet/
imports nothing from app/ (docs/architecture.md), wherever in a file the import is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BELOW = {"converters": {"hypernet", "app"}, "hypernet": {"app"}}  # package -> what it must not import


def imported_packages(path: Path) -> dict[str, int]:
    """The top-level packages a source file imports (absolute imports), with a line of each."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


@pytest.mark.parametrize("package", sorted(BELOW))
def test_a_package_imports_nothing_above_it(package):
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no source files under {package}/"
    upward = [f"{path.relative_to(REPO)}:{line} imports {name}" for path in files
              for name, line in imported_packages(path).items() if name in BELOW[package]]
    assert upward == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from app.paths import home_dir\n")
    assert imported_packages(source) == {"os": 1, "app": 4}
