"""84 public projects' werf.yaml (../shared/werf-yaml-corpus), each rendered by stagesweep and by the
Go reference (one Go process for all), compared byte for byte, then read strictly.

A project that cannot render is listed below with its reason, and both renderers must fail on it;
every other project must render in Go, come out identical, and read strictly (or be refused for
the listed reason). Nothing is skipped silently.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from adapters.werf_files import render_werf_config
from gotemplate import Commit
from schemas.config import validate_rendered_config
from schemas.errors import ConfigError
from tests.template.cases import commit_json
from tests.template.conftest import call_goref

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "werf-yaml-corpus"

#: the CI environment the templates see (names the corpus reads; values made up)
ENVIRONMENT = {
    "CI_COMMIT_REF_NAME": "main",
    "CI_COMMIT_REF_SLUG": "main",
    "CI_PROJECT_PATH_SLUG": "group-project",
    "RELEASE": "r1",
    "NAMESPACE": "apps",
    "ENVNAME": "production",
    "PRODUCT_NAME": "product",
    "SERVICE_NAME": "service",
}
WERF_ENV = ""  #: werf's --env (.Env), its default
COMMIT = Commit("4f5e" * 10, datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))

#: projects no werf can render as they are published: why, and what both renderers must say
CANNOT_RENDER = {
    "Artedayn__dm": ("a missing partial: header.tmpl is not in the repository", r"header\.tmpl"),
    "Horiodino__deckhouse": (
        "werf --env must name an edition of editions.yaml (and then candi/version_map.yml, a file not in the corpus, is needed)",
        r"Editions name not found",
    ),
    "flippay-cd__microservice-starter-fastapi": (
        "not a werf file: a cookiecutter template ({{ cookiecutter.project_slug }})",
        r"project_slug",
    ),
}

#: projects that render but that stagesweep's strict reading refuses, with the reason
REFUSED = {
    "Fkuloff__registry-operator-module": r"invalid image name 'ALPINE': image names must be lower case",
    "deckhouse__modules-template": r"invalid image name 'module-template/echoServer': image names must be lower case",
}


def projects() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.iterdir() if path.is_dir())


def config_of(project: Path) -> str:
    """werf's default config names: werf.yaml, or werf.yml when there is no werf.yaml."""
    return "werf.yaml" if (project / "werf.yaml").is_file() else "werf.yml"


def _go_request(werf2: bool) -> dict[str, object]:
    extra: dict[str, object] = {"werf2": True, "loose": True} if werf2 else {}
    return {
        "projects": [
            {
                "name": project.name,
                "dir": str(project),
                "config": config_of(project),
                "env": ENVIRONMENT,
                "werfEnv": WERF_ENV,
                "commit": commit_json(COMMIT.hash, COMMIT.time),
                **extra,
            }
            for project in projects()
        ]
    }


@pytest.fixture(scope="module")
def go_renders(goref: Path) -> dict[str, dict[str, object]]:
    """Every project rendered by the Go reference, in one process, as werf v1.1 reads a project."""
    return {r["name"]: r for r in call_goref(goref, _go_request(werf2=False), timeout=300)["results"]}


@pytest.fixture(scope="module")
def go_renders_werf2(goref: Path) -> dict[str, dict[str, object]]:
    """Every project rendered by the Go reference as werf 2.x renders it (loose giterminism: the
    made-up CI environment lacks variables some projects read without a default)."""
    return {r["name"]: r for r in call_goref(goref, _go_request(werf2=True), timeout=300)["results"]}


def render(project: Path) -> str:
    return render_werf_config(project, "werf.yaml", ENVIRONMENT, WERF_ENV, COMMIT).text


def test_the_corpus_is_there_and_every_listed_project_is_in_it() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared werf.yaml corpus is not beside this checkout ({CORPUS})")
    names = {project.name for project in projects()}
    assert len(names) >= 84
    assert set(CANNOT_RENDER) | set(REFUSED) <= names


@pytest.mark.parametrize("project", projects(), ids=lambda p: p.name)
def test_project_renders_byte_for_byte_like_go_then_reads_strictly(
    project: Path, go_renders: dict[str, dict[str, object]]
) -> None:
    go = go_renders[project.name]
    if project.name in CANNOT_RENDER:
        why, pattern = CANNOT_RENDER[project.name]
        assert not go["ok"], f"Go renders it now: drop it from CANNOT_RENDER ({why})"
        with pytest.raises(ConfigError, match=pattern):
            render(project)
        return
    assert go["ok"], f"Go cannot render it: {go['error']} — list it in CANNOT_RENDER with its reason"
    rendered = render_werf_config(project, "werf.yaml", ENVIRONMENT, WERF_ENV, COMMIT)
    assert rendered.text == go["output"]
    if project.name in REFUSED:
        with pytest.raises(ConfigError, match=REFUSED[project.name]):
            validate_rendered_config(rendered)
    else:
        config = validate_rendered_config(rendered)
        assert config.project and "<no value>" not in config.project


@pytest.mark.parametrize("project", projects(), ids=lambda p: p.name)
def test_project_renders_like_go_as_werf_2_then_reads_for_a_repo_run(
    project: Path, go_renders_werf2: dict[str, dict[str, object]]
) -> None:
    """The same corpus as a --repo run reads it: werf 2.x's functions and data; an upper-case
    image name is read."""
    go = go_renders_werf2[project.name]
    environ = {**ENVIRONMENT, "WERF_LOOSE_GITERMINISM": "1"}
    if not go["ok"]:
        with pytest.raises(ConfigError):
            render_werf_config(project, "werf.yaml", environ, WERF_ENV, COMMIT, werf2=True)
        return
    rendered = render_werf_config(project, "werf.yaml", environ, WERF_ENV, COMMIT, werf2=True)
    assert rendered.text == go["output"]
    config = validate_rendered_config(rendered, werf2=True)
    assert config.project and "<no value>" not in config.project


def test_most_of_the_corpus_renders_and_reads(go_renders: dict[str, dict[str, object]]) -> None:
    rendered = [name for name, result in go_renders.items() if result["ok"]]
    assert len(rendered) >= len(go_renders) - len(CANNOT_RENDER)
    assert len(rendered) - len(REFUSED) >= 75
