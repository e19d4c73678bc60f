"""werf 1.2 / 2.x cleanup of the final repository (SPEC §13.3 step 8; the rule: core/werf2_final.py)."""

from __future__ import annotations

from core.plan import build_plan
from tests.core.tables import policies as parse_policies
from tests.core.test_werf2_cleanup import (
    DELETE,
    KEEP,
    PROJECT,
    F,
    R,
    decide,
    final_inventory,
    inventory,
    kube,
    manifest,
    meta,
    row,
    rows,
    sid,
    stage,
)

MAIN_ONLY = parse_policies({"references": {"branch": "main"}})


def test_final_stage_whose_stage_stays_in_the_repo_is_kept():
    repo = inventory([stage("kept"), stage("old")], [meta("app", "c3", "kept"), meta("app", "c1", "old")])
    decisions = decide(repo, final_inventory("kept", "old"), keep_policies=MAIN_ONLY)
    assert rows(decisions) == {sid("kept"): (KEEP, "git-policy"), sid("old"): (DELETE, "unused-stage")}
    assert rows(decisions, "final-stage") == {sid("kept"): (KEEP, "git-policy"), sid("old"): (DELETE, "stage-deleted")}
    kept = row(decisions, sid("kept"), "final-stage")
    assert kept["detail"].startswith(f"found in repo: {R}:{sid('kept')} stays (policy 1: branch main")
    assert (kept["storage"], kept["repository"], kept["signature"]) == ("final-repo", F, sid("kept"))


def test_final_stage_without_a_stage_in_the_repo_is_deleted():
    decisions = decide(inventory([stage("a")]), final_inventory("orphan"))
    assert rows(decisions, "final-stage") == {sid("orphan"): (DELETE, "nonexistent-stage")}
    assert row(decisions, sid("orphan"), "final-stage")["detail"] == f"{R} has no stage {sid('orphan')}"


def test_final_stage_a_workload_runs_is_kept_even_without_its_repo_stage():
    decisions = decide(inventory([stage("a")]), final_inventory("orphan", "a"), kube_images=kube(f"{F}:{sid('orphan')}"))
    assert rows(decisions, "final-stage") == {sid("orphan"): (KEEP, "used-in-kubernetes"), sid("a"): (DELETE, "stage-deleted")}


def test_a_workload_of_the_repo_stage_keeps_the_final_stage_through_its_counterpart():
    decisions = decide(inventory([stage("a")]), final_inventory("a"), kube_images=kube(f"{R}:{sid('a')}"))
    assert rows(decisions, "final-stage") == {sid("a"): (KEEP, "used-in-kubernetes")}


def test_final_stage_of_an_unreadable_repo_stage_is_kept():
    lost = sid("lost")
    decisions = decide(inventory([], unreadable={lost: "blob unknown"}), final_inventory("lost"))
    assert rows(decisions, "final-stage") == {lost: (KEEP, "unreadable")}


def test_final_stage_of_another_project_and_an_unreadable_one_are_kept():
    final = final_inventory("theirs", project="beta")
    final.unreadable["f" * 56] = "manifest unknown"
    decisions = decide(inventory([]), final)
    assert rows(decisions, "final-stage") == {sid("theirs"): (KEEP, "other-project"), "f" * 56: (KEEP, "unreadable")}
    assert row(decisions, sid("theirs"), "final-stage")["detail"] == f"labelled werf=beta, not {PROJECT}"


def test_final_stages_are_deleted_after_every_repo_item():
    decisions = decide(inventory([stage("a")], customs=[]), final_inventory("a"))
    order = [(r["storage"], r["tag"]) for r in build_plan([decisions]).to_pylist() if r["action"] == DELETE]
    assert order == [("repo", sid("a")), ("final-repo", sid("a"))]
    assert row(decisions, sid("a"), "final-stage")["digest"] == manifest("a")
