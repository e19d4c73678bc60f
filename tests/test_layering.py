"""The layering rules of ARCHITECTURE.md, checked by parsing imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

IO_OR_ORCHESTRATION = {
    "prefect",
    "git",
    "docker",
    "kubernetes",
    "http",
    "urllib3",
    "requests",
    "httpx",
    "socket",
    "ssl",
    "subprocess",
    "adapters",
    "tasks",
    "flows",
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["core", "schemas"])
def test_decision_layers_import_no_io_and_no_prefect(package: str) -> None:
    files = python_files(package)
    assert files, f"{package}/ has no modules"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & IO_OR_ORCHESTRATION)
        for path in files
        if imported_roots(path) & IO_OR_ORCHESTRATION
    }
    assert offenders == {}


def test_adapters_never_import_prefect() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files("adapters")
        if {"prefect", "tasks", "flows"} & imported_roots(path)
    ]
    assert offenders == []


def test_layering_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import prefect\nfrom kubernetes import client\n")
    assert {"prefect", "kubernetes"} <= imported_roots(bad)
