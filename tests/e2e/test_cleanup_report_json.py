"""`--save-cleanup-report FILE`: werf's JSON cleanup report on cleanup, purge, a dry run and a run
whose deletions partly failed, validated against a JSON Schema written from werf's documented
fields (schemas/werf_cleanup_report.schema.json) and checked against the audit."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest

from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "werf_cleanup_report.schema.json").read_text())
TYPES = {
    "image-tag": "finalStage",
    "stage": "stage",
    "rejected-marker": "rejectedStageMarker",
    "image-metadata": "imageMetadata",
    "managed-image": "managedImage",
}


def valid_report(path: Path) -> dict:
    document = json.loads(path.read_text())
    jsonschema.validate(document, SCHEMA)
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temp file left beside it
    return document


def deleted_in_audit(audit, outcome: str) -> set[tuple[str, str]]:
    out = set()
    for r in audit.to_pylist():
        if r["action"] == "delete" and r["outcome"] == outcome and r["item_type"] in TYPES:
            kind = "rejectedStage" if r["item_type"] == "stage" and r["reason"] == "rejected" else TYPES[r["item_type"]]
            out.add((kind, r["tag"] if kind not in ("imageMetadata", "managedImage") else r["commit"] or r["image_name"]))
    return out


def deleted_in_report(document: dict) -> set[tuple[str, str]]:
    return {(i["type"], i.get("tag") or i.get("commit") or i["imageName"]) for i in document["deleted"]}


@pytest.fixture
def world(git_project, registry, fault_proxy, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    return world


def test_werfs_documented_example_is_valid_against_the_schema():
    example = {
        "command": "cleanup",
        "dryRun": True,
        "repo": "registry.mydomain.com/app",
        "finalRepo": "registry.mydomain.com/app-final",
        "kept": [
            {"type": "stage", "tag": "1e09fb5-1749456960043", "reason": "used in Kubernetes"},
            {"type": "customTag", "tag": "my-custom-tag"},
        ],
        "deleted": [
            {"type": "stage", "tag": "ff0011-1748001122334"},
            {"type": "customTag", "tag": "review-1234"},
            {"type": "imageMetadata", "imageName": "backend", "stageID": "ff0011-1748001122334", "commit": "a3f1c92e"},
            {"type": "imageMetadata", "id": "8c4a1f9b2d7e5a3c", "stageID": "ff0011-1748001122334", "commit": "a3f1c92e"},
            {"type": "managedImage", "imageName": "frontend"},
            {"type": "importMetadata", "id": "8c4a1f9b2d7e5a3c"},
            {"type": "finalStage", "tag": "c7d8e9f0-1748500000000"},
        ],
    }
    jsonschema.validate(example, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "deleted": [{"type": "stage"}]}, SCHEMA)


def test_dry_run_then_cleanup_write_what_would_go_and_what_went(world, tmp_path):
    report = tmp_path / "out" / "cleanup-report.json"
    dry = world.cleanup("cleanup", "--without-kube", "--dry-run", "--save-cleanup-report", str(report))
    assert dry.exit_code == 0, dry.output
    planned = valid_report(report)
    assert planned["dryRun"] is True and planned["command"] == "cleanup"
    assert planned["repo"] == world.stages_address and planned["finalRepo"] == world.images_address
    dry_audit = pq.read_table(world.audits()[-1])
    assert deleted_in_report(planned) == deleted_in_audit(dry_audit, "would-delete") != set()
    reasons = {i["reason"] for i in planned["kept"]}
    assert {"git policy", "ancestor"} <= reasons
    assert {i["type"] for i in planned["kept"]} == {"stage", "finalStage"}

    result = world.cleanup("cleanup", "--without-kube", "--save-cleanup-report", str(report))
    assert result.exit_code == 0, result.output
    done = valid_report(report)
    assert done["dryRun"] is False
    assert deleted_in_report(done) == deleted_in_audit(pq.read_table(world.audits()[-1]), "deleted")
    assert deleted_in_report(done) == deleted_in_report(planned)


def test_purge_report_has_nothing_kept(world, tmp_path):
    report = tmp_path / "purge.json"
    result = world.cleanup("purge", "--save-cleanup-report", str(report))
    assert result.exit_code == 0, result.output
    document = valid_report(report)
    assert document["command"] == "purge" and document["kept"] == []
    kinds = {i["type"] for i in document["deleted"]}
    assert {"finalStage", "stage", "imageMetadata", "managedImage"} <= kinds
    assert deleted_in_report(document) == deleted_in_audit(pq.read_table(world.audits()[-1]), "deleted")


def test_failed_deletions_are_left_out_and_the_report_is_still_written(world, fault_proxy, tmp_path):
    stages = world.stages().list_stages().to_pylist()
    failing = {s["digest"] for s in stages}
    fault_proxy.fail_deletes_matching(lambda path: any(d in path for d in failing), status=500)
    report = tmp_path / "failed.json"
    result = world.cleanup("cleanup", "--without-kube", "--save-cleanup-report", str(report))
    assert result.exit_code == 3, result.output
    document = valid_report(report)
    audit = pq.read_table(world.audits()[-1])
    failed = {r["tag"] for r in audit.to_pylist() if r["outcome"] == "failed"}
    assert failed
    assert not failed & {i.get("tag") for i in document["deleted"]}
    assert deleted_in_report(document) == deleted_in_audit(audit, "deleted")
    assert any(i["type"] == "finalStage" for i in document["deleted"])


def test_an_unwritable_report_path_stops_the_run_before_any_deletion(world, tmp_path):
    before = world.image_tags()
    directory = tmp_path / "a-directory"
    directory.mkdir()
    result = world.cleanup("cleanup", "--without-kube", "--save-cleanup-report", str(directory))
    assert result.exit_code == 1, result.output
    assert "cleanup report" in result.output
    assert world.image_tags() == before
