"""The fleet file: defaults merged into each project's cleanup settings; errors name the file,
the project and the key."""

from __future__ import annotations

import pytest

from schemas.errors import ConfigError
from schemas.fleet import FleetRunSettings, parse_fleet, registry_host

GOOD = """
defaults:
  keep_stages_built_within_last_n_hours: 4
  without_kube: true
  insecure_registry: true
projects:
  - name: acme
    git: file:///srv/git/acme.git
    images_repo: registry.example.com:5000/acme
    stages_storage: registry.example.com:5000/acme/stages
  - name: beta
    git: git@git.example.com:beta.git
    images_repo: oci:/srv/beta/images
    stages_storage: oci:/srv/beta/stages
    config_ref: release
    keep_stages_built_within_last_n_hours: 1
registries:
  Registry.Example.com:5000:
    max_concurrent_requests: 4
    requests_per_second: 20
"""


def test_defaults_merge_into_each_project_and_overrides_win():
    fleet = parse_fleet(GOOD, file="fleet.yaml")
    acme, beta = fleet.projects
    assert acme.settings.git_url == "file:///srv/git/acme.git"
    assert acme.settings.keep_stages_built_within_last_n_hours == 4 and acme.settings.without_kube
    assert beta.settings.keep_stages_built_within_last_n_hours == 1 and beta.settings.config_ref == "release"
    assert fleet.registries["registry.example.com:5000"].max_concurrent_requests == 4
    assert acme.registry_hosts == ["registry.example.com:5000"] and beta.registry_hosts == []
    assert [p.name for p in fleet.select(["beta"])] == ["beta"]
    run = FleetRunSettings(fleet_file="fleet.yaml", dry_run=True, audit_dir="s3://bucket/audit/")
    settings = run.project_settings(acme)
    assert settings.audit_dir == "s3://bucket/audit/project=acme" and settings.dry_run


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("projects: []", "key projects"),
        ("defaults: {no_such: 1}\nprojects: [{name: a, git: x, images_repo: r/a, stages_storage: r/s}]", "key defaults.no_such"),
        ("projects: [{name: a, git: x, images_repo: r/a}]", "key projects[a].stages_storage"),
        ("projects: [{name: a, git: x, images_repo: r/a, stages_storage: r/s, dir: /x}]", "key projects[a].dir"),
        (
            "projects: [{name: a, git: x, images_repo: r/a, stages_storage: r/s, max_deletions: -1}]",
            "key projects[a].max_deletions",
        ),
        (
            "projects: [{name: a, git: x, images_repo: r/a, stages_storage: r/s}, {name: a, git: y, images_repo: r/b, stages_storage: r/t}]",
            "key projects[a].name",
        ),
        ("projects: [{name: A!, git: x, images_repo: r/a, stages_storage: r/s}]", "key projects[0].name"),
        (
            "projects: [{name: a, git: x, images_repo: r/a, stages_storage: r/s}]\nregistries: {r: {max_concurrent_requests: 0}}",
            "key registries[r].max_concurrent_requests",
        ),
        ("projects: [{name: a, git: x, images_repo: r/a, stages_storage: r/s}]\nother: 1", "key other"),
        ("projects: [{name: a, git: x, repo: r/a, stages_storage: r/s}]", "key projects[a].stages_storage"),
        ("projects: [{name: a, git: x, images_repo: r/a, stages_storage: r/s, final_repo: r/f}]", "key projects[a].final_repo"),
        ("projects: [{name: a, repo: r/a}]", "key projects[a].git"),
    ],
)
def test_errors_name_the_file_the_project_and_the_key(text, where):
    with pytest.raises(ConfigError) as info:
        parse_fleet(text, file="/etc/fleet.yaml")
    assert str(info.value).startswith("/etc/fleet.yaml")
    assert where in str(info.value)


def test_unknown_project_selected_is_an_error():
    fleet = parse_fleet(GOOD, file="fleet.yaml")
    with pytest.raises(ConfigError, match="'gamma'"):
        fleet.select(["acme", "gamma"])


def test_registry_host_of_storage_addresses():
    assert registry_host("127.0.0.1:5000/a/b") == "127.0.0.1:5000"
    assert registry_host("oci:/x") is None and registry_host(":local") is None and registry_host(None) is None


def test_fleet_summary_has_a_reclaimable_bytes_column():
    from schemas.fleet import ProjectOutcome, fleet_markdown

    markdown = fleet_markdown(
        [ProjectOutcome("a", "completed", 1, 2, 0, 1.0, "run-a", reclaimable_bytes=4096), ProjectOutcome("b", "failed")],
        None,
        dry_run=False,
    )
    header, _, row_a, row_b = markdown.splitlines()[-4:]
    assert "reclaimable bytes" in header
    assert "| 4096 |" in row_a and "| ? |" in row_b


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (GOOD.replace("  without_kube: true\n", "  kube_config_base64: YXBpVmVyc2lvbjogdjEK\n"), "defaults.kube_config_base64"),
        (
            GOOD.replace("    config_ref: release\n", "    kube_config_base64: YXBpVmVyc2lvbjogdjEK\n"),
            "projects[beta].kube_config_base64",
        ),
    ],
)
def test_a_fleet_file_holding_a_credential_is_refused_saying_where_it_goes(text, path):
    with pytest.raises(ConfigError) as refused:
        parse_fleet(text, file="fleet.yaml")
    error = refused.value
    assert error.path == path
    assert "credential" in error.message and "YXBpVmVyc2lvbjogdjEK" not in str(error)
    assert "kube_config: PATH" in error.hint and "STAGESWEEP_KUBE_CONFIG_BASE64" in error.hint


def test_a_werf2_project_names_its_one_repository_and_final_repository():
    fleet = parse_fleet(
        "projects:\n  - {name: beta, git: x, repo: registry.example.com/beta/app, final_repo: other.example.com/beta}\n",
        file="fleet.yaml",
    )
    beta = fleet.project("beta")
    assert beta.settings.repo == "registry.example.com/beta/app" and beta.settings.final_repo == "other.example.com/beta"
    assert beta.settings.stages_storage is None and beta.settings.werf2
    assert beta.registry_hosts == ["other.example.com", "registry.example.com"]
