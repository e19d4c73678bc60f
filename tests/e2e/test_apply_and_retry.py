"""Reruns of failed deletions: a flow run retried in place, `apply --only-failed`, and a
reviewed dry run applied after the world changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def proxied(git_project, registry, fault_proxy, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    return world, basic_world(world)


def stage_digests(world, tags) -> set[str]:
    stages = world.stages().list_stages().to_pylist()
    return {s["digest"] for s in stages if s["tag"] in set(tags)}


PROBE = "sha256:" + "0" * 64  # the delete pre-flight's digest, which never exists


def deletes_since(proxy, start: int) -> list[str]:
    """DELETE requests of real items the proxy saw since `start` (pre-flight probes left out)."""
    return [path for path, _ in proxy.deletes[start:] if PROBE not in path]


def test_flow_run_retried_in_place_redoes_only_the_failed_batches(proxied, fault_proxy):
    world, w = proxied
    failing = stage_digests(world, w["F"].stage_tags)
    fault_proxy.fail_deletes_matching(lambda path: any(d in path for d in failing), status=500)
    first = world.cleanup("cleanup", "--without-kube")
    assert first.exit_code == 3, first.output
    assert w["F"].stage_tags[0] in world.stage_tags()
    run_id = world.last_audit().run_id.iloc[0]
    fault_proxy.heal()
    mark = len(fault_proxy.deletes)
    retry = subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "flow-run", "retry", run_id, "--entrypoint", "flows/cleanup.py:cleanup"],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert retry.returncode == 0, retry.stdout + retry.stderr
    again = deletes_since(fault_proxy, mark)
    # only the stage batch ran again: no request for image tags or metadata records
    assert again and all(any(d in path for d in failing) for path in again)
    assert "/images/" not in " ".join(again)
    assert not set(w["F"].stage_tags) & world.stage_tags()
    audits = world.audits()
    assert len(audits) == 1  # the retried run rewrote its own audit
    audit = pq.read_table(audits[0]).to_pandas()
    assert set(audit[audit.action == "delete"].outcome) <= {"deleted", "already-gone"}


def test_apply_only_failed_retries_just_the_failed_rows(proxied, fault_proxy):
    world, w = proxied
    failing = stage_digests(world, w["F"].stage_tags)
    fault_proxy.fail_deletes_matching(lambda path: any(d in path for d in failing), status=500)
    first = world.cleanup("cleanup", "--without-kube")
    assert first.exit_code == 3, first.output
    audit_file = world.audits()[-1]
    failed = world.last_audit()
    failed_tags = set(failed[failed.outcome == "failed"].tag)
    assert failed_tags == set(w["F"].stage_tags)
    fault_proxy.heal()
    mark = len(fault_proxy.deletes)
    result = world.cli(
        "apply", str(audit_file), "--only-failed", "--audit-dir", str(world.audit_dir), "--insecure-registry", "--without-kube"
    )
    assert result.exit_code == 0, result.output
    again = deletes_since(fault_proxy, mark)
    assert len(again) == len(failing) and all(any(d in p for d in failing) for p in again)
    applied = world.last_audit()
    assert set(applied.command) == {"apply"}
    assert set(applied[applied.outcome == "deleted"].tag) == failed_tags
    assert len(world.audits()) == 2


def test_apply_of_a_dry_run_skips_a_tag_that_moved_and_says_why(world_factory):
    world, w = world_factory()
    dry = world.cleanup("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan_file = world.audits()[-1]
    plan = world.last_audit()
    assert "feature" in set(plan[plan.outcome == "would-delete"].tag)
    # CI re-publishes the `feature` tag with another build between review and apply
    with world.publisher() as pub:
        newer = pub.build("app", built_at=w["F"].built_at)
        pub.publish(newer, "feature")
    result = world.cli("apply", str(plan_file), "--audit-dir", str(world.audit_dir), "--insecure-registry", "--without-kube")
    assert result.exit_code == 0, result.output
    assert "feature" in world.image_tags()
    applied = world.last_audit()
    row = applied[(applied.tag == "feature") & (applied.item_type == "image-tag")].iloc[0]
    assert (row.action, row.reason, row.outcome) == ("keep", "tag-moved", "kept")
    assert "moved" in row.detail
    deleted = set(applied[applied.outcome == "deleted"].tag)
    assert w["f1"] in deleted and "feature" not in deleted


@pytest.fixture
def world_factory(git_project, registry, unique_repo, tmp_path):
    def make():
        world = registry_world(git_project, registry, unique_repo, tmp_path)
        return world, basic_world(world)

    return make
