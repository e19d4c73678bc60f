"""Deleting from and writing to a werf 1.2 / 2.x repository (SPEC §13.2, §12.4), on the real
registry and an OCI layout; and what a warm second read costs at the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.cache import ContentCache
from adapters.storage.imageconfig import created_at
from adapters.storage.werf2_labels import EMPTY_LAYER_BLOB, EMPTY_LAYER_DIGEST, cleanup_record, managed_image_record
from adapters.storage.werf2_repo import open_repo
from tests.e2e.werf2_repo import Werf2World

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT = "acme"
KINDS = [pytest.param("registry", marks=pytest.mark.registry), "oci"]


@pytest.fixture(params=KINDS)
def where(request, tmp_path, unique_repo):
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


def is_registry(repo) -> bool:
    return not repo.repository.startswith("oci:")


def row(repo, tag: str, item_type: str = "stage", digest: str | None = None) -> dict:
    return {"repository": repo.repository, "tag": tag, "digest": digest, "item_type": item_type}


def tags(repo) -> set[str]:
    return set(repo.backend.list_tags(repo.repository))


# --------------------------------------------------------------------------- deletes


def test_deleting_a_stage_never_removes_a_foreign_tag_on_its_manifest(repo, world):
    stage = world.stage(T0)
    world.foreign("latest", same_as=stage)

    [result] = repo.delete_items([row(repo, stage, digest=world.digest(stage))], leaving={repo.repository: [stage]})

    assert "latest" in tags(repo)
    if is_registry(repo):  # Distribution deletes by digest only: the stage is kept
        assert (result.outcome, result.reason) == ("kept", "shared-digest")
        assert "latest" in result.detail and stage in tags(repo)
    else:  # a layout removes the one tag
        assert result.outcome == "deleted" and stage not in tags(repo)


def test_a_custom_tag_that_stays_keeps_its_stage_and_one_deleted_with_it_goes_along(repo, world):
    kept_stage, gone_stage = world.stage(T0), world.stage(T0 + timedelta(minutes=1))
    kept_tag, _ = world.custom_tag(kept_stage, "v1")
    gone_tag, _ = world.custom_tag(gone_stage, "v2")
    plan = [row(repo, kept_stage), row(repo, gone_stage), row(repo, gone_tag, "custom-tag")]

    results = repo.delete_items(plan, leaving={repo.repository: [r["tag"] for r in plan]})

    outcomes = {r.tag: r.outcome for r in results}
    assert kept_tag in tags(repo) and gone_stage not in tags(repo) and gone_tag not in tags(repo)
    assert outcomes[gone_stage] == "deleted" and outcomes[gone_tag] in ("deleted", "already-gone")
    assert outcomes[kept_stage] == ("kept" if is_registry(repo) else "deleted")


def test_a_tag_moved_since_the_plan_is_kept_and_a_row_of_another_repository_fails(repo, world):
    stage, other = world.stage(T0), world.stage(T0 + timedelta(minutes=1))
    world.custom_tag(stage, "v1")
    planned = world.digest("v1")
    world.backend.copy_tag(repo.repository, other, "v1")  # pushed again since the plan

    moved, elsewhere = repo.delete_items(
        [row(repo, "v1", "custom-tag", planned), {**row(repo, stage), "repository": "oci:/elsewhere"}]
    )

    assert (moved.outcome, moved.reason) == ("kept", "tag-moved") and "v1" in tags(repo)
    assert elsewhere.outcome == "failed" and "not part of" in elsewhere.error and stage in tags(repo)


# --------------------------------------------------------------------------- records stagesweep writes


def _written(repo, tag: str):
    """The record's description and its `created` as nanoseconds (the precision werf writes)."""
    info = repo.backend.describe(repo.repository, [tag])[tag]
    text = info.config["created"]
    seconds = int(created_at(info.config).replace(microsecond=0).timestamp())
    fraction = text[:-1].partition(".")[2]
    return info, seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)


@pytest.mark.parametrize("name", ["app", "~", "", "tools/cli+x y"])
def test_managed_images_add_writes_werfs_record_byte_for_byte_and_rm_removes_it(repo, name):
    digest = repo.add_managed_image(name)

    listed = repo.list_managed_images().to_pylist()
    [record] = listed
    info, created = _written(repo, record["tag"])
    expected = managed_image_record(PROJECT, name, created)
    assert record["image_name"] == ("" if name in ("~", "") else name)
    assert record["tag"] == expected.tag
    assert digest == info.digest == expected.manifest_digest  # the manifest and config bytes werf writes
    assert info.image_id == expected.config_digest
    assert (EMPTY_LAYER_DIGEST, len(EMPTY_LAYER_BLOB)) in info.blobs

    removed = repo.rm_managed_image(name)
    again = repo.rm_managed_image(name)

    assert (removed.outcome, again.outcome) == ("deleted", "already-gone")
    assert repo.list_managed_images().num_rows == 0


def test_two_managed_images_get_two_records_with_their_own_digests(repo):
    first, second = repo.add_managed_image("a"), repo.add_managed_image("b")

    assert first != second
    assert [r["image_name"] for r in repo.list_managed_images().to_pylist()] == ["a", "b"]
    assert repo.rm_managed_image("a").outcome == "deleted"
    assert [r["image_name"] for r in repo.list_managed_images().to_pylist()] == ["b"]


def test_the_cleanup_record_is_werfs_and_a_later_one_replaces_it(repo, world):
    world.stage(T0)
    first = repo.write_cleanup_record(1_767_000_000_000)
    second = repo.write_cleanup_record(1_767_000_100_000)

    info, created = _written(repo, "cleanup")
    assert first != second == info.digest == cleanup_record(PROJECT, 1_767_000_100_000, created).manifest_digest
    assert repo.read_inventory([]).last_cleanup_ms == 1_767_000_100_000


# --------------------------------------------------------------------------- warm reads


def counted(proxy) -> dict[str, int]:
    out: dict[str, int] = {}
    for method, path, _ in proxy.forwarded:
        kind = "tags" if "/tags/list" in path else f"{method} {'manifest' if '/manifests/' in path else 'blob'}"
        out[kind] = out.get(kind, 0) + 1
    return out


def _rows(inventory) -> list:
    tables = (inventory.tags, inventory.stages, inventory.meta, inventory.custom_tags, inventory.import_metadata)
    return [t.to_pylist() for t in (*tables, inventory.managed, inventory.blobs)] + [inventory.unreadable]


@pytest.mark.registry
def test_a_warm_read_asks_only_for_the_digests_of_mutable_tags(registry, fault_proxy, unique_repo, tmp_path):
    address = f"{unique_repo}/app"
    with open_repo(registry.repo(address), PROJECT, registry.options()) as writer:
        world = Werf2World(writer.backend, writer.repository, PROJECT)
        chain = [world.stage(T0)]
        for i in range(1, 8):
            chain.append(world.stage(T0 + timedelta(minutes=i), chain[-1]))
            world.meta("app", f"{i:040x}", chain[-1])
        world.multiplatform_stage(chain[-2:])
        world.multiplatform_stage(chain[:2], untagged=False)
        world.custom_tag(chain[-1], "v1")
        world.import_metadata("f" * 56, "e" * 56, source_stage_id=chain[0])
        world.managed_image("app")
        world.reject(chain[0])
        world.cleanup_record(1)
        world.foreign("latest")
    stages, records = 10, 3  # 8 stages + 2 indexes; custom-tag meta, import metadata, cleanup
    cache = tmp_path / "cache"

    def read(with_cache):
        with open_repo(fault_proxy.repo(address), PROJECT, registry.options(), cache=with_cache) as repo:
            return repo.read_inventory(["app"])

    uncached = read(None)
    fault_proxy.forwarded.clear()
    cold = read(ContentCache(cache))
    cold_requests = counted(fault_proxy)
    fault_proxy.forwarded.clear()
    warm = read(ContentCache(cache))
    warm_requests = counted(fault_proxy)

    assert _rows(cold) == _rows(warm) == _rows(uncached)
    assert cold.stages.num_rows == stages and cold.meta.num_rows == 7
    # cold: the list, a manifest per stage and record read, a config per image (not per index), a HEAD per custom tag
    assert cold_requests == {"tags": 1, "GET manifest": stages + records, "GET blob": stages - 2 + records, "HEAD manifest": 1}
    # warm: stages cost nothing; each record read and the custom tag one HEAD
    assert warm_requests == {"tags": 1, "HEAD manifest": records + 1}


@pytest.mark.registry
def test_on_a_registry_that_deletes_tags_a_stage_goes_by_its_tag_alone_and_the_foreign_tag_stays(
    registry, tagdelete_fake, unique_repo, tmp_path
):
    with open_repo(registry.repo(unique_repo), PROJECT, registry.options()) as writer:
        world = Werf2World(writer.backend, writer.repository, PROJECT)
        stage = world.stage(T0)
        world.foreign("latest", same_as=stage)
        digest = world.digest(stage)
    options = registry.options(docker_config=tagdelete_fake.write_docker_config(tmp_path / "docker", tagdelete_fake.user))

    with open_repo(tagdelete_fake.repo(unique_repo), PROJECT, options) as repo:
        [result] = repo.delete_items([row(repo, stage, digest=digest)], leaving={repo.repository: [stage]})
        left = repo.backend.digests(repo.repository, sorted(tags(repo)))

    assert result.outcome == "deleted"
    assert left == {"latest": digest}
