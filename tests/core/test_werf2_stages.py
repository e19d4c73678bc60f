"""werf 1.2 / 2.x cleanup: grace window, keep list, rejected stages, relatives, the records that
follow their stages, other projects, unreadable stages (SPEC §13.3 steps 2 and 5–7)."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from core.plan import build_plan
from schemas.errors import PlanInvariantError
from tests.core.tables import policies as parse_policies
from tests.core.test_werf2_cleanup import (
    DELETE,
    KEEP,
    NOW,
    OLD,
    PROJECT,
    R,
    custom,
    decide,
    deleted_tags,
    import_record,
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

# --------------------------------------------------------------------------- 5. window, keep list


def test_stage_built_within_the_window_is_kept_and_an_older_one_goes():
    repo = inventory([stage("fresh", created=NOW - timedelta(hours=1)), stage("old", created=NOW - timedelta(hours=3))])
    decisions = decide(repo, window_hours=2)
    assert rows(decisions) == {sid("fresh"): (KEEP, "built-within-last-n-hours"), sid("old"): (DELETE, "unused-stage")}
    assert row(decisions, sid("fresh"))["detail"].startswith("built within the last 2 h")


def test_zero_window_keeps_nothing_for_its_age():
    repo = inventory([stage("fresh", created=NOW - timedelta(minutes=1))])
    assert rows(decide(repo, window_hours=0)) == {sid("fresh"): (DELETE, "unused-stage")}


def test_stage_without_a_created_time_is_dated_by_its_stage_id():
    recent = stage("recent", created=None)
    recent["creation_ts"] = int((NOW - timedelta(minutes=30)).timestamp() * 1000)
    recent["tag"] = f"{recent['stage_digest']}-{recent['creation_ts']}"
    old = stage("old", created=None)  # creationTs of 2023
    decisions = decide(inventory([recent, old]), window_hours=2)
    assert rows(decisions) == {recent["tag"]: (KEEP, "built-within-last-n-hours"), sid("old"): (DELETE, "unused-stage")}


def test_index_is_dated_by_its_newest_platform_and_keeps_its_platforms():
    platforms = [stage("amd64", created=OLD), stage("arm64", created=OLD)]
    index = stage("index-app", platforms=["amd64", "arm64"], created=NOW - timedelta(minutes=5))
    decisions = decide(inventory([*platforms, index]), window_hours=2)
    assert rows(decisions) == {
        sid("index-app"): (KEEP, "built-within-last-n-hours"),
        sid("amd64"): (KEEP, "image-index-platform"),
        sid("arm64"): (KEEP, "image-index-platform"),
    }


def test_keep_list_protects_a_stage_by_its_id_or_by_a_custom_tag():
    repo = inventory([stage("a"), stage("b"), stage("c")], customs=[custom("pinned", "b"), custom("listed-gone", "gone")])
    decisions = decide(repo, keep_list=[sid("a"), "pinned", "listed-gone", "not-a-tag-here"])
    assert rows(decisions) == {sid("a"): (KEEP, "keep-list"), sid("b"): (KEEP, "keep-list"), sid("c"): (DELETE, "unused-stage")}
    assert row(decisions, sid("b"))["detail"] == "its custom tag pinned is listed in the keep list"
    assert rows(decisions, "custom-tag") == {"pinned": (KEEP, "keep-list"), "listed-gone": (KEEP, "keep-list")}


# --------------------------------------------------------------------------- 6. rejected stages


def test_rejected_stage_goes_with_its_custom_tags_and_marker_last_even_when_a_policy_reaches_it():
    repo = inventory(
        [stage("bad", rejected=True), stage("good")],
        [meta("app", "c3", "bad")],
        [custom("release", "bad")],
    )
    decisions = decide(repo, keep_policies=MAIN_ONLY, keep_list=[sid("bad")])
    marker = f"{sid('bad')}-rejected"
    assert rows(decisions)[sid("bad")] == (DELETE, "rejected")
    assert rows(decisions, "rejected-marker") == {marker: (DELETE, "rejected")}
    assert rows(decisions, "custom-tag") == {"release": (DELETE, "rejected")}
    assert rows(decisions, "custom-tag-metadata") == {"custom-tag-meta-release": (DELETE, "rejected")}
    order = [r["tag"] for r in build_plan([decisions]).to_pylist() if r["action"] == DELETE]
    assert order.index(sid("bad")) < order.index("release") < order.index("custom-tag-meta-release") < order.index(marker)


def test_rejected_stage_a_workload_runs_is_kept_with_its_marker():
    repo = inventory([stage("bad", rejected=True)], customs=[custom("live", "bad")])
    decisions = decide(repo, kube_images=kube(f"{R}:live"))
    assert rows(decisions) == {sid("bad"): (KEEP, "used-in-kubernetes")}
    assert rows(decisions, "rejected-marker") == {f"{sid('bad')}-rejected": (KEEP, "used-in-kubernetes")}
    assert rows(decisions, "custom-tag") == {"live": (KEEP, "used-in-kubernetes")}
    assert deleted_tags(build_plan([decisions])) == set()


def test_marker_whose_stage_is_gone_is_deleted():
    digest = sid("gone")[:56]
    repo = inventory(
        [stage("a")], extra_tags=[(f"{sid('gone')}-rejected", "rejected-marker"), (f"{digest}-0-rejected", "rejected-marker")]
    )
    decisions = decide(repo)
    assert rows(decisions, "rejected-marker") == {
        f"{sid('gone')}-rejected": (DELETE, "rejected"),
        f"{digest}-0-rejected": (DELETE, "rejected"),
    }


# --------------------------------------------------------------------------- 7. relatives


def test_parent_chain_of_a_protected_stage_is_kept_by_label_and_by_config_image():
    repo = inventory(
        [
            stage("base"),
            stage("middle", parent_image="base"),  # v1.2: config Image / werf.io/base-image-id
            stage("top", parent="middle"),  # v2: werf.io/parent-stage-id
            stage("unrelated"),
        ]
    )
    decisions = decide(repo, kube_images=kube(f"{R}:{sid('top')}"))
    assert rows(decisions) == {
        sid("top"): (KEEP, "used-in-kubernetes"),
        sid("middle"): (KEEP, "ancestor"),
        sid("base"): (KEEP, "ancestor"),
        sid("unrelated"): (DELETE, "unused-stage"),
    }
    assert (
        row(decisions, sid("base"))["detail"]
        == f"parent of {sid('middle')}; the chain starts at {sid('top')} (used-in-kubernetes)"
    )


@pytest.mark.parametrize("source", [{"source": "artifact"}, {"source_image": "artifact"}])
def test_import_source_of_a_stage_kept_by_kubernetes_is_kept_with_its_import_metadata(source):
    repo = inventory(
        [stage("artifact-base"), stage("artifact", parent="artifact-base"), stage("app", checksums=["sum1"])],
        imports=[import_record("imp1", "sum1", **source)],
    )
    decisions = decide(repo, kube_images=kube(f"{R}:{sid('app')}"))
    assert rows(decisions) == {
        sid("app"): (KEEP, "used-in-kubernetes"),
        sid("artifact"): (KEEP, "import-source"),
        sid("artifact-base"): (KEEP, "ancestor"),
    }
    assert rows(decisions, "import-metadata") == {"import-metadata-imp1": (KEEP, "import-source")}
    assert row(decisions, "import-metadata-imp1", "import-metadata")["signature"] == sid("artifact")


def test_git_policy_does_not_keep_import_sources_and_their_metadata_goes():
    repo = inventory(
        [stage("artifact"), stage("app", checksums=["sum1"])],
        [meta("app", "c3", "app")],
        imports=[import_record("imp1", "sum1", source="artifact")],
    )
    decisions = decide(repo, keep_policies=MAIN_ONLY)
    assert rows(decisions) == {sid("app"): (KEEP, "git-policy"), sid("artifact"): (DELETE, "unused-stage")}
    assert rows(decisions, "import-metadata") == {"import-metadata-imp1": (DELETE, "unused-import-metadata")}


def test_stage_kept_by_git_policy_and_by_kubernetes_keeps_its_import_sources():
    repo = inventory(
        [stage("artifact"), stage("app", checksums=["sum1"])],
        [meta("app", "c3", "app")],
        imports=[import_record("imp1", "sum1", source="artifact")],
    )
    decisions = decide(repo, keep_policies=MAIN_ONLY, kube_images=kube(f"{R}:{sid('app')}"))
    assert rows(decisions)[sid("artifact")] == (KEEP, "import-source")


def test_import_source_and_dependency_labels_name_stages_directly():
    repo = inventory([stage("src"), stage("dep"), stage("app", imports=["src"], dependencies=["dep"]), stage("other")])
    decisions = decide(repo, window_hours=1, keep_list=[sid("app")])
    assert rows(decisions) == {
        sid("app"): (KEEP, "keep-list"),
        sid("src"): (KEEP, "import-source"),
        sid("dep"): (KEEP, "dependency-source"),
        sid("other"): (DELETE, "unused-stage"),
    }


def test_import_metadata_of_a_deleted_or_missing_source_goes():
    repo = inventory(
        [stage("artifact"), stage("kept")],
        imports=[
            import_record("imp-deleted", "s1", source="artifact"),
            import_record("imp-missing", "s2", source="never-built"),
            import_record("imp-v12", "s3", source_image="never-built"),
            import_record("imp-kept", "s4", source="kept"),
        ],
    )
    decisions = decide(repo, keep_list=[sid("kept")])
    assert rows(decisions, "import-metadata") == {
        "import-metadata-imp-deleted": (DELETE, "unused-import-metadata"),
        "import-metadata-imp-missing": (DELETE, "unused-import-metadata"),
        "import-metadata-imp-v12": (DELETE, "unused-import-metadata"),
        "import-metadata-imp-kept": (KEEP, "keep-list"),
    }
    assert "this cleanup deletes it" in row(decisions, "import-metadata-imp-deleted", "import-metadata")["detail"]


def test_custom_tags_follow_their_stage():
    # werf e2e: "should remove custom tag associated with the deleted stage"
    repo = inventory(
        [stage("v1"), stage("v2")],
        [meta("app", "c2", "v1"), meta("app", "c3", "v2")],
        [custom("tag1", "v2"), custom("tag2", "v1"), custom("orphan", "never-built"), custom("absent", "v1", present=False)],
    )
    decisions = decide(repo, keep_policies=MAIN_ONLY)
    assert rows(decisions) == {sid("v2"): (KEEP, "git-policy"), sid("v1"): (DELETE, "unused-stage")}
    assert rows(decisions, "custom-tag") == {
        "tag1": (KEEP, "git-policy"),
        "tag2": (DELETE, "stage-deleted"),
        "orphan": (DELETE, "nonexistent-stage"),
    }
    assert rows(decisions, "custom-tag-metadata")["custom-tag-meta-absent"] == (DELETE, "stage-deleted")
    assert row(decisions, "tag2", "custom-tag")["signature"] == sid("v1")


# --------------------------------------------------------------------------- other project, unreadable, never deleted


def test_stage_labelled_for_another_project_is_never_deleted_nor_its_custom_tags():
    repo = inventory(
        [stage("theirs", project="beta"), stage("unlabelled", project=None)], customs=[custom("their-tag", "theirs")]
    )
    decisions = decide(repo)
    assert rows(decisions) == {sid("theirs"): (KEEP, "other-project"), sid("unlabelled"): (DELETE, "unused-stage")}
    assert row(decisions, sid("theirs"))["detail"] == f"labelled werf=beta, not {PROJECT}"
    assert rows(decisions, "custom-tag") == {"their-tag": (KEEP, "other-project")}


def test_unreadable_stage_is_kept_with_its_meta_records_and_custom_tags():
    lost = sid("lost")
    repo = inventory(
        [stage("a")],
        [meta("app", "c3", "lost", stage_id=lost)],
        [custom("lost-tag", "lost")],
        imports=[import_record("imp", "sum", source="lost")],
        unreadable={lost: "manifest unknown"},
    )
    decisions = decide(repo)
    assert rows(decisions) == {lost: (KEEP, "unreadable"), sid("a"): (DELETE, "unused-stage")}
    assert row(decisions, lost)["detail"] == "could not be read in this run: manifest unknown"
    assert rows(decisions, "image-metadata") == {meta("app", "c3", "lost", stage_id=lost)["tag"]: (KEEP, "unreadable")}
    assert rows(decisions, "custom-tag") == {"lost-tag": (KEEP, "unreadable")}
    assert rows(decisions, "import-metadata") == {"import-metadata-imp": (KEEP, "unreadable")}


def test_service_records_and_foreign_tags_never_appear_as_deletes():
    service = [("client-id-abc-1700000000000", "client-id"), ("sync-server", "sync-server"), ("cleanup", "cleanup")]
    foreign = [("latest", "foreign"), ("cleanup-tag", "custom-tag")]
    repo = inventory([stage("a")], customs=[custom("latest", "a"), custom("cleanup", "a")], extra_tags=service + foreign)
    decisions = decide(repo)
    assert deleted_tags(decisions) == {sid("a"), "custom-tag-meta-latest", "custom-tag-meta-cleanup"}
    assert {t for t, _ in service} & {r["tag"] for r in decisions.to_pylist()} == set()


def test_stage_rows_carry_the_stage_id_size_and_digest():
    decisions = decide(inventory([stage("a")]))
    record = row(decisions, sid("a"))
    assert (record["signature"], record["size_bytes"], record["digest"], record["storage"]) == (
        sid("a"),
        1001,
        manifest("a"),
        "repo",
    )
    assert record["detail"]


def test_plan_of_a_mixed_repository_is_accepted_and_never_deletes_a_used_tag():
    repo = inventory(
        [stage("base"), stage("app", parent="base", checksums=["s"]), stage("art"), stage("old"), stage("bad", rejected=True)],
        [meta("app", "c3", "app"), meta("app", "c1", "old")],
        [custom("prod", "app"), custom("legacy", "old"), custom("bad-tag", "bad")],
        imports=[import_record("i", "s", source="art")],
    )
    decisions = decide(repo, keep_policies=MAIN_ONLY, kube_images=kube(f"{R}:prod", f"{R}@{manifest('base')}"))
    plan = build_plan([decisions])
    assert deleted_tags(plan) == {
        sid("old"),
        "legacy",
        "custom-tag-meta-legacy",
        meta("app", "c1", "old")["tag"],
        sid("bad"),
        "bad-tag",
        "custom-tag-meta-bad-tag",
        f"{sid('bad')}-rejected",
    }
    assert rows(decisions)[sid("art")] == (KEEP, "import-source")
    assert all(r["detail"] for r in decisions.to_pylist()), "every decision says why"
    assert rows(decisions, "image-metadata")[meta("app", "c3", "app")["tag"]] == (KEEP, "hit-commit")


def test_the_plan_check_refuses_a_delete_of_a_used_tag():
    decisions = decide(inventory([stage("a")]), kube_images=kube(f"{R}:{sid('a')}"))
    forged = pa.Table.from_pylist([{**decisions.to_pylist()[0], "action": DELETE}], schema=decisions.schema)
    with pytest.raises(PlanInvariantError, match="used in Kubernetes"):
        build_plan([forged])
