"""Reading a werf 1.2 / 2.x repository (SPEC §13.2) from the real registry and an OCI layout: every
tag once with its kind, stages with their labels, multi-platform stages, records, unreadable
stages and werf v1.1 content."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from adapters.cache import ContentCache
from adapters.storage.imageconfig import DOCKER_MEDIA_TYPES, digest_of, image_manifest
from adapters.storage.werf2_repo import open_repo
from adapters.storage.werf2_slug import image_metadata_id
from schemas.errors import InvalidImageName, StorageError
from tests.e2e.werf2_repo import Werf2World

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT = "acme"
COMMIT = "c" * 40
KINDS = [pytest.param("registry", marks=pytest.mark.registry), "oci"]


@pytest.fixture(params=KINDS)
def where(request, tmp_path, unique_repo):
    """(address, registry options) of an empty repository of the parametrised kind."""
    if request.param == "oci":
        return f"oci:{tmp_path}/repo", None
    server = request.getfixturevalue("registry")
    return server.repo(f"{unique_repo}/app"), server.options()


@pytest.fixture
def repo(where):
    address, options = where
    with open_repo(address, PROJECT, options) as opened:
        yield opened


@pytest.fixture
def world(repo):
    return Werf2World(repo.backend, repo.repository, PROJECT)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def by(table, key: str) -> dict:
    return {row[key]: row for row in table.to_pylist()}


def kinds(inventory) -> dict[str, str]:
    tags = inventory.tags.column("tag").to_pylist()
    assert len(tags) == len(set(tags)), "every tag is listed once"
    return dict(zip(tags, inventory.tags.column("kind").to_pylist(), strict=True))


def test_every_record_kind_is_listed_once_with_its_kind(repo, world):
    base = world.stage(at(0))
    stage = world.stage(at(1), base)
    mp = world.multiplatform_stage([world.stage(at(2)), world.stage(at(3))])
    marker = world.reject(base)
    custom, custom_meta = world.custom_tag(stage, "v1.0.0")
    records = {
        world.meta("app", COMMIT, stage): "image-metadata",
        world.managed_image("app"): "managed-image",
        custom_meta: "custom-tag-metadata",
        world.import_metadata("f" * 56, "e" * 56, source_stage_id=base): "import-metadata",
        world.cleanup_record(1_767_000_000_000): "cleanup",
        world.client_id("4b3a", 1_767_000_000_000): "client-id",
        world.sync_server(): "sync-server",
        world.foreign("latest", same_as=stage): "foreign",
        world.foreign("hand-made"): "foreign",
    }

    inventory = repo.read_inventory(["app"])

    assert kinds(inventory) == {
        **records,
        base: "stage",
        stage: "stage",
        mp: "multiplatform-stage",
        marker: "rejected-marker",
        custom: "custom-tag",
        **{t: "stage" for t in world.labels if t not in (base, stage, mp)},
    }
    assert inventory.unreadable == {}
    assert inventory.older_format.num_rows == 0
    assert inventory.last_cleanup_ms == 1_767_000_000_000
    digests = dict(zip(inventory.tags.column("tag").to_pylist(), inventory.tags.column("digest").to_pylist(), strict=True))
    assert digests[custom] == digests[stage] == world.digest(stage)
    # foreign tags and records known from their tags are not read: a digest only where the listing has it
    assert digests["latest"] == (world.digest(stage) if repo.backend.listed_digests(repo.repository) else None)
    for tag in (custom_meta, "cleanup", base, mp):
        assert digests[tag] == world.digest(tag)


def test_a_stage_is_read_with_its_parent_imports_dependencies_and_rejection(repo, world):
    base = world.stage(at(0))
    source = world.stage(at(1))
    dependency = world.stage(at(2))
    stage = world.stage(
        at(3), base, imports=[source, "external-image-nginx"], dependencies=[dependency], import_checksums={"i1": "9" * 56}
    )
    marker = world.reject(source)

    stages = by(repo.read_inventory([]).stages, "tag")

    row = stages[stage]
    assert row["stage_digest"], row["creation_ts"] == tuple(stage.split("-"))
    assert row["creation_ts"] == int(stage.split("-")[1])
    assert row["parent_stage_id"] == base
    assert row["parent_image_id"] == world.image_id(base)
    assert row["image_id"] == world.image_id(stage)
    assert row["digest"] == world.digest(stage)
    assert row["import_source_ids"] == [source]
    assert row["import_checksums"] == ["9" * 56]
    assert row["dependency_ids"] == [dependency]
    assert row["created"] == at(3)
    assert row["project"] == PROJECT and row["cache_version"] is None
    assert row["platform_digests"] == [] and row["size_bytes"] > 0
    assert (row["rejected"], stages[source]["rejected"]) == (False, True)
    assert stages[source]["rejected_tag"] == marker


def test_a_stage_werf_1_2_built_is_read_by_its_config_image_and_cache_version(repo, world):
    base = world.stage(at(0), v12=True)
    stage = world.stage(at(1), base, v12=True)
    metadata = world.import_metadata("1" * 56, "2" * 56, source_image_id=world.image_id(base))

    inventory = repo.read_inventory([])

    row = by(inventory.stages, "tag")[stage]
    assert (row["parent_image_id"], row["parent_stage_id"], row["cache_version"]) == (world.image_id(base), None, "1.2")
    assert inventory.older_format.num_rows == 0
    imported = by(inventory.import_metadata, "tag")[metadata]
    assert (imported["source_image_id"], imported["source_stage_id"]) == (world.image_id(base), None)
    assert (imported["import_source_id"], imported["checksum"], imported["project"]) == ("1" * 56, "2" * 56, PROJECT)


def test_a_multiplatform_stage_has_its_platforms_and_the_newest_platforms_time_and_labels(repo, world):
    older = world.stage(at(5), labels={"werf-stage-content-digest": "old"})
    newer = world.stage(at(9), labels={"werf-stage-content-digest": "new"}, dependencies=[older])
    index = world.multiplatform_stage([newer, older], ["linux/amd64", "linux/arm64"])

    inventory = repo.read_inventory([])

    row = by(inventory.stages, "tag")[index]
    assert row["platform_digests"] == [world.digest(newer), world.digest(older)]
    assert (row["creation_ts"], row["image_id"], row["digest"]) == (0, None, world.digest(index))
    assert row["created"] == at(9)
    assert row["dependency_ids"] == [older]  # the newest platform's labels
    assert {older, newer} <= set(by(inventory.stages, "tag"))
    blob_tags = set(inventory.blobs.column("tag").to_pylist())
    assert {index, older, newer} <= blob_tags


def test_a_multiplatform_stage_whose_platforms_have_no_tags_reads_them_by_digest(repo, world):
    platforms = [world.stage(at(1)), world.stage(at(2))]
    manifests = {tag: world.digest(tag) for tag in platforms}
    index = world.multiplatform_stage(platforms, untagged=True)

    inventory = repo.read_inventory([])

    assert set(by(inventory.stages, "tag")) == {index}
    row = by(inventory.stages, "tag")[index]
    assert row["platform_digests"] == [manifests[t] for t in platforms]
    assert row["created"] == at(2)
    blobs = [r for r in inventory.blobs.to_pylist() if r["tag"] == index]
    assert {manifests[t] for t in platforms} <= {r["blob_digest"] for r in blobs}


def test_meta_records_name_their_image_when_werf_yaml_or_a_managed_image_has_it(repo, world):
    stage = world.stage(at(0))
    in_config = world.meta("backend", COMMIT, stage)
    managed_only = world.meta("tools/cli", COMMIT, stage)
    nameless = world.meta(None, COMMIT, stage)
    unknown = world.meta("gone", COMMIT, stage)
    world.managed_image("tools/cli")

    meta = by(repo.read_inventory(["backend", ""]).meta, "tag")

    assert {tag: row["image_name"] for tag, row in meta.items()} == {
        in_config: "backend",
        managed_only: "tools/cli",
        nameless: "",
        unknown: None,
    }
    assert meta[unknown]["image_id"] == image_metadata_id("gone")
    assert (meta[in_config]["commit"], meta[in_config]["stage_id"]) == (COMMIT, stage)


def test_an_image_name_whose_metadata_id_cannot_be_computed_stops_the_read(repo, world):
    world.meta("app", COMMIT, world.stage(at(0)))

    with pytest.raises(InvalidImageName, match="transliteration"):
        repo.read_inventory(["приложение"])


def test_managed_images_are_read_from_their_tags_nameless_and_slugged(repo, world):
    for name in ("app", None, "a/b+c d"):
        world.managed_image(name)

    managed = repo.read_inventory([]).managed.to_pylist()

    assert [(row["image_name"], row["tag"]) for row in managed] == [
        ("", "managed-image-__nameless__"),
        ("a/b+c d", "managed-image-a__slash__b__plus__c__space__d"),
        ("app", "managed-image-app"),
    ]
    assert repo.list_managed_images().to_pylist() == managed


def test_custom_tags_are_named_by_their_metadata_long_ones_slugged(repo, world):
    stage = world.stage(at(0))
    long_tag = "Release_" + "x" * 70
    short, short_meta = world.custom_tag(stage, "v1.0.0")
    long, long_meta = world.custom_tag(stage, long_tag)
    _, dangling_meta = world.custom_tag(stage, "was-deleted", tagged=False)
    world.foreign("no-metadata", same_as=stage)

    inventory = repo.read_inventory([])

    assert len(long_meta) <= 128 and long_meta.endswith(long_meta.rsplit("-", 1)[1])
    rows = by(inventory.custom_tags, "custom_tag")
    assert set(rows) == {short, long, "was-deleted"}
    assert rows[long]["meta_tag"] == long_meta and rows[short]["meta_tag"] == short_meta
    assert rows[short]["custom_tag_digest"] == world.digest(stage) and rows[short]["stage_id"] == stage
    assert rows[short]["meta_digest"] == world.digest(short_meta) and rows[short]["project"] == PROJECT
    assert rows["was-deleted"]["custom_tag_digest"] is None and rows["was-deleted"]["meta_tag"] == dangling_meta
    assert kinds(inventory)["no-metadata"] == "foreign"
    assert kinds(inventory)[long] == kinds(inventory)[short] == "custom-tag"
    assert "was-deleted" not in kinds(inventory)


def test_records_of_another_project_or_without_werfs_labels_are_foreign(repo, world):
    stage = world.stage(at(0))
    theirs = world.record("custom-tag-meta-theirs", {"werf": "other", "stage-id": stage, "tag": "theirs"})
    broken = world.record("import-metadata-" + "3" * 56, {"werf": PROJECT, "checksum": "x"})
    their_stage = world.stage(at(1), project="other")
    no_label = world.stage(at(2), labels={"werf": ""})
    world.reject(no_label)

    inventory = repo.read_inventory([])

    assert {t: kinds(inventory)[t] for t in (theirs, broken, no_label, their_stage)} == {
        theirs: "foreign",
        broken: "foreign",
        no_label: "foreign",
        their_stage: "stage",
    }
    assert by(inventory.stages, "tag")[their_stage]["project"] == "other"
    assert no_label not in by(inventory.stages, "tag")  # not even as a rejected stage whose tag is gone
    assert inventory.custom_tags.num_rows == inventory.import_metadata.num_rows == 0


def test_a_rejected_marker_whose_stage_is_gone_still_has_a_row(repo, world):
    stage = world.stage(at(0))
    marker = world.reject(stage)
    world.backend.delete(repo.repository, [[(stage, None)]], None, leaving=[stage])

    row = by(repo.read_inventory([]).stages, "tag")[stage]

    assert (row["rejected"], row["rejected_tag"], row["digest"], row["created"]) == (True, marker, None, None)


def _put_raw(world, tag: str, config: bytes) -> None:
    manifest = image_manifest(config, DOCKER_MEDIA_TYPES)
    world.backend.put_manifest(world.repository, tag, manifest, DOCKER_MEDIA_TYPES.manifest, {digest_of(config): config})


def test_an_unreadable_stage_is_skipped_with_a_warning_and_the_others_are_read(repo, world, caplog):
    good = world.stage(at(0))
    not_json = f"{'d' * 56}-{int(at(1).timestamp() * 1000)}"
    not_an_object = f"{'e' * 56}-{int(at(2).timestamp() * 1000)}"
    bad_time = f"{'f' * 56}-{int(at(3).timestamp() * 1000)}"
    _put_raw(world, not_json, b"{not json")
    _put_raw(world, not_an_object, b"[1, 2]")
    _put_raw(world, bad_time, json.dumps({"created": "yesterday", "config": {"Labels": {"werf": PROJECT}}}).encode())
    vanished = f"{'a' * 56}-{int(at(4).timestamp() * 1000)}"
    listed = repo.backend.list_tags
    repo.backend.list_tags = lambda repository: [*listed(repository), vanished]

    with caplog.at_level(logging.WARNING, logger="adapters.storage.werf2_repo"):
        inventory = repo.read_inventory([])

    assert set(by(inventory.stages, "tag")) == {good}
    assert set(inventory.unreadable) == {not_json, not_an_object, bad_time, vanished}
    assert "vanished" in inventory.unreadable[vanished]
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert all(tag in warned for tag in inventory.unreadable)


def test_werf_v11_content_is_a_sign_of_the_older_format(repo, world):
    world.stage(at(0))
    v11 = world.v11_stage(at(1))
    metadata = world.v11_metadata("app", COMMIT, "s" * 56)

    signs = by(repo.read_inventory(["app"]).older_format, "tag")

    assert set(signs) == {v11, metadata}
    assert "werf-cache-version=1.1" in signs[v11]["sign"] and "image-metadata-by-commit" in signs[metadata]["sign"]


def test_a_repository_that_does_not_exist_reads_as_empty(repo):
    inventory = repo.read_inventory(["app"])

    assert inventory.repository == repo.repository
    assert (inventory.tags.num_rows, inventory.stages.num_rows, inventory.last_cleanup_ms) == (0, 0, None)
    assert repo.list_managed_images().num_rows == 0


def test_local_and_malformed_addresses_are_refused():
    with pytest.raises(StorageError, match=":local"):
        open_repo(":local", PROJECT)
    with pytest.raises(StorageError, match="invalid repository address"):
        open_repo("Not A Repo", PROJECT)


def test_a_final_repos_stages_are_read_under_their_stage_ids(where, repo, world, tmp_path):
    address, options = where
    final_address = f"oci:{tmp_path}/final" if address.startswith("oci:") else f"{address}-final"
    stage = world.stage(at(0))
    with open_repo(final_address, PROJECT, options) as final:
        world.copy_stage(stage, Werf2World(final.backend, final.repository, PROJECT))
        inventory = final.read_inventory([])

    assert kinds(inventory) == {stage: "stage"}
    row = by(inventory.stages, "tag")[stage]
    assert (row["repository"], row["image_id"], row["created"]) == (final.repository, world.image_id(stage), at(0))


@pytest.mark.registry
def test_an_unreadable_stage_is_skipped_on_a_warm_cache_too(registry, unique_repo, tmp_path):
    address = registry.repo(f"{unique_repo}/app")
    cache = ContentCache(tmp_path / "cache")
    with open_repo(address, PROJECT, registry.options(), cache=cache) as repo:
        world = Werf2World(repo.backend, repo.repository, PROJECT)
        good = world.stage(at(0))
        bad = f"{'d' * 56}-{int(at(1).timestamp() * 1000)}"
        _put_raw(world, bad, b"{not json")
        first = repo.read_inventory([])
    with open_repo(address, PROJECT, registry.options(), cache=ContentCache(tmp_path / "cache")) as repo:
        second = repo.read_inventory([])

    for inventory in (first, second):
        assert set(by(inventory.stages, "tag")) == {good} and set(inventory.unreadable) == {bad}
