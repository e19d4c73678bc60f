"""`stagesweep fleet cleanup FILE` with projects as in-process subflows: git origins by file://,
one registry; a project with a broken werf.yaml fails alone."""

from __future__ import annotations

import pyarrow.dataset as ds
import pytest
import yaml

from tests.e2e.world import WERF_YAML, World, ago, basic_world, registry_world
from tests.fixtures.gitrepo import GitProject

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


def fleet_world(
    registry, unique_repo, tmp_path, names: list[str], broken: set[str] = frozenset(), host: str | None = None
) -> tuple[dict[str, World], dict]:
    """One git origin and one images repo + stages storage per project, all in one registry
    (reached at `host`, e.g. a counting proxy, when given)."""
    worlds, projects = {}, []
    host = host or registry.host
    for name in names:
        git = GitProject(tmp_path / f"git-{name}")
        world = registry_world(git, registry, f"{unique_repo}/{name}", tmp_path, host=host)
        world.project = name
        facts = basic_world(world)
        text = "project: [broken\n" if name in broken else WERF_YAML.format(project=name, extra="")
        git.commit("main", ago(hours=12), tree=git.tree({"werf.yaml": text}))
        git.push("main")
        worlds[name] = (world, facts)
        projects.append(
            {
                "name": name,
                "git": git.origin.as_uri(),
                "images_repo": world.images_address,
                "stages_storage": world.stages_address,
            }
        )
    fleet = {
        "defaults": {"insecure_registry": True, "without_kube": True},
        "projects": projects,
        "registries": {host: {"max_concurrent_requests": 4}},
    }
    return worlds, fleet


def test_fleet_in_process_one_broken_project_fails_alone_and_a_rerun_deletes_nothing(registry, unique_repo, tmp_path):
    worlds, fleet = fleet_world(registry, unique_repo, tmp_path, ["alpha", "beta", "gamma"], broken={"beta"})
    # a project whose git URL does not answer fails alone too
    unreachable = {**fleet["projects"][0], "name": "delta", "git": (tmp_path / "nowhere.git").as_uri()}
    fleet["projects"].append({**unreachable, "images_repo": unreachable["images_repo"] + "-delta"})
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    audit = tmp_path / "fleet-audit"
    any_world = worlds["alpha"][0]
    env = {"HOME": str(tmp_path)}
    result = any_world.cli("fleet", "cleanup", str(path), "--audit-dir", str(audit), env=env)
    assert result.exit_code == 3, result.output
    assert "2 of 4 projects failed: beta, delta" in result.output
    for name in ("alpha", "gamma"):
        world, facts = worlds[name]
        tags = world.image_tags()
        assert facts["f1"] not in tags and "feature" not in tags and facts["c2"] in tags
    beta, beta_facts = worlds["beta"]
    assert beta_facts["f1"] in beta.image_tags()  # untouched
    table = ds.dataset(audit, format="parquet", partitioning="hive").to_table().to_pandas()
    assert set(table.project.unique()) == {"alpha", "gamma"}  # werf project names
    assert {p.name for p in audit.iterdir()} == {"project=alpha", "project=beta", "project=gamma", "project=delta"}
    # the healthy projects again, only them: nothing left to delete
    again = any_world.cli("fleet", "cleanup", str(path), "--projects", "alpha,gamma", "--audit-dir", str(audit), env=env)
    assert again.exit_code == 0, again.output
    table = ds.dataset(audit, format="parquet", partitioning="hive").to_table().to_pandas()
    latest = table.sort_values("started_at").groupby("project").tail(1).run_id
    assert set(table[table.run_id.isin(set(latest))].outcome) <= {"kept"}


def test_fleet_file_error_names_the_project_and_key(registry, unique_repo, tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text("projects:\n  - name: alpha\n    git: file:///nowhere\n    images_repo: x/y\n")
    result = World(git=None, stages_address="", images_address="", options=None, audit_dir=tmp_path).cli(
        "fleet", "cleanup", str(path), "--audit-dir", str(tmp_path / "a")
    )
    assert result.exit_code == 1, result.output
    assert "fleet.yaml" in result.output and "projects[alpha].stages_storage" in result.output


def test_fleet_limits_registry_requests_across_projects_and_creates_the_limits(registry, unique_repo, tmp_path, fault_proxy):
    worlds, fleet = fleet_world(registry, unique_repo, tmp_path, ["one", "two"], host=fault_proxy.host)
    fleet["registries"] = {fault_proxy.host: {"max_concurrent_requests": 2, "requests_per_second": 200}}
    fleet["defaults"]["parallel_tasks_limit"] = 16
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    fault_proxy.max_in_flight = 0
    result = worlds["one"][0].cli(
        "fleet", "cleanup", str(path), "--audit-dir", str(tmp_path / "audit"), env={"HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert sum(fault_proxy.requests.values()) > 20
    assert 1 <= fault_proxy.max_in_flight <= 2
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(f"registry:{fault_proxy.host}").limit == 2
        rate = client.read_global_concurrency_limit_by_name(f"registry-rate:{fault_proxy.host}")
        assert rate.slot_decay_per_second == 200
        assert client.read_global_concurrency_limit_by_name("project:one").limit == 1
