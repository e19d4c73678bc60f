"""GitRepo against real git repositories (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from adapters.git_repo import GitRepo
from schemas.errors import GitError
from schemas.tables import COMMITS_SCHEMA, REFS_SCHEMA
from tests.fixtures.gitrepo import GitProject, hours_ago


def refs_of(repo: GitRepo) -> dict[tuple[str, str], tuple[str, dt.datetime]]:
    return {(r["kind"], r["name"]): (r["commit"], r["date"]) for r in repo.references().to_pylist()}


def test_references_are_origin_branches_and_tags_only(git_project: GitProject) -> None:
    main = git_project.commits("main", [hours_ago(10), hours_ago(5)])
    feature = git_project.commit("feature/x", hours_ago(3), parents=[main[0]])
    git_project.push("main", "feature/x")
    local = git_project.commit("local-only", hours_ago(1), parents=[main[1]])
    git_project.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")

    refs = refs_of(GitRepo(git_project.work))

    assert set(refs) == {("branch", "main"), ("branch", "feature/x")}
    assert refs["branch", "main"] == (main[1], hours_ago(5))
    assert refs["branch", "feature/x"] == (feature, hours_ago(3))
    assert all(commit != local for commit, _ in refs.values())
    assert GitRepo(git_project.work).references().schema == REFS_SCHEMA


def test_tag_date_is_tagger_time_when_annotated_else_commit_time(git_project: GitProject) -> None:
    sha = git_project.commit("main", hours_ago(48))
    git_project.tag("v1-light", sha)
    git_project.tag("v1-annotated", sha, annotated=True, date=hours_ago(2))
    git_project.push("main")

    refs = refs_of(GitRepo(git_project.work))

    assert refs["tag", "v1-light"] == (sha, hours_ago(48))
    assert refs["tag", "v1-annotated"] == (sha, hours_ago(2))  # peeled to the commit


def test_tag_of_a_tag_is_peeled_and_tag_of_a_blob_is_skipped(git_project: GitProject) -> None:
    sha = git_project.commit("main", hours_ago(10))
    git_project.tag("inner", sha, annotated=True, date=hours_ago(4))
    git_project.git("tag", "-a", "outer", "inner", "-m", "tag of a tag", date=hours_ago(3))
    blob = git_project.git("hash-object", "-w", "--stdin")
    git_project.git("tag", "blob-tag", blob)

    refs = refs_of(GitRepo(git_project.work))

    assert refs["tag", "outer"] == (sha, hours_ago(3))
    assert ("tag", "blob-tag") not in refs


def test_commits_are_read_with_all_parents_and_committer_time(git_project: GitProject) -> None:
    base = git_project.commit("main", hours_ago(10))
    side = git_project.commit("side", hours_ago(8), parents=[base])
    main = git_project.commit("main", hours_ago(6))
    merge = git_project.merge("main", "side", hours_ago(4))
    git_project.push("main")

    table = GitRepo(git_project.work).commits()

    assert table.schema == COMMITS_SCHEMA
    rows = {r["sha"]: (r["parents"], r["committed_at"]) for r in table.to_pylist()}
    assert rows == {
        base: ([], hours_ago(10)),
        side: ([base], hours_ago(8)),
        main: ([base], hours_ago(6)),
        merge: ([main, side], hours_ago(4)),
    }


def test_existing_commits_checks_the_object_database_in_bulk(git_project: GitProject) -> None:
    sha = git_project.commit("main", hours_ago(1))
    tree = git_project.git("rev-parse", f"{sha}^{{tree}}")
    missing = "0" * 40

    found = GitRepo(git_project.work).existing_commits([sha, missing, tree, "HEAD", "main", "", sha])

    assert found == {sha}  # trees, ref names and junk are not commits


def test_existing_commits_of_nothing_is_empty(git_project: GitProject) -> None:
    assert GitRepo(git_project.work).existing_commits([]) == set()


def test_directory_without_git_is_refused_with_a_hint_to_pass_dir(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="images cleanup needs the git repository") as caught:
        GitRepo(tmp_path)
    assert "--dir" in str(caught.value)


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="no git repository"):
        GitRepo(tmp_path / "absent")


def test_shallow_clone_is_refused_without_sync_or_allow_flag(git_project: GitProject) -> None:
    git_project.commits("main", [hours_ago(3), hours_ago(2), hours_ago(1)])
    git_project.push("main")
    repo = GitRepo(git_project.shallow_clone(depth=1))

    assert repo.is_shallow()
    with pytest.raises(GitError, match="shallow clone") as caught:
        repo.prepare(sync=False, allow_shallow=False)
    assert "--git-history-synchronization" in str(caught.value)
    assert "--allow-git-shallow-clone" in str(caught.value)
    repo.prepare(sync=False, allow_shallow=True)  # accepted when allowed


def test_sync_unshallows_a_shallow_clone(git_project: GitProject) -> None:
    shas = git_project.commits("main", [hours_ago(3), hours_ago(2), hours_ago(1)])
    git_project.push("main")
    repo = GitRepo(git_project.shallow_clone(depth=1))
    assert len(repo.commits()) == 1

    repo.prepare(sync=True, allow_shallow=False)

    assert not repo.is_shallow()
    assert set(repo.commits().column("sha").to_pylist()) == set(shas)


def test_sync_drops_local_only_tags_and_deleted_branches(git_project: GitProject) -> None:
    base = git_project.commit("main", hours_ago(5))
    git_project.commit("gone", hours_ago(4), parents=[base])
    git_project.tag("v-published", base)
    git_project.push("main", "gone")
    git_project.tag("v-local", base)
    git_project.delete_origin_branch("gone")
    new = git_project.commit("fresh", hours_ago(1), parents=[base])
    git_project.git("push", "--quiet", "origin", "refs/heads/fresh:refs/heads/fresh")
    git_project.git("update-ref", "-d", "refs/remotes/origin/fresh")  # origin has it, the clone does not know yet
    repo = GitRepo(git_project.work)
    assert {("branch", "gone"), ("tag", "v-local")} <= set(refs_of(repo))

    repo.sync_with_origin()

    refs = refs_of(repo)
    assert set(refs) == {("branch", "main"), ("branch", "fresh"), ("tag", "v-published")}
    assert refs["branch", "fresh"][0] == new


def test_sync_without_origin_remote_is_refused(git_project: GitProject) -> None:
    git_project.commit("main", hours_ago(1))
    git_project.git("remote", "remove", "origin")
    with pytest.raises(GitError, match="no remote 'origin'"):
        GitRepo(git_project.work).sync_with_origin()


def test_failed_git_command_becomes_git_error_naming_the_command(git_project: GitProject) -> None:
    git_project.commit("main", hours_ago(1))
    git_project.git("remote", "set-url", "origin", str(git_project.root / "no-such-origin"))
    with pytest.raises(GitError, match="git fetch") as caught:
        GitRepo(git_project.work).sync_with_origin()
    assert "no-such-origin" in str(caught.value)


def test_repository_without_commits_gives_empty_tables(tmp_path: Path) -> None:
    project = GitProject(tmp_path / "git")
    repo = GitRepo(project.work)
    assert repo.commits().num_rows == 0 and repo.commits().schema == COMMITS_SCHEMA
    assert repo.references().num_rows == 0 and repo.references().schema == REFS_SCHEMA
