"""A project's git by URL: the blob-less mirror under <home>/cache/git and the werf.yaml read
from a ref with `git show` (no work tree)."""

from __future__ import annotations

import threading

import pytest

from adapters.git_mirror import GitMirror, mirror_dir, shown_url
from adapters.git_repo import GitRepo
from adapters.werf_files import GitProjectFiles, load_werf_config_from_git
from schemas.errors import ConfigError, GitError
from tests.fixtures.gitrepo import hours_ago

WERF = 'project: {{ .Files.Get "name.txt" | trim }}\nconfigVersion: 1\n---\n{{ include "images.tmpl" . }}\n'
IMAGES = '{{ define "images.tmpl" }}image: app\n{{ end }}'


@pytest.fixture
def origin(git_project):
    g = git_project
    tree = g.tree(
        {"werf.yaml": WERF, "name.txt": "acme\n", ".werf/images.tmpl": IMAGES, "conf/a.yaml": "a", "conf/b/c.yaml": "c"}
    )
    c1 = g.commit("main", hours_ago(5), tree=tree)
    g.commit("feature", hours_ago(4), parents=[c1])
    g.tag("v1", c1)
    g.push()
    return g


def test_mirror_is_bare_blobless_and_reads_werf_yaml_from_the_default_branch(origin, tmp_path):
    mirror = GitMirror(origin.origin.as_uri(), tmp_path / "home")
    path = mirror.sync()
    assert path == mirror_dir(tmp_path / "home", origin.origin.as_uri())
    assert path.parent == tmp_path / "home" / "cache" / "git"
    assert (path / "HEAD").is_file() and not (path / "werf.yaml").exists()
    werf = load_werf_config_from_git(mirror, None, "werf.yaml", {})
    assert werf.project == "acme" and list(werf.images) == ["app"]
    refs = GitRepo(path, mirror=True).references()
    assert set(refs.column("name").to_pylist()) == {"main", "feature", "v1"}


def test_fetch_prunes_deleted_branches_and_tags(origin, tmp_path):
    mirror = GitMirror(origin.origin.as_uri(), tmp_path / "home")
    mirror.sync()
    origin.delete_origin_branch("feature")
    origin.delete_origin_tag("v1")
    mirror.sync()
    refs = GitRepo(mirror.path, mirror=True).references()
    assert refs.column("name").to_pylist() == ["main"]


def test_concurrent_syncs_of_one_url_take_turns(origin, tmp_path):
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            GitMirror(origin.origin.as_uri(), tmp_path / "home").sync()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_project_files_from_a_commit(origin, tmp_path):
    mirror = GitMirror(origin.origin.as_uri(), tmp_path / "home")
    mirror.sync()
    files = GitProjectFiles(mirror, mirror.resolve("v1"))
    assert files.read("name.txt") == "acme\n"
    assert files.read("missing.txt") is None
    assert files.read("conf") is None
    assert set(files.glob("conf/**/*.yaml")) == {"conf/a.yaml", "conf/b/c.yaml"}
    assert set(files.glob("conf/*.yaml")) == {"conf/a.yaml"}
    assert [name for name, _, _ in files.partials()] == ["images.tmpl"]
    with pytest.raises(ValueError):
        files.read("../outside")


def test_unknown_ref_and_missing_config_are_errors(origin, tmp_path):
    mirror = GitMirror(origin.origin.as_uri(), tmp_path / "home")
    mirror.sync()
    with pytest.raises(GitError, match="no-such-ref"):
        load_werf_config_from_git(mirror, "no-such-ref", "werf.yaml", {})
    with pytest.raises(ConfigError, match="not found"):
        load_werf_config_from_git(mirror, "main", "sub/werf.yaml", {})


def test_unreachable_url_is_a_git_error_without_user_info(tmp_path):
    url = "https://user:s3cret@127.0.0.1:1/acme.git"
    with pytest.raises(GitError) as info:
        GitMirror(url, tmp_path / "home").sync()
    assert "s3cret" not in str(info.value) and "127.0.0.1:1" in str(info.value)
    assert shown_url(url) == "https://***@127.0.0.1:1/acme.git"
    with pytest.raises(GitError, match="clone failed"):
        GitMirror((tmp_path / "nowhere").as_uri(), tmp_path / "home").sync()
