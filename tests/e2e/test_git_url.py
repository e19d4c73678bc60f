"""Cleanup of a project read by git URL (`--git-url file://...`): no work tree, the werf.yaml from
the origin's default branch, history from the mirror."""

from __future__ import annotations

import pytest

from tests.e2e.world import WERF_YAML, ago, basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    return registry_world(git_project, registry, unique_repo, tmp_path)


def test_cleanup_by_git_url_without_a_work_tree(world, tmp_path):
    w = basic_world(world)
    g = world.git
    g.commit("main", ago(hours=12), tree=g.tree({"werf.yaml": WERF_YAML.format(project="acme", extra="")}))
    g.push("main")
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["--git-url", g.origin.as_uri(), "--dir", str(empty), "--without-kube"]
    home = {"HOME": str(tmp_path)}  # the mirror goes under ~/.stagesweep/cache/git
    result = world.cleanup("cleanup", *args, env=home)
    assert result.exit_code == 0, result.output
    tags = world.image_tags()
    # the branch deleted from origin lost its images; main's history kept its own
    assert w["f1"] not in tags and "feature" not in tags
    assert {w["c2"], "main"} <= tags
    assert (tmp_path / ".stagesweep" / "cache" / "git").is_dir()
    # a second run fetches into the same mirror and deletes nothing more
    again = world.cleanup("cleanup", *args, env=home)
    assert again.exit_code == 0, again.output
    assert set(world.last_audit().outcome) <= {"kept"}


def test_unreachable_git_url_stops_before_anything_else(world, tmp_path):
    basic_world(world)
    before = world.image_tags(), world.stage_tags()
    result = world.cleanup(
        "cleanup", "--git-url", (tmp_path / "nowhere.git").as_uri(), "--without-kube", env={"HOME": str(tmp_path)}
    )
    assert result.exit_code == 1, result.output
    assert "git clone failed" in result.output
    assert (world.image_tags(), world.stage_tags()) == before
    assert len(world.last_audit()) == 0
