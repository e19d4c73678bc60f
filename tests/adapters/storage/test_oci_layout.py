"""The oci:DIR backend writes a real OCI image layout, safe for concurrent writers."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import subprocess
from pathlib import Path

import pytest

from adapters.storage import open_images_repo, open_stages_storage
from adapters.storage.publisher import Publisher, at
from schemas.errors import StorageError

T0 = at("2024-05-01T10:00:00")
REF_NAME = "org.opencontainers.image.ref.name"


def blob_files(root: Path) -> set[str]:
    return {path.name for path in (root / "blobs" / "sha256").iterdir()}


def test_layout_follows_the_image_spec(tmp_path) -> None:
    stages = open_stages_storage(f"oci:{tmp_path}", "acme")
    app = Publisher(stages).build("app", built_at=T0, n_stages=2)

    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["schemaVersion"] == 2
    assert sorted(d["annotations"][REF_NAME] for d in index["manifests"]) == sorted(app.stage_tags)
    for descriptor in index["manifests"]:
        assert descriptor["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        manifest_bytes = (tmp_path / "blobs" / "sha256" / descriptor["digest"].split(":")[1]).read_bytes()
        assert descriptor["size"] == len(manifest_bytes)
    for name in blob_files(tmp_path):
        assert hashlib.sha256((tmp_path / "blobs" / "sha256" / name).read_bytes()).hexdigest() == name
    assert not [p for p in tmp_path.rglob("*.tmp")], "no temp file is left behind"


def test_skopeo_reads_the_tags_and_labels(tmp_path) -> None:
    images = open_images_repo(f"oci:{tmp_path}", "acme", "monorepo")
    stages = open_stages_storage(f"oci:{tmp_path}/stages", "acme")
    with Publisher(stages, images) as pub:
        pub.publish(pub.build("app", built_at=T0, n_stages=1), "main")

    out = subprocess.run(
        ["skopeo", "inspect", "--config", f"oci:{tmp_path}:app-main"], capture_output=True, text=True, check=True
    )

    config = json.loads(out.stdout)
    assert config["config"]["Labels"]["werf-image-tag"] == "main"
    assert config["created"].startswith("2024-05-01T10:00:00")


def _write_records(address: str, prefix: str, count: int) -> None:
    stages = open_stages_storage(address, "acme")
    for i in range(count):
        stages.write_client_id(f"{prefix}{i}", 1714557600000 + i)


def test_concurrent_writers_in_several_processes_lose_no_tag(tmp_path) -> None:
    address = f"oci:{tmp_path}"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_records, args=(address, f"w{n}x", 40)) for n in range(3)]
    for writer in writers:
        writer.start()
    _write_records(address, "main", 40)  # this process writes at the same time
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0

    tags = open_stages_storage(address, "acme").tag_digests()

    assert len(tags) == 160
    assert len(json.loads((tmp_path / "index.json").read_text())["manifests"]) == 160


def test_deleting_a_tag_removes_only_blobs_nothing_else_references(tmp_path) -> None:
    stages = open_stages_storage(f"oci:{tmp_path}", "acme")
    app = Publisher(stages).build("app", built_at=T0, n_stages=2)
    first, second = app.stages
    digest = stages.copy_tag(first.tag, "alias")
    before = blob_files(tmp_path)
    row = {"repository": stages.address, "digest": digest, "item_type": "stage"}

    stages.delete_items([{**row, "tag": first.tag}])
    after_first = blob_files(tmp_path)
    stages.delete_items([{**row, "tag": "alias"}])
    after_alias = blob_files(tmp_path)

    assert after_first == before, "the alias still needs the manifest and config"
    gone = before - after_alias
    assert gone == {digest.split(":")[1], first.image_id.split(":")[1]}
    assert second.image_id.split(":")[1] in after_alias


def test_overwriting_a_tag_collects_the_old_manifest(tmp_path) -> None:
    stages = open_stages_storage(f"oci:{tmp_path}", "acme")
    stages.add_managed_image("app")
    old = blob_files(tmp_path)

    stages.add_managed_image("app")

    assert len(blob_files(tmp_path)) == len(old)
    assert blob_files(tmp_path) != old
    assert stages.list_managed_images().num_rows == 1


def test_a_damaged_layout_is_reported_with_its_path(tmp_path) -> None:
    stages = open_stages_storage(f"oci:{tmp_path}", "acme")
    app = Publisher(stages).build("app", built_at=T0, n_stages=1)
    (tmp_path / "blobs" / "sha256" / app.last_image_id.split(":")[1]).unlink()

    with pytest.raises(StorageError, match="damaged") as caught:
        stages.list_stages()
    assert str(tmp_path) in str(caught.value)


def test_a_missing_directory_is_an_empty_storage(tmp_path) -> None:
    stages = open_stages_storage(f"oci:{tmp_path}/nothing-here", "acme")
    row = {"repository": stages.address, "tag": "x", "digest": None, "item_type": "stage"}

    assert stages.list_stages().num_rows == 0
    assert [r.outcome for r in stages.delete_items([row])] == ["already-gone"]
    assert not (tmp_path / "nothing-here").exists()


def test_an_address_without_a_directory_is_refused() -> None:
    with pytest.raises(StorageError, match="oci:DIR"):
        open_stages_storage("oci:", "acme")
