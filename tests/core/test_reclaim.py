"""Reclaimable bytes: freed blobs counted once, a blob any staying manifest references never."""

from __future__ import annotations

import pyarrow as pa

from core.cleanup_report import cleanup_report
from core.reclaim import reclaimable_per_row, scope_of, total
from schemas.tables import BLOBS_SCHEMA

REG = "127.0.0.1:5000"


def blobs(*manifests: tuple[str, str, list[tuple[str, int]]]) -> pa.Table:
    rows = [
        {"repository": repo, "tag": tag, "blob_digest": digest, "blob_size": size}
        for repo, tag, found in manifests
        for digest, size in found
    ]
    return pa.Table.from_pylist(rows, schema=BLOBS_SCHEMA)


def row(repo: str, tag: str, outcome: str, **kw) -> dict:
    return {"repository": repo, "tag": tag, "outcome": outcome, "action": "delete" if outcome != "kept" else "keep", **kw}


def test_a_base_layer_shared_with_a_kept_image_is_not_freed_and_shared_deleted_blobs_count_once():
    table = blobs(
        (f"{REG}/acme/app", "a", [("m-a", 500), ("c-a", 100), ("base", 10_000), ("own-a", 3_000), ("shared-ab", 700)]),
        (f"{REG}/acme/app", "b", [("m-b", 510), ("c-b", 110), ("base", 10_000), ("shared-ab", 700)]),
        (f"{REG}/acme/app", "kept", [("m-k", 520), ("c-k", 120), ("base", 10_000)]),
    )
    rows = [
        row(f"{REG}/acme/app", "a", "deleted"),
        row(f"{REG}/acme/app", "b", "deleted"),
        row(f"{REG}/acme/app", "kept", "kept"),
    ]
    freed = reclaimable_per_row(rows, table)
    assert freed == [500 + 100 + 3_000 + 700, 510 + 110, None]
    assert total(freed) == 4_920


def test_another_repository_of_the_same_registry_keeps_a_blob_and_an_oci_layout_is_its_own_scope():
    table = blobs(
        (f"{REG}/acme/stages", "s1", [("m-s1", 400), ("layer", 5_000)]),
        (f"{REG}/acme/images/app", "t1", [("m-t1", 400), ("layer", 5_000)]),
        ("oci:/srv/other", "x", [("m-x", 300), ("layer", 5_000)]),
    )
    rows = [row(f"{REG}/acme/stages", "s1", "deleted"), row("oci:/srv/other", "x", "deleted")]
    assert reclaimable_per_row(rows, table) == [400, 5_300]
    assert scope_of(f"{REG}/a/b") == REG and scope_of("oci:/srv/x") == "oci:/srv/x"


def test_failed_blocked_and_unread_rows_free_nothing_and_a_dry_run_counts_what_would_go():
    table = blobs((f"{REG}/r", "a", [("m", 10), ("l", 90)]), (f"{REG}/r", "b", [("m2", 10), ("l2", 90)]))
    rows = [row(f"{REG}/r", "a", "failed"), row(f"{REG}/r", "b", "would-delete"), row(f"{REG}/r", "meta", "deleted")]
    assert reclaimable_per_row(rows, table) == [None, 100, None]


def test_cleanup_report_maps_types_and_reasons_and_lists_only_what_went():
    rows = [
        {
            "item_type": "image-tag",
            "tag": "t1",
            "image_name": "app",
            "action": "delete",
            "reason": "git-policy",
            "outcome": "deleted",
        },
        {"item_type": "image-tag", "tag": "t2", "image_name": "app", "action": "keep", "reason": "git-policy", "outcome": "kept"},
        {"item_type": "stage", "tag": "s1", "action": "keep", "reason": "parent-of-kept-image", "outcome": "kept"},
        {"item_type": "stage", "tag": "s2", "action": "delete", "reason": "rejected", "outcome": "deleted"},
        {"item_type": "stage", "tag": "s3", "action": "delete", "reason": "unused-stage", "outcome": "failed"},
        {"item_type": "rejected-marker", "tag": "s2-rejected", "action": "delete", "reason": "rejected", "outcome": "deleted"},
        {
            "item_type": "image-metadata",
            "tag": "meta",
            "image_name": "app",
            "commit": "c1",
            "action": "delete",
            "reason": "unhit-commit",
            "outcome": "deleted",
        },
        {
            "item_type": "managed-image",
            "tag": "managed-image-app",
            "image_name": "app",
            "action": "delete",
            "reason": "purge",
            "outcome": "deleted",
        },
        {
            "item_type": "image-metadata",
            "tag": "meta2",
            "image_name": "app",
            "commit": "c2",
            "action": "keep",
            "reason": "hit-commit",
            "outcome": "kept",
        },
    ]
    document = cleanup_report(rows, command="cleanup", dry_run=False, repo="r/stages", final_repo="r/images")
    assert document["kept"] == [
        {"type": "finalStage", "tag": "t2", "imageName": "app", "reason": "git policy"},
        {"type": "stage", "tag": "s1", "reason": "ancestor"},
    ]
    assert document["deleted"] == [
        {"type": "finalStage", "tag": "t1", "imageName": "app"},
        {"type": "rejectedStage", "tag": "s2"},
        {"type": "rejectedStageMarker", "tag": "s2-rejected"},
        {"type": "imageMetadata", "imageName": "app", "commit": "c1"},
        {"type": "managedImage", "imageName": "app"},
    ]
    dry = cleanup_report(
        [{**r, "outcome": "would-delete"} if r["outcome"] == "deleted" else r for r in rows],
        command="cleanup",
        dry_run=True,
        repo="r/stages",
        final_repo=None,
    )
    assert dry["deleted"] == document["deleted"] and "finalRepo" not in dry


def test_run_summary_markdown_shows_the_key_numbers_and_names_the_audit():
    from schemas.summary import RunSummary

    summary = RunSummary(
        run_id="r1",
        command="cleanup",
        dry_run=False,
        audit_file="/a/date=2026-11-29/r1.parquet",
        counts={"deleted": 3, "kept": 5, "failed": 1},
        reasons={"delete unused-stage": 3, "keep git-policy": 5},
        reclaimable_bytes=3 * 1024 * 1024,
        failures=["r/stages:s1: 500 Internal Server Error"],
    )
    text = summary.markdown()
    assert "`/a/date=2026-11-29/r1.parquet`" in text
    assert "3.0 MiB (3145728 bytes)" in text and "garbage collection" in text
    assert "| delete | unused-stage | 3 |" in text and "failed: 1" in text
    assert "r/stages:s1: 500 Internal Server Error" in text
