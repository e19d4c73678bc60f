"""The :local stages storage in a real (private) Docker daemon."""

from __future__ import annotations

import hashlib

import pytest

from adapters.storage import open_stages_storage
from adapters.storage.publisher import Publisher, at
from schemas.errors import DockerHostError

pytestmark = pytest.mark.docker

T0 = at("2024-05-01T10:00:00")
COMMIT = "d" * 40


@pytest.fixture
def local(request, dockerd):
    project = "l" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]
    stages = open_stages_storage(":local", project, docker_host=dockerd.host)
    yield stages
    client = dockerd.client()
    for container in client.containers.list(all=True, filters={"name": project}):
        container.remove(force=True)
    for repository in (stages.stages_repository, stages.managed_repository, stages.metadata_repository):
        for image in client.api.images(filters={"reference": repository}):
            client.api.remove_image(image["Id"], force=True)


def test_records_use_the_werf_local_image_names(local, dockerd) -> None:
    with Publisher(local) as pub:
        app = pub.build("app", built_at=T0, n_stages=1)
        pub.record_commit(app, COMMIT)
        pub.manage("backend/api")
    p = local.project

    tags = {tag for image in dockerd.client().api.images() for tag in image["RepoTags"] or [] if p in tag}

    assert tags == {
        f"werf-stages-storage/{p}:{app.stages[0].tag}",
        f"werf-images-metadata-by-commit/{p}:app-{COMMIT}",
        f"werf-managed-images/{p}:backend__slash__api",
    }
    assert local.list_metadata().column("repository").to_pylist() == [f"werf-images-metadata-by-commit/{p}"]
    assert local.list_managed_images().column("image_name").to_pylist() == ["backend/api"]


def test_stage_image_id_is_the_config_digest_docker_reports(local, dockerd) -> None:
    app = Publisher(local).build("app", built_at=T0, n_stages=2)

    inspected = dockerd.client().api.inspect_image(f"{local.stages_repository}:{app.stages[1].tag}")

    assert inspected["Id"] == app.stages[1].image_id
    assert inspected["Config"]["Image"] == app.stages[0].image_id
    assert inspected["Config"]["Labels"]["werf"] == local.project
    assert inspected["Config"]["Labels"]["werf-cache-version"] == "1.1"


def test_reports_the_containers_using_each_stage(local, dockerd) -> None:
    with Publisher(local) as pub:
        app = pub.build("app", built_at=T0, n_stages=3)
    first, second, third = (f"{local.stages_repository}:{s.tag}" for s in app.stages)
    dockerd.run_container(first, f"{local.project}-running")
    dockerd.create_container(second, f"{local.project}-created")

    using = local.containers_using_stages()

    assert using == {
        app.stages[0].tag: [f"{local.project}-running"],
        app.stages[1].tag: [f"{local.project}-created"],
    }


def test_a_stage_used_by_a_container_is_not_removed(local, dockerd) -> None:
    app = Publisher(local).build("app", built_at=T0, n_stages=1)
    tag = app.stages[0].tag
    dockerd.create_container(f"{local.stages_repository}:{tag}", f"{local.project}-user")
    row = {"repository": local.stages_repository, "tag": tag, "digest": app.last_image_id, "item_type": "stage"}

    [result] = local.delete_items([row])

    assert result.outcome == "failed" and not result.retryable
    assert "container" in result.error
    assert tag in local.tag_digests()


def test_untagging_keeps_the_image_for_its_other_tag(local, dockerd) -> None:
    app = Publisher(local).build("app", built_at=T0, n_stages=1)
    tag = app.stages[0].tag
    local.copy_tag(tag, "keep")
    row = {"repository": local.stages_repository, "tag": tag, "digest": app.last_image_id, "item_type": "stage"}

    [result] = local.delete_items([row])

    assert result.outcome == "deleted"
    assert dockerd.client().api.inspect_image(f"{local.stages_repository}:keep")["Id"] == app.last_image_id


def test_an_unreachable_daemon_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DockerHostError, match="cannot reach the Docker daemon") as caught:
        open_stages_storage(":local", "acme", docker_host=f"unix://{tmp_path}/no.sock")
    assert "--docker-host" in str(caught.value)
