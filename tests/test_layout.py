"""The house plan, checked: imports go `indexer -> search <- api`, `migrations -> search`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# Which top-level packages each package may import.
ALLOWED = {
    "search": set(),
    "migrations": {"search"},
    "indexer": {"search", "migrations"},
    "api": {"search", "migrations"},
}
OURS = set(ALLOWED)


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_house_plan(package: str) -> None:
    wrong = {
        str(path.relative_to(REPO)): sorted(imported - ALLOWED[package] - {package})
        for path in sorted((REPO / package).rglob("*.py"))
        if (imported := imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert not wrong, wrong


MAX_MODULE_LINES = 300


def test_no_module_is_over_300_lines() -> None:
    sources = [path for package in (*ALLOWED, "scripts") for path in (REPO / package).rglob("*.py")]
    long = {
        str(path.relative_to(REPO)): lines
        for path in sources
        if "versions" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long
