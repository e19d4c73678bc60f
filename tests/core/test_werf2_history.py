"""werf 1.2 / 2.x cleanup: the git history-based policy over meta records (SPEC §13.3 step 4),
with the scenarios of werf's cleanup e2e tests (``test/legacy_e2e/suites/cleanup/cleanup_test.go``)."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from core.werf2_cleanup import werf2_keep_policies
from schemas.repo_tables import RepoInventory
from tests.core.tables import policies as parse_policies
from tests.core.test_werf2_cleanup import (
    DELETE,
    KEEP,
    NOW,
    OLD,
    commits,
    decide,
    inventory,
    meta,
    refs,
    row,
    rows,
    sha,
    sid,
    stage,
    switches,
)

# --------------------------------------------------------------------------- 4. git history


def test_branch_keeps_its_newest_stage_by_werf_2_default_and_deletes_the_rest():
    repo = inventory(
        [stage("a1"), stage("a2"), stage("a3")], [meta("app", "c1", "a1"), meta("app", "c2", "a2"), meta("app", "c3", "a3")]
    )
    decisions = decide(repo, keep_policies=parse_policies({"references": {"branch": "main"}}))
    assert rows(decisions) == {
        sid("a1"): (DELETE, "unused-stage"),
        sid("a2"): (DELETE, "unused-stage"),
        sid("a3"): (KEEP, "git-policy"),
    }
    assert row(decisions, sid("a3"))["detail"].startswith("policy 1: branch main")
    assert rows(decisions, "image-metadata") == {
        meta("app", "c1", "a1")["tag"]: (DELETE, "unhit-commit"),
        meta("app", "c2", "a2")["tag"]: (DELETE, "unhit-commit"),
        meta("app", "c3", "a3")["tag"]: (KEEP, "hit-commit"),
    }


def test_images_per_reference_last_minus_one_keeps_every_reached_stage():
    repo = inventory([stage("a1"), stage("a2")], [meta("app", "c1", "a1"), meta("app", "c2", "a2")])
    policy = parse_policies({"references": {"branch": "main"}, "imagesPerReference": {"last": -1}})
    assert rows(decide(repo, keep_policies=policy)) == {sid("a1"): (KEEP, "git-policy"), sid("a2"): (KEEP, "git-policy")}


def test_werf_2_default_policies_keep_one_stage_per_tag_and_up_to_ten_on_main():
    metas = [meta("app", "c1", "a1"), meta("app", "c2", "a2"), meta("app", "c3", "a3")]
    repo = inventory([stage("a1"), stage("a2"), stage("a3")], metas)
    history = refs(("main", "branch", "c3", NOW - timedelta(days=1)), ("v1", "tag", "c1", NOW - timedelta(days=3)))
    assert rows(decide(repo, refs_table=history)) == {
        sid("a1"): (KEEP, "git-policy"),
        sid("a2"): (KEEP, "git-policy"),
        sid("a3"): (KEEP, "git-policy"),
    }
    default = werf2_keep_policies(None)
    assert [p.images_per_reference.last for p in default] == [1, 2, 10]
    assert werf2_keep_policies(parse_policies()) == default


def test_werf_2_default_last_applies_only_where_the_policy_gives_none():
    given = parse_policies(
        {"references": {"branch": "a"}},
        {"references": {"branch": "b"}, "imagesPerReference": {"in": "24h"}},
        {"references": {"branch": "c"}, "imagesPerReference": {"last": -1}},
        {"references": {"branch": "d"}, "imagesPerReference": {"last": 0}},
    )
    limits = [p.images_per_reference for p in werf2_keep_policies(given)]
    assert [(limit.last, limit.in_) for limit in limits] == [(1, None), (1, timedelta(hours=24)), (-1, None), (0, None)]


def test_stages_built_at_one_commit_are_kept_together_under_last_one():
    # werf e2e: "should keep several images that are related to one commit regardless of the keep policies"
    repo = inventory([stage("x1"), stage("x2")], [meta("app", "c3", "x1"), meta("app", "c3", "x2")])
    policy = parse_policies({"references": {"branch": "/.*/"}, "imagesPerReference": {"last": 1}})
    assert rows(decide(repo, keep_policies=policy)) == {sid("x1"): (KEEP, "git-policy"), sid("x2"): (KEEP, "git-policy")}


def test_stage_of_a_branch_no_policy_selects_is_deleted():
    # werf e2e: "should remove image from untracked branch"
    history = commits(("c1", [], OLD), ("s1", ["c1"], NOW - timedelta(hours=1)))
    repo = inventory([stage("a")], [meta("app", "s1", "a")])
    refs_table = refs(("some_branch", "branch", "s1", NOW - timedelta(hours=1)))
    decisions = decide(
        repo, refs_table=refs_table, commits_table=history, keep_policies=parse_policies({"references": {"branch": "test"}})
    )
    assert rows(decisions) == {sid("a"): (DELETE, "unused-stage")}
    assert rows(decisions, "image-metadata") == {meta("app", "s1", "a")["tag"]: (DELETE, "unhit-commit")}


@pytest.mark.parametrize(("age_hours", "expected"), [(25, (DELETE, "unused-stage")), (23, (KEEP, "git-policy"))])
def test_images_per_reference_in_keeps_a_stage_of_a_recent_commit_only(age_hours, expected):
    # werf e2e: "should remove image by imagesPerReference.in"
    history = commits(("t1", [], NOW - timedelta(hours=age_hours)))
    repo = inventory([stage("a")], [meta("app", "t1", "a")])
    policy = parse_policies({"references": {"branch": "test"}, "imagesPerReference": {"in": "24h"}})
    refs_table = refs(("test", "branch", "t1", NOW - timedelta(hours=age_hours)))
    assert rows(decide(repo, refs_table=refs_table, commits_table=history, keep_policies=policy)) == {sid("a"): expected}


def _three_branches() -> tuple[RepoInventory, pa.Table, pa.Table]:
    # werf e2e "references.limit.*": test1 13 h old, test2 11 h old, test3 now, one stage each
    history = commits(
        ("t1", [], NOW - timedelta(hours=13)),
        ("t2", ["t1"], NOW - timedelta(hours=11)),
        ("t3", ["t2"], NOW - timedelta(minutes=1)),
    )
    refs_table = refs(
        ("test1", "branch", "t1", NOW - timedelta(hours=13)),
        ("test2", "branch", "t2", NOW - timedelta(hours=11)),
        ("test3", "branch", "t3", NOW - timedelta(minutes=1)),
    )
    repo = inventory(
        [stage("s1"), stage("s2"), stage("s3")], [meta("app", "t1", "s1"), meta("app", "t2", "s2"), meta("app", "t3", "s3")]
    )
    return repo, refs_table, history


@pytest.mark.parametrize(("operator", "kept"), [("Or", {"s2", "s3"}), ("And", {"s3"})])
def test_references_limit_in_and_last_select_the_branches_to_scan(operator, kept):
    repo, refs_table, history = _three_branches()
    policy = parse_policies({"references": {"branch": "/.*/", "limit": {"in": "12h", "last": 1, "operator": operator}}})
    decisions = decide(repo, refs_table=refs_table, commits_table=history, keep_policies=policy)
    assert {tag for tag, (action, _) in rows(decisions).items() if action == KEEP} == {sid(s) for s in kept}


@pytest.mark.parametrize(("operator", "kept"), [("Or", {"s2", "s3"}), ("And", {"s3"})])
def test_images_per_reference_in_and_last_pick_the_stages_of_one_branch(operator, kept):
    # werf e2e "imagesPerReference.*": one branch "test" with three builds (13 h, 11 h, now)
    _, _, history = _three_branches()
    repo = inventory(
        [stage("s1"), stage("s2"), stage("s3")], [meta("app", "t1", "s1"), meta("app", "t2", "s2"), meta("app", "t3", "s3")]
    )
    refs_table = refs(("test", "branch", "t3", NOW - timedelta(minutes=1)))
    policy = parse_policies(
        {"references": {"branch": "test"}, "imagesPerReference": {"in": "12h", "last": 1, "operator": operator}}
    )
    decisions = decide(repo, refs_table=refs_table, commits_table=history, keep_policies=policy)
    assert {tag for tag, (action, _) in rows(decisions).items() if action == KEEP} == {sid(s) for s in kept}


def test_one_stage_rebuilt_at_three_commits_keeps_only_the_newest_record():
    # werf e2e: "should keep image metadata only for the latest commit (one branch)"
    repo = inventory([stage("a")], [meta("app", c, "a") for c in ("c1", "c2", "c3")])
    decisions = decide(repo, keep_policies=parse_policies({"references": {"branch": "main"}}))
    assert sorted(rows(decisions, "image-metadata").values()) == [(DELETE, "unhit-commit")] * 2 + [(KEEP, "hit-commit")]
    assert row(decisions, meta("app", "c3", "a")["tag"], "image-metadata")["action"] == KEEP


def test_one_stage_on_three_branches_keeps_the_record_of_each_branch():
    # werf e2e: "should keep all image metadata (several branches)"
    repo = inventory([stage("a")], [meta("app", c, "a") for c in ("c1", "c2", "c3")])
    refs_table = refs(*[(f"test_{c}", "branch", c, NOW - timedelta(days=1)) for c in ("c1", "c2", "c3")])
    decisions = decide(repo, refs_table=refs_table, keep_policies=parse_policies({"references": {"branch": "/.*/"}}))
    assert set(rows(decisions, "image-metadata").values()) == {(KEEP, "hit-commit")}


def test_meta_record_reasons_apply_in_werf_order():
    history = commits(("c1", [], OLD))
    repo = inventory(
        [stage("a")],
        [
            meta(None, "gone", "missing"),  # nonexistent image, stage and commit: the image counts
            meta("app", "gone", "missing"),  # nonexistent stage and commit: the stage counts
            meta("app", "gone", "a"),  # nonexistent commit
            meta("app", "c1", "a"),  # not reached by a scanned reference: unhit
            meta("retired", "c1", "a"),  # named, but neither in werf.yaml nor a managed image
        ],
    )
    decisions = decide(repo, refs_table=refs(), commits_table=history)
    assert rows(decisions, "image-metadata") == {
        meta(None, "gone", "missing")["tag"]: (DELETE, "nonexistent-image"),
        meta("app", "gone", "missing")["tag"]: (DELETE, "nonexistent-stage"),
        meta("app", "gone", "a")["tag"]: (DELETE, "nonexistent-commit"),
        meta("app", "c1", "a")["tag"]: (DELETE, "unhit-commit"),
        meta("retired", "c1", "a")["tag"]: (DELETE, "nonexistent-image"),
    }
    record = row(decisions, meta("app", "c1", "a")["tag"], "image-metadata")
    assert (record["signature"], record["commit"], record["image_name"]) == (sid("a"), sha("c1"), "app")


def test_meta_record_of_a_managed_image_not_in_werf_yaml_takes_part():
    repo = inventory([stage("a")], [meta("tool", "c3", "a")], managed_names=("tool",))
    decisions = decide(repo, werf_images=(), keep_policies=parse_policies({"references": {"branch": "main"}}))
    assert rows(decisions) == {sid("a"): (KEEP, "git-policy")}


def test_nameless_image_is_shown_as_tilde():
    repo = inventory([stage("a")], [meta("", "c3", "a")], managed_names=())
    decisions = decide(repo, werf_images=("",), keep_policies=parse_policies({"references": {"branch": "main"}}))
    record = row(decisions, meta("", "c3", "a")["tag"], "image-metadata")
    assert (record["image_name"], record["action"]) == ("~", KEEP)
    assert rows(decisions) == {sid("a"): (KEEP, "git-policy")}


def test_disabled_git_history_policy_deletes_every_meta_record_and_protects_nothing():
    repo = inventory([stage("a")], [meta("app", "c3", "a"), meta(None, "c1", "a")])
    decisions = decide(repo, refs_table=None, commits_table=None, run_switches=switches(git_history=False))
    assert set(rows(decisions, "image-metadata").values()) == {(DELETE, "git-policy-disabled")}
    assert rows(decisions) == {sid("a"): (DELETE, "unused-stage")}


def test_git_history_policy_without_the_git_tables_refuses_to_decide():
    with pytest.raises(ValueError, match="refs and commits"):
        decide(inventory([stage("a")]), refs_table=None, commits_table=None)


def test_build_of_an_unpushed_commit_goes_and_the_pushed_build_stays_with_its_chains():
    # werf e2e "git history based policy: should remove unused stages": build, push, commit, rebuild
    # (FROM_CACHE_VERSION changes every stage), cleanup; image imports from artifact
    def build(n: str) -> list[dict]:
        return [
            stage(f"artifact-from{n}"),
            stage(f"artifact-install{n}", parent=f"artifact-from{n}"),
            stage(f"image-from{n}"),
            stage(f"image-setup{n}", parent=f"image-from{n}", checksums=[f"sum{n}"]),
        ]

    history = commits(("c2", ["c1"], NOW - timedelta(hours=1)), ("c1", [], NOW - timedelta(hours=2)))
    metas = [
        meta(image, commit, f"{last}{n}")
        for n, commit in (("1", "c1"), ("2", "c2"))
        for image, last in (("image", "image-setup"), ("artifact", "artifact-install"))
    ]
    repo = inventory([*build("1"), *build("2")], metas, managed_names=("image", "artifact"))
    decisions = decide(
        repo,
        werf_images=("image", "artifact"),
        refs_table=refs(("feature", "branch", "c1", NOW - timedelta(hours=2))),
        commits_table=history,
    )
    kept = {tag for tag, (action, _) in rows(decisions).items() if action == KEEP}
    assert kept == {s["tag"] for s in build("1")}
    assert rows(decisions)[sid("image-from1")] == (KEEP, "ancestor")
    assert {reason for tag, (_, reason) in rows(decisions).items() if tag not in kept} == {"unused-stage"}
    assert {reason for _, reason in rows(decisions, "image-metadata").values()} == {"hit-commit", "unhit-commit"}
