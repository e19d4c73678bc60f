"""Images cleanup by git history on real repositories (SPEC §4), after werf's cleanup catalogue.

Each test builds an origin + clone with controlled commit dates, binds content signatures to
commits with metadata records, and checks which images-repo tags and records survive.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from adapters.git_repo import GitRepo
from core.images import decide_images
from schemas.config import default_keep_policies
from schemas.tables import DECISIONS_SCHEMA
from tests.core.tables import (
    IMAGES_REPO,
    by_tag,
    decide,
    kept_tags,
    metadata_decisions,
    metadata_table,
    policies,
    tags_table,
)
from tests.fixtures.gitrepo import NOW, GitProject, hours_ago

MAIN_LAST = {"references": {"branch": "main"}, "imagesPerReference": {"last": 1}}
ALL_BRANCHES = {"references": {"branch": "/.*/"}}


def one_image(shas_and_labels: list[tuple[str, str]]) -> tuple[pa.Table, pa.Table]:
    """Metadata for image ``app`` and one tag per signature, named after the signature label."""
    metadata = metadata_table([("app", sha, label) for sha, label in shas_and_labels])
    labels = sorted({label for _, label in shas_and_labels})
    return tags_table([("app", label, label) for label in labels]), metadata


def test_keeps_image_of_origin_branch_and_removes_image_of_local_only_branch(git_project: GitProject) -> None:
    base = git_project.commit("main", hours_ago(5))
    local = git_project.commit("wip", hours_ago(1), parents=[base])
    git_project.push("main")
    tags, metadata = one_image([(base, "published"), (local, "local")])

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(ALL_BRANCHES), NOW)

    assert by_tag(decisions) == {
        "published": ("keep", "git-policy"),
        "local": ("delete", "not-reached-by-policy"),
    }
    assert metadata_decisions(decisions)[local] == ("delete", "unused-metadata")


def test_removes_image_of_branch_deleted_in_origin_after_sync(git_project: GitProject) -> None:
    base = git_project.commit("main", hours_ago(5))
    gone = git_project.commit("feature", hours_ago(1), parents=[base])
    git_project.push("main", "feature")
    git_project.delete_origin_branch("feature")
    repo = GitRepo(git_project.work)
    tags, metadata = one_image([(base, "main"), (gone, "feature")])
    assert "feature" in kept_tags(decide(repo, tags, metadata, policies(ALL_BRANCHES), NOW))  # stale ref

    repo.sync_with_origin()

    assert kept_tags(decide(repo, tags, metadata, policies(ALL_BRANCHES), NOW)) == {"main"}


def test_images_per_reference_last_zero_keeps_nothing_for_that_reference(git_project: GitProject) -> None:
    shas = git_project.commits("main", [hours_ago(3), hours_ago(2), hours_ago(1)])
    git_project.push("main")
    tags, metadata = one_image(list(zip(shas, ["a", "b", "c"], strict=True)))
    keep = policies({"references": {"branch": "main"}, "imagesPerReference": {"last": 0}})

    decisions = decide(GitRepo(git_project.work), tags, metadata, keep, NOW)

    assert kept_tags(decisions) == set()
    assert {reason for _, reason in metadata_decisions(decisions).values()} == {"unused-metadata"}


def test_images_per_reference_in_24h_removes_25h_old_and_keeps_23h_old(git_project: GitProject) -> None:
    old, recent = git_project.commits("main", [hours_ago(25), hours_ago(23)])
    git_project.push("main")
    tags, metadata = one_image([(old, "old"), (recent, "recent")])
    keep = policies({"references": {"branch": "main"}, "imagesPerReference": {"in": "24h"}})

    assert by_tag(decide(GitRepo(git_project.work), tags, metadata, keep, NOW)) == {
        "old": ("delete", "not-reached-by-policy"),
        "recent": ("keep", "git-policy"),
    }


def test_references_limit_in_12h_scans_only_recent_branches(git_project: GitProject) -> None:
    base = git_project.commit("main", hours_ago(48))
    stale = git_project.commit("stale", hours_ago(13), parents=[base])
    fresh = git_project.commit("fresh", hours_ago(11), parents=[base])
    git_project.push("stale", "fresh")
    tags, metadata = one_image([(stale, "stale"), (fresh, "fresh")])
    keep = policies({"references": {"branch": "/.*/", "limit": {"in": "12h"}}})

    assert kept_tags(decide(GitRepo(git_project.work), tags, metadata, keep, NOW)) == {"fresh"}


@pytest.mark.parametrize(("operator", "kept"), [("Or", {"b1h", "b6h"}), ("And", {"b1h"})])
def test_references_limit_in_12h_with_last_1_over_three_branches(git_project: GitProject, operator: str, kept: set[str]) -> None:
    base = git_project.commit("main", hours_ago(100))
    pairs = [(git_project.commit(f"b{h}h", hours_ago(h), parents=[base]), f"b{h}h") for h in (1, 6, 30)]
    git_project.push(*(label for _, label in pairs))
    tags, metadata = one_image(pairs)
    keep = policies({"references": {"branch": "/b.*/", "limit": {"in": "12h", "last": 1, "operator": operator}}})

    assert kept_tags(decide(GitRepo(git_project.work), tags, metadata, keep, NOW)) == kept


@pytest.mark.parametrize(("operator", "kept"), [("Or", {"c6h", "c1h"}), ("And", {"c1h"})])
def test_images_per_reference_in_12h_with_last_1_over_three_commits(
    git_project: GitProject, operator: str, kept: set[str]
) -> None:
    shas = git_project.commits("main", [hours_ago(30), hours_ago(6), hours_ago(1)])
    git_project.push("main")
    tags, metadata = one_image(list(zip(shas, ["c30h", "c6h", "c1h"], strict=True)))
    keep = policies({"references": {"branch": "main"}, "imagesPerReference": {"in": "12h", "last": 1, "operator": operator}})

    assert kept_tags(decide(GitRepo(git_project.work), tags, metadata, keep, NOW)) == kept


def test_two_signatures_of_the_same_date_are_kept_together_under_last_1(git_project: GitProject) -> None:
    shas = git_project.commits("main", [hours_ago(9), hours_ago(2), hours_ago(2)])
    git_project.push("main")
    tags, metadata = one_image(list(zip(shas, ["older", "twin-a", "twin-b"], strict=True)))

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(MAIN_LAST), NOW)

    assert kept_tags(decisions) == {"twin-a", "twin-b"}


def test_two_images_built_from_one_commit_each_keep_their_signature_under_last_1(git_project: GitProject) -> None:
    older, head = git_project.commits("main", [hours_ago(9), hours_ago(2)])
    git_project.push("main")
    metadata = metadata_table([("api", older, "api-1"), ("api", head, "api-2"), ("web", older, "web-1"), ("web", head, "web-2")])
    tags = tags_table(
        [("api", "api-1", "api-1"), ("api", "api-2", "api-2"), ("web", "web-1", "web-1"), ("web", "web-2", "web-2")]
    )

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(MAIN_LAST), NOW)

    assert kept_tags(decisions) == {"api-2", "web-2"}


def test_one_signature_over_three_commits_of_one_branch_keeps_only_the_head_record(git_project: GitProject) -> None:
    shas = git_project.commits("main", [hours_ago(3), hours_ago(2), hours_ago(1)])
    git_project.push("main")
    tags, metadata = one_image([(sha, "same") for sha in shas])

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(MAIN_LAST), NOW)

    assert kept_tags(decisions) == {"same"}
    assert metadata_decisions(decisions) == {
        shas[0]: ("delete", "unhit-commit"),
        shas[1]: ("delete", "unhit-commit"),
        shas[2]: ("keep", "hit-commit"),
    }


def test_one_signature_over_three_branch_heads_keeps_three_records(git_project: GitProject) -> None:
    base = git_project.commit("main", hours_ago(10))
    heads = [git_project.commit(f"f{i}", hours_ago(i + 1), parents=[base]) for i in range(3)]
    git_project.push("f0", "f1", "f2")
    tags, metadata = one_image([(sha, "same") for sha in heads])
    keep = policies({"references": {"branch": "/f.*/"}, "imagesPerReference": {"last": 1}})

    decisions = decide(GitRepo(git_project.work), tags, metadata, keep, NOW)

    assert set(metadata_decisions(decisions).values()) == {("keep", "hit-commit")}


def test_default_policies_keep_images_of_the_last_10_git_tags(git_project: GitProject) -> None:
    shas = git_project.commits("release-line", [hours_ago(2000 - i) for i in range(12)])
    for i, sha in enumerate(shas):  # tag dates decide which are the last 10
        git_project.tag(f"v1.{i}", sha, annotated=True, date=hours_ago(1000 - 10 * i))
    git_project.push("release-line")  # too old for the default branch policies
    tags, metadata = one_image([(sha, f"v1.{i}") for i, sha in enumerate(shas)])

    decisions = decide(GitRepo(git_project.work), tags, metadata, default_keep_policies(), NOW)

    assert kept_tags(decisions) == {f"v1.{i}" for i in range(2, 12)}
    assert by_tag(decisions)["v1.0"] == ("delete", "not-reached-by-policy")


def test_tag_reaches_only_the_tagged_commit(git_project: GitProject) -> None:
    parent, tagged = git_project.commits("old-line", [hours_ago(900), hours_ago(899)])
    git_project.tag("v1", tagged)
    git_project.push("old-line")
    tags, metadata = one_image([(parent, "parent"), (tagged, "tagged")])

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies({"references": {"tag": "/.*/"}}), NOW)

    assert kept_tags(decisions) == {"tagged"}


def test_signature_reachable_only_through_a_second_parent_is_reached(git_project: GitProject) -> None:
    base = git_project.commit("main", hours_ago(10))
    side = git_project.commit("side", hours_ago(8), parents=[base])
    git_project.commit("main", hours_ago(6))
    git_project.merge("main", "side", hours_ago(4))
    git_project.push("main")  # the side branch itself is never published
    tags, metadata = one_image([(base, "base"), (side, "side")])
    keep = policies({"references": {"branch": "main"}})

    assert kept_tags(decide(GitRepo(git_project.work), tags, metadata, keep, NOW)) == {"base", "side"}


def test_signatures_without_tags_do_not_use_up_last_slots(git_project: GitProject) -> None:
    older, head = git_project.commits("main", [hours_ago(5), hours_ago(1)])
    git_project.push("main")
    metadata = metadata_table([("app", older, "tagged"), ("app", head, "untagged")])
    tags = tags_table([("app", "tagged", "tagged")])

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(MAIN_LAST), NOW)

    assert kept_tags(decisions) == {"tagged"}
    assert metadata_decisions(decisions) == {older: ("keep", "hit-commit"), head: ("delete", "unused-metadata")}


def test_metadata_of_missing_commits_is_deleted_and_its_tag_has_no_metadata(git_project: GitProject) -> None:
    head = git_project.commit("main", hours_ago(1))
    git_project.push("main")
    missing = "f" * 40
    metadata = metadata_table([("app", head, "kept"), ("app", missing, "orphan")])
    tags = tags_table([("app", "kept", "kept"), ("app", "orphan", "orphan"), ("app", "unknown", "never-built")])

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(MAIN_LAST), NOW)

    assert by_tag(decisions) == {
        "kept": ("keep", "git-policy"),
        "orphan": ("delete", "no-metadata"),
        "unknown": ("delete", "no-metadata"),
    }
    assert metadata_decisions(decisions)[missing] == ("delete", "nonexistent-commit")


def test_tag_used_in_kubernetes_is_kept_and_its_unhit_record_goes(git_project: GitProject) -> None:
    older, head = git_project.commits("main", [hours_ago(5), hours_ago(1)])
    git_project.push("main")
    tags, metadata = one_image([(older, "in-prod"), (head, "latest")])
    kube_used = pa.table(
        {
            "repository": [f"{IMAGES_REPO}/app", f"{IMAGES_REPO}/app"],
            "tag": ["in-prod", "in-prod"],
            "detail": ["ctx-b/default/Deployment/web", "ctx-a/jobs/CronJob/nightly"],
        }
    )

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(MAIN_LAST), NOW, kube_used)

    assert by_tag(decisions) == {"in-prod": ("keep", "used-in-kubernetes"), "latest": ("keep", "git-policy")}
    detail = {r["tag"]: r["detail"] for r in decisions.to_pylist()}["in-prod"]
    assert detail == "ctx-a/jobs/CronJob/nightly; ctx-b/default/Deployment/web"
    assert metadata_decisions(decisions) == {older: ("delete", "unhit-commit"), head: ("keep", "hit-commit")}


def test_decisions_cover_every_tag_and_record_with_tags_first(git_project: GitProject) -> None:
    head = git_project.commit("main", hours_ago(1))
    git_project.push("main")
    metadata = metadata_table([("", head, "nameless"), ("api", head, "api")])
    tags = tags_table([("api", "b", "api"), ("api", "a", "api"), ("", "x", "nameless")])

    decisions = decide(GitRepo(git_project.work), tags, metadata, policies(MAIN_LAST), NOW)

    assert decisions.schema == DECISIONS_SCHEMA
    rows = decisions.to_pylist()
    assert [(r["item_type"], r["image_name"], r["tag"]) for r in rows[:3]] == [
        ("image-tag", "~", "x"),
        ("image-tag", "api", "a"),
        ("image-tag", "api", "b"),
    ]
    assert [r["item_type"] for r in rows[3:]] == ["image-metadata"] * 2
    assert {r["storage"] for r in rows[:3]} == {"images-repo"}
    assert {r["storage"] for r in rows[3:]} == {"stages-storage"}
    assert {r["detail"] for r in rows[:3]} == {"policy 1: branch main"}
    assert {r["commit"] for r in rows} == {head}


def test_no_tags_and_no_metadata_give_no_decisions(git_project: GitProject) -> None:
    git_project.commit("main", hours_ago(1))
    git_project.push("main")
    repo = GitRepo(git_project.work)
    decisions = decide_images(tags_table([]), metadata_table([]), repo.references(), repo.commits(), default_keep_policies(), NOW)
    assert decisions.num_rows == 0 and decisions.schema == DECISIONS_SCHEMA
