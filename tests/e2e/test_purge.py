"""Manual cleaning through the CLI: purge, images purge, stages purge (registry and :local)."""

from __future__ import annotations

import pytest

from adapters.registry import RegistryClient
from adapters.storage import open_stages_storage
from adapters.storage.publisher import Publisher
from tests.e2e.world import ago, basic_world, registry_world

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    return registry_world(git_project, registry, unique_repo, tmp_path)


def raw_tags(registry, repository: str) -> set[str]:
    return set(RegistryClient(registry.options()).list_tags(repository))


@pytest.mark.registry
def test_purge_removes_the_project_and_leaves_foreign_tags_and_client_ids(world, registry):
    basic_world(world)
    with world.publisher() as pub:
        pub.foreign("app", "hand-pushed-debug")
        broken = pub.build("app", built_at=ago(days=1), n_stages=1)
        pub.reject(broken.stages[0])
    world.stages().write_client_id("ci-runner-1", 1700000000000)
    result = world.cleanup("purge")
    assert result.exit_code == 0, result.output
    assert world.image_tags() == set()
    assert raw_tags(registry, world.images_address + "/app") == {"hand-pushed-debug"}
    left = raw_tags(registry, world.stages_address)
    assert left and all(t.startswith("client-id-") for t in left)
    audit = world.last_audit()
    assert set(audit.reason) == {"purge"} and set(audit.outcome) == {"deleted"}
    assert {"image-tag", "stage", "rejected-marker", "image-metadata", "managed-image"} == set(audit.item_type)


@pytest.mark.registry
def test_images_purge_keeps_the_stages_storage(world):
    basic_world(world)
    stages_before = world.stage_tags()
    result = world.cleanup("images purge")
    assert result.exit_code == 0, result.output
    assert world.image_tags() == set()
    assert world.stage_tags() == stages_before


@pytest.mark.registry
def test_purge_dry_run_lists_everything_and_deletes_nothing(world):
    basic_world(world)
    before = (world.image_tags(), world.stage_tags(), world.metadata_commits())
    result = world.cleanup("purge", "--dry-run")
    assert result.exit_code == 0, result.output
    assert (world.image_tags(), world.stage_tags(), world.metadata_commits()) == before
    audit = world.last_audit()
    assert set(audit.outcome) == {"would-delete"}
    assert len(audit[audit.item_type == "image-tag"]) == len(before[0])


@pytest.mark.docker
def test_local_stages_purge_refuses_a_stage_used_by_a_container_until_forced(dockerd, git_project, tmp_path):
    project = "localpurge"
    (git_project.work / "werf.yaml").write_text(f"project: {project}\nconfigVersion: 1\n---\nimage: app\n")
    stages = open_stages_storage(":local", project, docker_host=dockerd.host)
    with Publisher(stages) as pub:
        pub.manage("app")
        built = pub.build("app", built_at=ago(days=2), n_stages=2)
    image = f"werf-stages-storage/{project}:{built.stage_tags[-1]}"
    dockerd.create_container(image, "uses-a-stage")

    def stages_purge(*extra):
        from typer.testing import CliRunner

        from cli.app import app

        return CliRunner().invoke(
            app,
            [
                "stages",
                "purge",
                "--stages-storage",
                ":local",
                "--docker-host",
                dockerd.host,
                "--dir",
                str(git_project.work),
                "--audit-dir",
                str(tmp_path / "audit"),
                *extra,
            ],
            catch_exceptions=False,
        )

    refused = stages_purge()
    assert refused.exit_code == 1
    assert "uses-a-stage" in refused.output and "--force" in refused.output
    assert set(built.stage_tags) <= set(stages.list_stages().column("tag").to_pylist())
    forced = stages_purge("--force")
    assert forced.exit_code == 0, forced.output
    assert stages.list_stages().num_rows == 0
    assert stages.list_managed_images().num_rows == 0
    names = [c.name for c in dockerd.client().containers.list(all=True)]
    assert "uses-a-stage" not in names
