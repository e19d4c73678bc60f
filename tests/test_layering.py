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


PROJECT_PACKAGES = {"schemas", "core", "adapters", "coordination", "tasks", "flows", "cli", "reports", "gotemplate", "tests"}
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
        str(path.relative_to(ROOT))
        for path in python_files("adapters")
        if {"prefect", "coordination", "tasks", "flows"} & imported_roots(path)
    ]
    assert offenders == []


def test_coordination_imports_neither_tasks_nor_flows() -> None:
    """Prefect coordination (a run's bookkeeping, locks, slots, limits, automations) serves tasks
    and flows; it never calls up into them (a deleting run gets its task calls handed in)."""
    files = python_files("coordination")
    assert files, "coordination/ has no modules"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & {"tasks", "flows", "cli"})
        for path in files
        if imported_roots(path) & {"tasks", "flows", "cli"}
    }
    assert offenders == {}


def test_tasks_holds_only_task_modules() -> None:
    """Every module of tasks/ defines a Prefect task; what is not a task lives elsewhere."""
    without = [
        str(path.relative_to(ROOT)) for path in python_files("tasks") if path.name != "__init__.py" and not defined_tasks(path)
    ]
    assert without == []


def defined_tasks(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "task":
                    found.append(node.name)
    return found


#: the layers from the bottom up: a module may import its own layer and the ones below
LAYERS = {
    "gotemplate": 0,
    "schemas": 1,
    "core": 2,
    "adapters": 2,
    "reports": 2,
    "coordination": 3,
    "tasks": 4,
    "flows": 5,
    "cli": 6,
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: list[str]) -> dict[str, set[str]]:
    """Module → the project modules it imports (anywhere in it: lazy imports count). `from pkg
    import sub` is an arrow to the module `pkg.sub`, not to the package's `__init__`."""
    modules = {module_name(path, root): path for package in packages for path in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in modules]
                targets.update(subs)
                if len(subs) < len(node.names) and node.module in modules:
                    targets.add(node.module)
        graph[name] = targets - {name}
    return graph


def arrows_up(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if LAYERS[target.split(".")[0]] > LAYERS[source.split(".")[0]]
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_circle_and_no_arrow_up_the_layers() -> None:
    graph = import_graph(ROOT, list(LAYERS))
    assert len(graph) > 100
    assert circles(graph) == []
    assert arrows_up(graph) == []


def test_the_graph_check_sees_a_circle_and_a_back_arrow(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "tasks").mkdir()
    (tmp_path / "core" / "a.py").write_text("from core import b\n")
    (tmp_path / "core" / "b.py").write_text("def f():\n    from core.a import x\n")
    (tmp_path / "tasks" / "t.py").write_text("from core.a import x\n")
    (tmp_path / "core" / "c.py").write_text("from tasks.t import y\n")
    graph = import_graph(tmp_path, ["core", "tasks"])
    assert circles(graph) == [["core.a", "core.b"]]
    assert arrows_up(graph) == ["core.c -> tasks.t"]


def test_flows_import_only_tasks_coordination_schemas_and_prefect() -> None:
    """A flow is a readable sequence of task calls: decisions are core functions behind tasks,
    I/O is adapters behind tasks; a deleting run's bookkeeping comes from coordination/."""
    allowed = {"flows", "tasks", "coordination", "schemas", "prefect", "__future__", "typing", "collections", "dataclasses"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) - allowed)
        for path in python_files("flows")
        if imported_roots(path) - allowed
    }
    assert offenders == {}


def test_every_task_is_defined_in_tasks() -> None:
    offenders = []
    for package in ("flows", "cli", "core", "adapters", "coordination", "schemas"):
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
