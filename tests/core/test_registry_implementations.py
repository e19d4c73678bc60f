"""The registry implementations table: detection from a host, the options' precedence, and the
README's "Registries" table kept in step with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.registry.vendors import deleter_class, resolve_implementation
from schemas.registry_implementations import IMPLEMENTATIONS, RepoImplementation, detect
from schemas.settings import CommonSettings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("ghcr.io", "github"),
        ("docker.pkg.github.com", "github"),
        ("registry.gitlab.com", "gitlab"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr"),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "ecr"),
        ("acme.azurecr.io", "acr"),
        ("quay.io", "quay"),
        ("docker.io", "dockerhub"),
        ("index.docker.io", "dockerhub"),
        ("registry-1.docker.io", "dockerhub"),
        ("gcr.io", "gcr"),
        ("eu.gcr.io", "gcr"),
        ("europe-west1-docker.pkg.dev", "gcr"),
        ("harbor.example.com:8443", None),  # Harbor is found by probing its API, never by its name
        ("123456789012.dkr-ecr.eu-west-1.on.aws", "ecr"),
        ("127.0.0.1:5000", None),
        ("registry.example.com", None),
    ],
)
def test_host_patterns_pick_the_vendor(host, expected):
    found = detect(host)
    assert (found.value if found else None) == expected


def test_an_explicit_option_wins_over_the_host_and_says_so():
    assert resolve_implementation("gitlab", "ghcr.io", "--repo-implementation") == (
        RepoImplementation.GITLAB,
        "set by --repo-implementation",
    )
    impl, why = resolve_implementation("auto", "ghcr.io", "--repo-implementation")
    assert impl == RepoImplementation.GITHUB and "ghcr.io" in why
    assert resolve_implementation("auto", "127.0.0.1:5000", "--repo-implementation")[0] == RepoImplementation.DEFAULT


def test_a_storage_option_overrides_the_option_for_both():
    settings = CommonSettings(stages_storage="x/y", repo_implementation="gcr", images_repo_implementation="quay")
    assert settings.implementation_option("images_repo") == ("quay", "--images-repo-implementation")
    assert settings.implementation_option("stages_storage") == ("gcr", "--repo-implementation")


def test_an_unknown_implementation_is_refused_listing_the_supported_ones():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        CommonSettings(stages_storage="x/y", repo_implementation="artifactory")
    assert "gitlab" in str(info.value) and "ecr" in str(info.value)


@pytest.mark.parametrize("name", [n for n in RepoImplementation if n != RepoImplementation.AUTO])
def test_every_implementation_has_a_deleter_and_a_readme_row_with_its_hosts(name):
    assert deleter_class(name).implementation == name
    section = README.read_text().split("## Registries", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z]+)` \|.*$", section, re.M)}
    assert name.value in rows
    for pattern in IMPLEMENTATIONS[name].hosts:
        assert f"`{pattern}`" in rows[name.value] or pattern.startswith("*.dkr.ecr"), pattern
