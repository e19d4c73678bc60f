"""Decisions taken while or after a plan runs: stages of an image whose delete failed, apply's
re-checks at apply time, the images that stay after images cleanup, managed-image removal."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from core.images import remaining_image_tags
from core.plan import build_plan, initial_outcomes
from core.purge import decide_managed_images_rm
from core.reapply import image_names_of_rows, images_repo_of_rows, recheck
from core.stages import (
    decide_stages,
    keep_markers_of_stages_not_deleted,
    revise_after_failed_images,
    stages_needed_by_images,
)
from schemas.tables import MANAGED_IMAGES_SCHEMA
from tests.core.test_plan_and_stages import NOW, decision, image, images_table, stage, stages_table, table


def _plan_rows(stages, images_before, images_after):
    """A cleanup plan: image tags in `images_before` not in `images_after` are deleted, then
    stages decided against `images_after`."""
    gone = [
        decision(tag=i["tag"], repository=i["repository"], digest=i["digest"]) for i in images_before if i not in images_after
    ]
    stage_decisions = decide_stages(stages_table(stages), images_table(images_after), NOW, timedelta(0))
    return initial_outcomes(build_plan([table(gone), stage_decisions]), dry_run=False)


def test_stages_of_an_image_whose_delete_failed_become_keeps():
    stages = [stage("a-1", "id-a"), stage("b-2", "id-b", parent="id-a")]
    old = image("old", "id-b")
    rows = _plan_rows(stages, [old], [])
    assert {r["tag"]: r["action"] for r in rows if r["item_type"] == "stage"} == {"a-1": "delete", "b-2": "delete"}
    rows = [{**r, "outcome": "failed"} if r["item_type"] == "image-tag" else r for r in rows]
    revised = revise_after_failed_images(rows, stages_table(stages), images_table([old]), NOW, timedelta(0))
    got = {r["tag"]: (r["action"], r["reason"], r["outcome"]) for r in revised if r["item_type"] == "stage"}
    assert got == {"a-1": ("keep", "parent-of-kept-image", "kept"), "b-2": ("keep", "parent-of-kept-image", "kept")}


def test_stages_stay_planned_when_every_image_delete_succeeded():
    stages = [stage("a-1", "id-a")]
    old = image("old", "id-a")
    rows = [{**r, "outcome": "deleted"} if r["item_type"] == "image-tag" else r for r in _plan_rows(stages, [old], [])]
    assert revise_after_failed_images(rows, stages_table(stages), images_table([old]), NOW, timedelta(0)) == rows


def test_stages_needed_by_images_ignores_the_grace_window_and_names_the_image():
    stages = [stage("a-1", "id-a"), stage("young-2", "id-y", hours_ago=0.1)]
    needed = stages_needed_by_images(stages_table(stages), images_table([image("v1", "id-a")]), NOW)
    assert set(needed) == {("S", "a-1")}


def test_remaining_image_tags_leaves_out_the_deleted_ones():
    tags = images_table([image("keep", "p"), image("drop", "p")])
    decisions = table(
        [decision(tag="drop", repository="I/app"), decision(tag="keep", repository="I/app", action="keep", reason="git-policy")]
    )
    assert remaining_image_tags(tags, decisions)["tag"].to_pylist() == ["keep"]


def test_apply_recheck_keeps_a_moved_tag_a_used_tag_and_a_needed_stage():
    rows = [
        decision(tag="moved", digest="sha256:old"),
        decision(tag="used"),
        decision(tag="gone"),
        decision(storage="stages-storage", item_type="stage", tag="s-1", repository="S", reason="unused-stage"),
    ]
    out = recheck(
        rows,
        {("r", "moved"): "sha256:new", ("r", "gone"): None},
        {("r", "used"): "ctx/ns/Deployment/web"},
        {("S", "s-1"): "image I/app:v2"},
    )
    got = {r["tag"]: (r["action"], r["reason"]) for r in out.to_pylist()}
    assert got == {
        "moved": ("keep", "tag-moved"),
        "used": ("keep", "used-in-kubernetes"),
        "gone": ("delete", "not-reached-by-policy"),
        "s-1": ("keep", "parent-of-kept-image"),
    }


def test_images_repo_of_audited_rows_strips_the_image_name_in_multirepo():
    rows = [
        decision(storage="stages-storage", item_type="stage", repository="reg/acme/stages"),
        {**decision(repository="reg/acme/images/backend"), "image_name": "backend"},
    ]
    assert images_repo_of_rows(rows, "multirepo") == "reg/acme/images"
    assert images_repo_of_rows([{**rows[1], "repository": "reg/acme/images"}], "monorepo") == "reg/acme/images"
    assert images_repo_of_rows(rows[:1], "multirepo") is None
    assert image_names_of_rows([{**rows[1], "image_name": "~"}, rows[1]]) == ["", "backend"]


def test_managed_images_rm_deletes_only_the_named_records():
    managed = pa.Table.from_pylist(
        [
            {"repository": "S", "tag": "managed-image-a", "image_name": "a", "digest": "sha256:1"},
            {"repository": "S", "tag": "managed-image-b", "image_name": "b", "digest": "sha256:2"},
        ],
        schema=MANAGED_IMAGES_SCHEMA,
    )
    out = decide_managed_images_rm(managed, ["b", "missing"]).to_pylist()
    assert [(r["tag"], r["action"], r["item_type"]) for r in out] == [("managed-image-b", "delete", "managed-image")]


def _row(item_type, tag, outcome, *, action="delete", reason="rejected", error=None):
    return {
        "storage": "stages-storage",
        "repository": "reg/acme/stages",
        "tag": tag,
        "item_type": item_type,
        "action": action,
        "reason": reason,
        "detail": None,
        "outcome": outcome,
        "error": error,
    }


def test_the_rejected_marker_of_a_stage_whose_delete_failed_stays_and_others_go_on():
    rows = [
        _row("stage", "sig1-1", "failed", error="500 Internal Server Error"),
        _row("stage", "sig2-2", "deleted"),
        _row("rejected-marker", "sig1-1-rejected", "blocked"),
        _row("rejected-marker", "sig2-2-rejected", "blocked"),
    ]
    revised = keep_markers_of_stages_not_deleted(rows)
    kept = revised[2]
    assert (kept["action"], kept["outcome"], kept["reason"]) == ("keep", "kept", "stage-stays")
    assert "sig1-1" in kept["detail"] and "500 Internal Server Error" in kept["detail"]
    assert revised[3] == rows[3] and revised[:2] == rows[:2]


def test_the_rejected_marker_of_a_stage_kept_at_delete_time_stays():
    rows = [
        _row("stage", "sig1-1", "kept", action="keep", reason="shared-digest"),
        _row("rejected-marker", "sig1-1-rejected", "blocked"),
    ]
    assert keep_markers_of_stages_not_deleted(rows)[1]["reason"] == "stage-stays"
