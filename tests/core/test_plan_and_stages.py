"""Plan invariants (SPEC §12) and the stages keep set (SPEC §5), as pure tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.plan import PlanInvariantError, batches, build_plan, check_max_deletions
from core.stages import decide_stages
from schemas.errors import SafetyBrake
from schemas.tables import DECISIONS_SCHEMA, IMAGE_TAGS_SCHEMA, STAGES_SCHEMA

NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)


def decision(
    storage="images-repo",
    tag="t",
    action="delete",
    reason="not-reached-by-policy",
    item_type="image-tag",
    digest=None,
    repository="r",
):
    return {
        "storage": storage,
        "repository": repository,
        "tag": tag,
        "digest": digest or f"sha256:{tag}",
        "item_type": item_type,
        "image_name": None,
        "signature": None,
        "commit": None,
        "action": action,
        "reason": reason,
        "detail": None,
    }


def table(rows):
    return pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA)


def test_plan_refuses_to_delete_an_item_it_also_keeps():
    with pytest.raises(PlanInvariantError):
        build_plan([table([decision(tag="a", action="keep", reason="git-policy")]), table([decision(tag="a")])])


def test_plan_refuses_to_delete_a_tag_used_in_kubernetes():
    with pytest.raises(PlanInvariantError):
        build_plan([table([decision(tag="a", reason="used-in-kubernetes")])])


def test_plan_orders_image_tags_then_metadata_then_stages_then_markers():
    rows = [
        decision("stages-storage", "m1", item_type="rejected-marker", reason="rejected"),
        decision("stages-storage", "s1", item_type="stage", reason="unused-stage"),
        decision("stages-storage", "md", item_type="image-metadata", reason="unused-metadata"),
        decision("images-repo", "t1"),
        decision("images-repo", "k1", action="keep", reason="git-policy"),
    ]
    plan = build_plan([table(rows)])
    order = [r["tag"] for r in plan.to_pylist() if r["action"] == "delete"]
    assert order == ["t1", "md", "s1", "m1"]


def test_batches_keep_tags_sharing_a_digest_in_one_batch():
    rows = [decision(tag=f"t{i}", digest="sha256:same" if i in (1, 2) else None) for i in range(4)]
    got = batches(build_plan([table(rows)]), size=2)
    together = [b for b in got if {"t1", "t2"} & {r["tag"] for r in b}]
    assert len(together) == 1 and {"t1", "t2"} <= {r["tag"] for r in together[0]}


def test_max_deletions_brake_counts_every_delete_row():
    plan = build_plan([table([decision(tag="a"), decision("stages-storage", "s", item_type="stage", reason="unused-stage")])])
    check_max_deletions(plan, 2)
    with pytest.raises(SafetyBrake):
        check_max_deletions(plan, 1)


def stage(tag, image_id, parent=None, imports=(), hours_ago=100.0, rejected=False):
    return {
        "repository": "S",
        "tag": tag,
        "signature": tag.split("-")[0],
        "unique_id": int((NOW - timedelta(hours=hours_ago)).timestamp() * 1000),
        "digest": f"sha256:d{tag}",
        "image_id": image_id,
        "parent_id": parent,
        "import_ids": list(imports),
        "created": NOW - timedelta(hours=hours_ago),
        "rejected": rejected,
        "rejected_tag": f"{tag}-rejected" if rejected else None,
        "rejected_digest": f"sha256:r{tag}" if rejected else None,
    }


def image(tag, parent):
    return {
        "image_name": "app",
        "repository": "I/app",
        "tag": tag,
        "digest": f"sha256:i{tag}",
        "content_signature": "c",
        "parent_id": parent,
        "created": NOW,
    }


def stages_table(rows):
    return pa.Table.from_pylist(rows, schema=STAGES_SCHEMA)


def images_table(rows):
    return pa.Table.from_pylist(rows, schema=IMAGE_TAGS_SCHEMA)


def decided(stages, images, hours=2.0, containers=None):
    out = decide_stages(stages_table(stages), images_table(images), NOW, timedelta(hours=hours), containers)
    return {(r["tag"], r["item_type"]): (r["action"], r["reason"]) for r in out.to_pylist()}


def test_keeps_the_parent_chain_and_import_sources_of_an_existing_image():
    stages = [
        stage("a-1", "id-a"),
        stage("b-2", "id-b", parent="id-a"),
        stage("src-3", "id-src"),
        stage("c-4", "id-c", parent="id-b", imports=["id-src"]),
        stage("x-5", "id-x"),
    ]
    got = decided(stages, [image("v1", "id-c")])
    assert got[("c-4", "stage")] == ("keep", "parent-of-kept-image")
    assert got[("a-1", "stage")] == ("keep", "parent-of-kept-image")
    assert got[("src-3", "stage")] == ("keep", "import-source")
    assert got[("x-5", "stage")] == ("delete", "unused-stage")


def test_grace_window_keeps_young_stages_and_their_chains():
    stages = [stage("old-1", "id-old"), stage("young-2", "id-young", parent="id-old", hours_ago=1)]
    got = decided(stages, [])
    assert got[("young-2", "stage")] == ("keep", "built-within-last-n-hours")
    assert got[("old-1", "stage")] == ("keep", "built-within-last-n-hours")
    assert decided(stages, [], hours=0)[("young-2", "stage")] == ("delete", "unused-stage")


def test_rejected_stage_goes_with_its_marker_after_it():
    out = decide_stages(stages_table([stage("r-1", "id-r", rejected=True)]), images_table([]), NOW, timedelta(hours=2))
    rows = out.to_pylist()
    assert [(r["tag"], r["item_type"], r["action"], r["reason"]) for r in rows] == [
        ("r-1", "stage", "delete", "rejected"),
        ("r-1-rejected", "rejected-marker", "delete", "rejected"),
    ]


def test_rejected_stage_an_existing_image_points_to_is_kept_with_its_marker():
    got = decided([stage("r-1", "id-r", rejected=True)], [image("v1", "id-r")])
    assert got[("r-1", "stage")][0] == "keep" and got[("r-1-rejected", "rejected-marker")][0] == "keep"


def test_local_stage_used_by_a_container_is_kept():
    got = decided([stage("u-1", "id-u")], [], containers={"u-1": ["builder"]})
    assert got[("u-1", "stage")] == ("keep", "used-by-container")


@settings(max_examples=60, deadline=None)
@given(
    parents=st.lists(st.integers(min_value=-1, max_value=30), min_size=1, max_size=30),
    pointed=st.sets(st.integers(min_value=0, max_value=29), max_size=5),
    hours=st.sampled_from([0, 2]),
)
def test_no_stage_an_existing_image_needs_is_ever_deleted(parents, pointed, hours):
    stages = [
        stage(f"s{i}-{i}", f"id{i}", parent=f"id{p}" if 0 <= p < i else None, hours_ago=3 * i % 7) for i, p in enumerate(parents)
    ]
    images = [image(f"v{i}", f"id{i}") for i in pointed if i < len(stages)]
    got = decided(stages, images, hours=hours)
    needed, stack = set(), [f"id{i}" for i in pointed if i < len(stages)]
    by_id = {s["image_id"]: s for s in stages}
    while stack:
        current = stack.pop()
        if current in needed or current not in by_id:
            continue
        needed.add(current)
        stack.append(by_id[current]["parent_id"])
    for s in stages:
        if s["image_id"] in needed:
            assert got[(s["tag"], "stage")][0] == "keep"
