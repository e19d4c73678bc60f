"""werf 1.2 / 2.x purge decisions (SPEC §13.5)."""

from __future__ import annotations

from core.plan import build_plan
from core.werf2_purge import decide_repo_purge
from schemas.tables import DECISIONS_SCHEMA
from tests.core.test_werf2_cleanup import (
    DELETE,
    KEEP,
    PROJECT,
    custom,
    deleted_tags,
    final_inventory,
    import_record,
    inventory,
    meta,
    row,
    rows,
    sid,
    stage,
)

SERVICE = [
    ("client-id-abc-1700000000000", "client-id"),
    ("sync-server", "sync-server"),
    ("cleanup", "cleanup"),
    ("latest", "foreign"),
]


def purge(repo, final=None):
    decisions = decide_repo_purge(repo, final, project=PROJECT)
    assert decisions.schema == DECISIONS_SCHEMA
    return decisions


def test_purge_deletes_every_record_of_the_project_and_leaves_service_records_and_foreign_tags():
    repo = inventory(
        [stage("a"), stage("bad", rejected=True)],
        [meta("app", "c1", "a"), meta(None, "c2", "bad")],
        [custom("v1", "a"), custom("bad-tag", "bad"), custom("absent", "a", present=False)],
        imports=[import_record("imp", "sum", source="a")],
        managed_names=("app", ""),
        extra_tags=SERVICE,
    )
    decisions = purge(repo)
    assert {r["reason"] for r in decisions.to_pylist()} == {"purge"}
    assert deleted_tags(decisions) == {
        sid("a"),
        sid("bad"),
        f"{sid('bad')}-rejected",
        meta("app", "c1", "a")["tag"],
        meta(None, "c2", "bad")["tag"],
        "v1",
        "bad-tag",
        "custom-tag-meta-v1",
        "custom-tag-meta-bad-tag",
        "custom-tag-meta-absent",
        "import-metadata-imp",
        "managed-image-app",
        "managed-image-__nameless__",
    }
    assert not {t for t, _ in SERVICE} & {r["tag"] for r in decisions.to_pylist()}
    assert row(decisions, "managed-image-__nameless__", "managed-image")["image_name"] == "~"


def test_purge_plan_deletes_in_werf_order_and_the_final_repo_last():
    repo = inventory([stage("bad", rejected=True)], [meta("app", "c1", "bad")], [custom("t", "bad")])
    plan = build_plan([purge(repo, final_inventory("bad"))])
    order = [(r["storage"], r["item_type"]) for r in plan.to_pylist() if r["action"] == DELETE]
    assert order == [
        ("repo", "image-metadata"),
        ("repo", "stage"),
        ("repo", "custom-tag"),
        ("repo", "custom-tag-metadata"),
        ("repo", "rejected-marker"),
        ("repo", "managed-image"),
        ("final-repo", "final-stage"),
    ]


def test_purge_keeps_what_another_project_labels_and_what_could_not_be_read():
    repo = inventory(
        [stage("theirs", project="beta", rejected=True), stage("ours")],
        customs=[custom("their-tag", "theirs", project=None), custom("labelled", "ours", project="beta")],
        unreadable={sid("lost"): "manifest unknown"},
    )
    decisions = purge(repo, final_inventory("theirs", project="beta"))
    assert rows(decisions) == {
        sid("theirs"): (KEEP, "other-project"),
        sid("ours"): (DELETE, "purge"),
        sid("lost"): (KEEP, "unreadable"),
    }
    assert rows(decisions, "rejected-marker") == {f"{sid('theirs')}-rejected": (KEEP, "other-project")}
    assert rows(decisions, "custom-tag") == {"their-tag": (KEEP, "other-project"), "labelled": (KEEP, "other-project")}
    assert rows(decisions, "final-stage") == {sid("theirs"): (KEEP, "other-project")}


def test_purge_of_an_empty_repository_decides_nothing():
    assert purge(inventory(managed_names=())).num_rows == 0
