"""Reclaimable bytes against a registry whose sizes are known, and against what the registry's
garbage collection really frees on disk after the run.

The basic world's images and stages get real layers: one base layer shared by every image and
stage, one layer of its own per stage, and each end image carries the layers of its last stage
(as an image built from that stage does). A kept image then keeps its stages' layers and the base
layer, however many deleted manifests also referenced them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from adapters.registry import RegistryClient
from adapters.registry.manifest import DOCKER_MANIFEST
from tests.e2e.world import basic_world, registry_world
from tests.fixtures.registry import REGISTRY_BINARY, _new_server

pytestmark = [pytest.mark.prefect, pytest.mark.registry, pytest.mark.usefixtures("prefect_api")]

LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
BASE_SIZE = 300_000
#: what the garbage collection may free beyond the reclaimable bytes: the config and manifest
#: blobs of deleted records whose manifests a run does not read (metadata, markers, managed
#: images), under 2 KiB each
RECORD_SLACK = 2048


def _layer(seed: str, size: int) -> bytes:
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def _with_layers(client: RegistryClient, repository: str, tag: str, layers: list[bytes]) -> str:
    """Push ``tag`` again with ``layers``; return the digest of the manifest it had."""
    manifest = client.get_manifest(repository, tag)
    document = json.loads(manifest.raw)
    document["layers"] = []
    for data in layers:
        digest = client.push_blob(repository, data)
        document["layers"].append({"mediaType": LAYER, "size": len(data), "digest": digest})
    client.put_manifest(repository, tag, json.dumps(document, sort_keys=True).encode(), DOCKER_MANIFEST)
    return manifest.digest


def _garbage_collect(server) -> None:
    """``registry garbage-collect`` with the registry stopped, then start it again."""
    server.stop()
    done = subprocess.run(
        [REGISTRY_BINARY, "garbage-collect", str(server.root / "config.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    server.start()


def _blob_bytes(root: Path) -> dict[str, int]:
    blobs = root / "data" / "docker" / "registry" / "v2" / "blobs"
    return {p.parent.name: p.stat().st_size for p in blobs.rglob("data")}


@pytest.fixture
def gc_registry():
    server, root = _new_server("gc")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def test_reclaimable_bytes_count_freed_blobs_once_and_match_the_garbage_collection(
    git_project, gc_registry, unique_repo, tmp_path
):
    world = registry_world(git_project, gc_registry, unique_repo, tmp_path)
    built = basic_world(world)
    client = RegistryClient(gc_registry.options())
    base = _layer("base", BASE_SIZE)
    own: dict[str, bytes] = {}
    replaced: set[tuple[str, str]] = set()
    stages = world.stages().list_stages().to_pylist()
    for i, stage in enumerate(stages):
        own[stage["tag"]] = _layer(stage["tag"], 20_000 + 1_000 * i)
        replaced.add((world.stages_address, _with_layers(client, world.stages_address, stage["tag"], [base, own[stage["tag"]]])))
    last_stage_tag = {image.last_image_id: image.stage_tags[-1] for image in (built["A"], built["B"], built["F"])}
    images_repository = f"{world.images_address}/app"
    tags = world.images().list_image_tags(["app"]).to_pylist()
    for tag in tags:
        chain = [own[t] for t in own if t == last_stage_tag[tag["parent_id"]]]
        replaced.add((images_repository, _with_layers(client, images_repository, tag["tag"], [base, *chain])))
    # the manifests pushed first would stay as untagged manifests and keep their configs: they
    # go, and a first garbage collection clears the ground
    for repository, digest in sorted(replaced):
        client.delete_manifest(repository, digest)
    client.close()
    _garbage_collect(gc_registry)

    dry = world.cleanup("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    dry_audit, audit = (pq.read_table(p) for p in world.audits())
    rows = audit.to_pylist()
    reclaimable = sum(r["reclaimable_bytes"] or 0 for r in rows)
    assert sum(r["reclaimable_bytes"] or 0 for r in dry_audit.to_pylist()) == reclaimable  # a dry run says what would go
    assert json.loads(audit.schema.metadata[b"stagesweep.run"])["reclaimable_bytes"] == reclaimable

    # known sizes: the own layers of the deleted stages count, the shared base layer never does
    deleted_stages = [r["tag"] for r in rows if r["item_type"] == "stage" and r["outcome"] == "deleted"]
    kept_stages = [r["tag"] for r in rows if r["item_type"] == "stage" and r["outcome"] == "kept"]
    assert deleted_stages and kept_stages
    own_deleted = sum(len(own[t]) for t in deleted_stages)
    for r in rows:
        if r["item_type"] in ("stage", "image-tag"):
            assert r["size_bytes"] is not None and r["size_bytes"] > BASE_SIZE
    assert own_deleted < reclaimable < own_deleted + 64 * 1024  # + configs and manifests only
    assert reclaimable < own_deleted + BASE_SIZE

    # the registry's garbage collection, with the registry stopped, frees what was announced
    before = _blob_bytes(gc_registry.root)
    _garbage_collect(gc_registry)
    after = _blob_bytes(gc_registry.root)
    freed = sum(before.values()) - sum(after.values())
    records = sum(1 for r in rows if r["outcome"] == "deleted" and r["item_type"] not in ("stage", "image-tag"))
    print(f"reclaimable {reclaimable} B, freed by garbage-collect {freed} B, deleted records {records}")
    assert set(after) <= set(before)
    assert reclaimable <= freed <= reclaimable + RECORD_SLACK * records, (freed, reclaimable, records)
