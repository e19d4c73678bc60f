"""A deletion batch that deleted some rows, then failed as a whole on every retry (its tag
listing broke): the run must not claim it deleted nothing."""

from __future__ import annotations

import pytest

from tests.e2e.world import basic_world, registry_world
from tests.faults.harness import PROBE, registry_state, tags_of

pytestmark = [pytest.mark.slow, pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


def test_batch_failing_after_a_partial_first_attempt_ends_3_with_its_deletions_audited(
    git_project, registry, fault_proxy, unique_repo, tmp_path
):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    before = registry_state(registry, unique_repo)
    state = {"deletes": 0, "broken": False}

    def rule(method: str, count: int, path: str) -> int | None:
        if method == "DELETE" and PROBE not in path:
            state["deletes"] += 1
            if state["deletes"] == 2:
                state["broken"] = True
                return 500
        if state["broken"] and method == "GET" and "/images/" in path and "/tags/list" in path:
            return 500
        return None

    fault_proxy.rule = rule
    result = world.cleanup("images cleanup", "--without-kube", "--parallel-tasks-limit", "1")
    fault_proxy.heal()
    gone = tags_of(before) - tags_of(registry_state(registry, unique_repo))
    assert gone, "the first DELETE went through"
    audit = world.last_audit()
    deleted = {r.tag for r in audit.itertuples() if r.outcome == "deleted"}
    assert {tag for _, tag in gone} <= deleted, (result.exit_code, sorted(gone), audit[["tag", "outcome"]].to_string())
    assert result.exit_code == 3, result.output
