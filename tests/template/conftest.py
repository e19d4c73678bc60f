"""The Go reference renderer: built once per session from Debian's golang-go and Sprig packages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.template.cases import Case

GOREF_DIR = Path(__file__).resolve().parent / "goref"
GO_SOURCES = Path("/usr/share/gocode/src/github.com")
SPRIG_DIR = GO_SOURCES / "Masterminds" / "sprig"
DOUBLESTAR_DIR = GO_SOURCES / "bmatcuk" / "doublestar"  #: werf's glob matcher
PACKAGES = ["golang-go", "golang-github-masterminds-sprig-dev", "golang-github-bmatcuk-doublestar-dev"]


def _install_go() -> str | None:
    """Install Go and Sprig with apt when missing; return why not when that is impossible."""
    if shutil.which("go") and SPRIG_DIR.is_dir() and DOUBLESTAR_DIR.is_dir():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"Go reference renderer needs Debian packages {' '.join(PACKAGES)} (not root, cannot install)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    if subprocess.run(install, capture_output=True, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            return f"apt-get could not install {' '.join(PACKAGES)}: {result.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def goref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the built reference renderer binary."""
    reason = _install_go()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("goref")
    binary = work / "goref"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(work / "cache")}
    result = subprocess.run(
        ["go", "build", "-o", str(binary), "."], cwd=GOREF_DIR, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"go build of the reference renderer failed:\n{result.stderr}"
    return binary


def call_goref(binary: Path, request: dict[str, object], timeout: float = 120) -> dict[str, Any]:
    """One request to the reference renderer (see goref/main.go for its shape), one process."""
    result = subprocess.run([str(binary)], input=json.dumps(request), capture_output=True, text=True, check=True, timeout=timeout)
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def run_goref(binary: Path, cases: list[Case]) -> dict[str, dict[str, object]]:
    """Render every case with real Go in one process; name → {ok, output, error}."""
    answer = call_goref(binary, {"cases": [c.as_json() for c in cases]})
    return {r["name"]: r for r in answer["results"]}


@pytest.fixture(scope="session")
def go_results(goref: Path) -> Iterator[dict[str, dict[str, object]]]:
    from tests.template.corpus import CORPUS

    yield run_goref(goref, CORPUS)
