"""The host adapters on their own: the Docker daemon inventory and removals, the home directory."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from adapters.docker_host import DockerHost
from adapters.home_dir import HomeDir

WERF = {"werf": "acme"}


@pytest.fixture
def docker_host(host):
    client = DockerHost(host.address)
    yield client
    client.close()


@pytest.mark.docker
def test_image_last_used_is_the_newest_of_its_build_and_its_containers(host, docker_host) -> None:
    unused = host.load_image(["acme/unused:1"], age=timedelta(hours=5), labels=WERF)
    used = host.load_image(["acme/used:1"], age=timedelta(hours=5), labels=WERF)
    host.daemon.run_container("acme/used:1", "runner")

    images = {row["id"]: row for row in docker_host.images().to_pylist()}

    now = datetime.now(UTC)
    assert now - images[unused]["last_used"] > timedelta(hours=4)
    assert now - images[used]["last_used"] < timedelta(minutes=5)
    assert images[used]["containers"] == ["runner"]
    assert dict(images[used]["labels"])["werf"] == "acme"


@pytest.mark.docker
def test_removing_a_gone_container_or_image_is_already_gone(host, docker_host) -> None:
    rows = [
        {"repository": host.address, "tag": "werf.build.x", "digest": "f" * 64, "item_type": "container"},
        {"repository": "acme/x", "tag": "1", "digest": "sha256:" + "e" * 64, "item_type": "local-image"},
        {"repository": "<none>", "tag": "sha256:" + "d" * 64, "digest": "sha256:" + "d" * 64, "item_type": "local-image"},
    ]

    assert [r.outcome for r in docker_host.delete_items(rows)] == ["already-gone"] * 3


@pytest.mark.docker
def test_a_new_container_that_took_a_planned_name_is_not_removed(host, docker_host) -> None:
    host.load_image(["acme/a:1"], age=timedelta(hours=1), labels=WERF)
    planned = host.daemon.create_container("acme/a:1", "werf.build.1")
    row = {"repository": host.address, "tag": "werf.build.1", "digest": planned.id, "item_type": "container"}
    planned.remove()
    host.daemon.create_container("acme/a:1", "werf.build.1")

    [result] = docker_host.delete_items([row])

    assert result.outcome == "already-gone"
    assert host.container_names() == {"werf.build.1"}


@pytest.mark.docker
def test_an_image_retagged_since_planning_is_not_removed(host, docker_host) -> None:
    planned = host.load_image(["acme/a:1"], age=timedelta(hours=2), labels=WERF)
    host.load_image(["acme/a:1"], age=timedelta(hours=1), labels=WERF)  # a rebuild took the tag

    [result] = docker_host.delete_items([{"repository": "acme/a", "tag": "1", "digest": planned, "item_type": "local-image"}])

    assert result.outcome == "failed"
    assert "not the planned" in result.error
    assert host.references() == {"acme/a:1"}


@pytest.mark.docker
def test_an_image_used_by_a_container_is_refused_by_the_daemon(host, docker_host) -> None:
    image = host.load_image(["acme/a:1"], age=timedelta(hours=2), labels=WERF)
    host.daemon.create_container("acme/a:1", "keeper")

    [result] = docker_host.delete_items([{"repository": "acme/a", "tag": "1", "digest": image, "item_type": "local-image"}])

    assert result.outcome == "failed" and "in use" in result.error
    assert host.references() == {"acme/a:1"}


def test_home_dir_lists_temp_files_and_top_level_cache_entries(tmp_path) -> None:
    home = HomeDir(tmp_path)
    for path in ("tmp/a.txt", "tmp/build/b.txt", "cache/repo/objects/x", "cache/archive.tar", "audit/x.parquet", "prefect/db"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("12345")
    old = time.time() - 3 * 24 * 3600
    os.utime(tmp_path / "cache/repo/objects/x", (old, old))

    entries = {(e["area"], e["name"]): e for e in home.entries().to_pylist()}

    assert set(entries) == {("tmp", "a.txt"), ("tmp", "build/b.txt"), ("cache", "repo"), ("cache", "archive.tar")}
    assert entries[("cache", "repo")]["size"] == 5
    assert entries[("cache", "repo")]["repository"] == str(tmp_path / "cache")


def test_home_dir_refuses_to_remove_anything_outside_tmp_and_cache(tmp_path) -> None:
    home = HomeDir(tmp_path)
    audit = tmp_path / "audit" / "run.parquet"
    audit.parent.mkdir()
    audit.write_text("audit")
    rows = [
        {"repository": str(tmp_path / "audit"), "tag": "run.parquet", "item_type": "cache-entry"},
        {"repository": str(tmp_path / "tmp"), "tag": "../audit/run.parquet", "item_type": "cache-entry"},
        {"repository": str(tmp_path / "cache"), "tag": ".", "item_type": "cache-entry"},
    ]

    results = home.delete_items(rows)

    assert [r.outcome for r in results] == ["failed"] * 3
    assert audit.exists()
    assert "only temp and cache files" in results[0].error
