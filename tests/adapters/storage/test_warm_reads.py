"""The warm-read cache (`adapters.cache`) behind a registry stages storage and images repo:
a warm listing equals a cold one and costs at most one request per mutable tag and none per
stage tag; a re-pushed tag is seen; a damaged entry is replaced; processes share it safely."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.cache import ContentCache, directory_name
from adapters.registry import RegistryOptions
from adapters.storage import open_images_repo, open_stages_storage
from adapters.storage.publisher import Publisher
from tests.fixtures.fault_proxy import FaultProxy

pytestmark = pytest.mark.registry

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build_world(stages, images, n: int = 6) -> list:
    with Publisher(stages, images) as pub:
        pub.manage("app")
        built = [pub.build("app", built_at=T0 + timedelta(hours=i), n_stages=2) for i in range(n)]
        for i, b in enumerate(built):
            commit = f"{i:040x}"
            pub.publish(b, f"t{i}", commit)
        pub.foreign("app", "foreign")
    return built


def inventory(host: str, path: str, options: RegistryOptions, cache: ContentCache | None):
    stages = open_stages_storage(f"{host}/{path}/stages", "acme", options, cache=cache)
    images = open_images_repo(f"{host}/{path}/images", "acme", "multirepo", options, cache=cache)
    try:
        with stages.listing():
            tables = (stages.list_stages(), stages.list_metadata(), stages.list_managed_images())
        return (*tables, images.list_image_tags(["app"]))
    finally:
        stages.close()
        images.close()


@pytest.fixture
def proxy(registry):
    proxy = FaultProxy(registry.host)
    yield proxy
    proxy.close()


def counted(proxy: FaultProxy) -> dict[str, int]:
    out: dict[str, int] = {}
    for method, path, _ in proxy.forwarded:
        kind = "tags" if "/tags/list" in path else f"{method} {'manifest' if '/manifests/' in path else 'blob'}"
        out[kind] = out.get(kind, 0) + 1
    return out


def test_a_warm_listing_equals_a_cold_one_and_costs_one_head_per_mutable_tag(registry, proxy, unique_repo, tmp_path):
    options = registry.options()
    with open_stages_storage(registry.repo(f"{unique_repo}/stages"), "acme", options) as stages:
        build_world(stages, open_images_repo(registry.repo(f"{unique_repo}/images"), "acme", "multirepo", options))
    uncached = inventory(proxy.host, unique_repo, options, None)
    cache = tmp_path / "cache"

    proxy.forwarded.clear()
    cold = inventory(proxy.host, unique_repo, options, ContentCache(cache))
    cold_requests = counted(proxy)
    proxy.forwarded.clear()
    warm = inventory(proxy.host, unique_repo, options, ContentCache(cache))
    warm_requests = counted(proxy)

    assert [t.to_pylist() for t in cold] == [t.to_pylist() for t in warm] == [t.to_pylist() for t in uncached]
    stages_n, metadata_n, images_n = cold[0].num_rows, cold[1].num_rows, cold[3].num_rows + 1  # + the foreign tag
    assert (stages_n, metadata_n, images_n) == (12, 6, 7)
    # cold: one tag list per repository, a manifest and a config per described tag
    assert cold_requests["tags"] == 2
    assert cold_requests["GET manifest"] == stages_n + metadata_n + images_n
    # warm: stage tags cost nothing, every other tag one HEAD (managed-image record: a HEAD either way)
    assert warm_requests == {"tags": 2, "HEAD manifest": metadata_n + images_n + 1}


def test_a_tag_pushed_again_between_runs_is_seen(registry, unique_repo, tmp_path):
    options = registry.options()
    stages = open_stages_storage(registry.repo(f"{unique_repo}/stages"), "acme", options)
    images = open_images_repo(registry.repo(f"{unique_repo}/images"), "acme", "multirepo", options)
    built = build_world(stages, images, n=2)
    cache = tmp_path / "cache"
    before = inventory(registry.host, unique_repo, options, ContentCache(cache))
    with Publisher(stages, images) as pub:  # t0 now names the image of t1; a new metadata record
        pub.publish(built[1], "t0")
        pub.record_commit(built[1], f"{0:040x}", created=T0 + timedelta(days=3))

    after = inventory(registry.host, unique_repo, options, ContentCache(cache))

    assert after == inventory(registry.host, unique_repo, options, None)
    by_tag = {r["tag"]: r for r in after[3].to_pylist()}
    old = {r["tag"]: r for r in before[3].to_pylist()}
    assert by_tag["t0"]["digest"] != old["t0"]["digest"]
    assert by_tag["t0"]["content_signature"] == built[1].content_signature
    meta = {r["commit"]: r["content_signature"] for r in after[1].to_pylist()}
    assert meta[f"{0:040x}"] == built[1].content_signature


def test_a_damaged_cache_entry_is_detected_and_replaced(registry, unique_repo, tmp_path):
    options = registry.options()
    build_world(
        open_stages_storage(registry.repo(f"{unique_repo}/stages"), "acme", options),
        open_images_repo(registry.repo(f"{unique_repo}/images"), "acme", "multirepo", options),
        n=2,
    )
    cache = tmp_path / "cache"
    expected = inventory(registry.host, unique_repo, options, ContentCache(cache))
    blobs = sorted((cache / directory_name(registry.repo(f"{unique_repo}/stages")) / "blobs").iterdir())
    assert blobs
    originals = {path: path.read_bytes() for path in blobs}
    for path in blobs:  # every entry damaged: cut short, or other bytes of the same length
        data = originals[path]
        path.write_bytes(data[: len(data) // 2] if len(data) % 2 else bytes(len(data)))

    again = ContentCache(cache)
    assert inventory(registry.host, unique_repo, options, again) == expected
    assert {path: path.read_bytes() for path in blobs} == originals  # read again, written back whole
    assert again.stats()["misses"] >= len(blobs)


def _inventory_rows(host: str, path: str, options: RegistryOptions, cache: str) -> list:
    return [t.to_pylist() for t in inventory(host, path, options, ContentCache(cache))]


def test_two_processes_sharing_one_cache_both_get_correct_inventories(registry, unique_repo, tmp_path):
    options = registry.options()
    build_world(
        open_stages_storage(registry.repo(f"{unique_repo}/stages"), "acme", options),
        open_images_repo(registry.repo(f"{unique_repo}/images"), "acme", "multirepo", options),
        n=30,
    )
    expected = [t.to_pylist() for t in inventory(registry.host, unique_repo, options, None)]
    cache = str(tmp_path / "cache")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        for _ in range(2):  # cold, both at once; then warm, both at once
            runs = [pool.submit(_inventory_rows, registry.host, unique_repo, options, cache) for _ in range(2)]
            assert [run.result(timeout=120) for run in runs] == [expected, expected]
    leftovers = [p for p in Path(cache).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_no_cache_setting_builds_no_cache(tmp_path):
    from coordination.adapters_from_settings import content_cache
    from schemas.settings import RunSettings

    assert content_cache(RunSettings(home_dir=str(tmp_path), no_cache=True)) is None
    assert content_cache(RunSettings(home_dir=str(tmp_path))).root == tmp_path / "cache"


def test_the_blob_writer_keeps_every_blob_by_the_time_it_closes_and_only_intact_ones(tmp_path):
    import hashlib

    from adapters.storage.warm_reads import BlobWriter

    cache = ContentCache(tmp_path / "cache").repository("127.0.0.1:5000/acme/stages")
    blobs = {f"sha256:{hashlib.sha256(data).hexdigest()}": data for data in (f"blob {i}".encode() for i in range(200))}
    writer = BlobWriter(cache)
    for digest, data in blobs.items():
        writer.put(digest, data)
    writer.put("sha256:" + "0" * 64, b"not what that digest names")
    writer.close()
    assert all(cache.blob(digest) == data for digest, data in blobs.items())
    assert cache.blob("sha256:" + "0" * 64) is None
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    BlobWriter(cache).close()  # nothing written: nothing started, nothing to wait for
