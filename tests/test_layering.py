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


@pytest.mark.parametrize("package", ["core", "schemas", "gotemplate"])
def test_decision_layers_import_no_io_and_no_prefect(package: str) -> None:
    files = python_files(package)
    assert files, f"{package}/ has no modules"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & IO_OR_ORCHESTRATION)
        for path in files
        if imported_roots(path) & IO_OR_ORCHESTRATION
    }
    assert offenders == {}


PROJECT_PACKAGES = {"schemas", "core", "adapters", "tasks", "flows", "cli", "reports", "gotemplate", "tests"}
#: the one module of the project the template engine may use: its TemplateError is a ConfigError
FILE_SYSTEM = {"os", "pathlib", "io", "shutil", "tempfile", "glob", "fnmatch", "fcntl", "mmap"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def gotemplate_offenders(path: Path) -> list[str]:
    """What a module of the template engine imports that it must not: the project's other
    packages (but schemas.errors), and anything that does I/O."""
    bad = []
    for module in sorted(imported_modules(path)):
        root = module.split(".")[0]
        other_package = root in PROJECT_PACKAGES and root != "gotemplate"
        if other_package or root in IO_OR_ORCHESTRATION | FILE_SYSTEM:
            bad.append(module)
    return bad


def test_gotemplate_is_a_pure_library_importing_nothing_of_the_project() -> None:
    files = python_files("gotemplate")
    assert files, "gotemplate/ has no modules"
    offenders = {str(path.relative_to(ROOT)): gotemplate_offenders(path) for path in files if gotemplate_offenders(path)}
    assert offenders == {}


def test_gotemplate_check_sees_a_project_import_and_file_access(tmp_path: Path) -> None:
    bad = tmp_path / "engine.py"
    bad.write_text("from schemas.config import WerfConfig\nfrom schemas.errors import TemplateError\nimport os\n")
    assert gotemplate_offenders(bad) == ["os", "schemas.config", "schemas.errors"]


def test_adapters_never_import_prefect() -> None:
    offenders = [
        str(path.relative_to(ROOT)) for path in python_files("adapters") if {"prefect", "tasks", "flows"} & imported_roots(path)
    ]
    assert offenders == []


def test_flows_import_only_tasks_schemas_and_prefect() -> None:
    """A flow is a readable sequence of task calls: decisions are core functions behind tasks,
    I/O is adapters behind tasks."""
    allowed = {"tasks", "schemas", "prefect", "__future__", "typing", "collections", "dataclasses"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) - allowed)
        for path in python_files("flows")
        if imported_roots(path) - allowed
    }
    assert offenders == {}


def test_every_task_is_defined_in_tasks() -> None:
    offenders = []
    for package in ("flows", "cli", "core", "adapters", "schemas"):
        for path in python_files(package):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for decorator in node.decorator_list:
                        target = decorator.func if isinstance(decorator, ast.Call) else decorator
                        if isinstance(target, ast.Name) and target.id == "task":
                            offenders.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert offenders == []


def test_error_classes_live_in_schemas_errors() -> None:
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] in ("tests", ".venv", "bench") or path == ROOT / "schemas" / "errors.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id.endswith(("Error", "Failed", "Brake")) for b in node.bases
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert offenders == []


def test_layering_check_sees_a_flow_importing_core(tmp_path: Path) -> None:
    bad = tmp_path / "flow.py"
    bad.write_text("from core.plan import build_plan\nfrom adapters.audit import read_audit\n")
    assert {"core", "adapters"} <= imported_roots(bad) - {"tasks", "schemas", "prefect"}


def test_layering_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import prefect\nfrom kubernetes import client\n")
    assert {"prefect", "kubernetes"} <= imported_roots(bad)
