"""Cleanup with the warm-read cache and the delete path, end to end: a warm run plans what a
cold run plans (registry and `oci:`), a tag moved between plan and delete is kept and audited,
and a delete costs its re-check and its DELETE, not a look-up of every tag."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import coordination.deletion_run
import tasks.delete
from tests.e2e.world import World, ago, basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

RUN_COLUMNS = ("run_id", "started_at", "decided_at", "dry_run")


def planned_rows(world: World) -> list[dict]:
    rows = pq.read_table(world.audits()[-1]).drop_columns(list(RUN_COLUMNS)).to_pylist()
    return sorted(rows, key=lambda r: (r["storage"], r["repository"], r["tag"] or "", r["item_type"]))


def add_doomed_images(world: World, n: int) -> list[str]:
    """`n` images published for commits git does not know: cleanup deletes all of them."""
    tags = []
    with world.publisher() as pub:
        for i in range(n):
            built = pub.build("app", built_at=ago(days=10, hours=i), n_stages=1)
            commit = f"{i + 1:040x}"
            pub.publish(built, commit, commit)
            tags.append(commit)
    return tags


@pytest.mark.parametrize("kind", ["registry", "oci"])
def test_a_warm_dry_run_plans_exactly_the_rows_of_a_cold_one(kind, git_project, registry, unique_repo, tmp_path):
    if kind == "registry":
        world = registry_world(git_project, registry, unique_repo, tmp_path)
    else:
        world = World(
            git=git_project,
            stages_address=f"oci:{tmp_path}/stages",
            images_address=f"oci:{tmp_path}/images",
            options=None,
            audit_dir=tmp_path / "audit",
        )
        world.write_config()
    basic_world(world)
    add_doomed_images(world, 3)
    home = ["--home-dir", str(tmp_path / "home"), "--without-kube", "--dry-run"]

    cold = world.cleanup("cleanup", *home)
    assert cold.exit_code == 0, cold.output
    cold_rows = planned_rows(world)
    warm = world.cleanup("cleanup", *home)
    assert warm.exit_code == 0, warm.output
    uncached = world.cleanup("cleanup", *home, "--no-cache")
    assert uncached.exit_code == 0, uncached.output

    assert cold_rows == planned_rows(world)
    assert len(world.audits()) == 3
    rows = [r for r in cold_rows if r["action"] == "delete"]
    assert len(rows) >= 9
    cache = tmp_path / "home" / "cache"
    cached = list(cache.iterdir()) if cache.exists() else []
    assert (kind == "registry") == bool(cached)  # an OCI layout is read locally: nothing to cache


def test_a_tag_moved_between_plan_and_delete_is_kept_and_audited(git_project, registry, unique_repo, tmp_path, monkeypatch):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    w = basic_world(world)
    moved = []
    execute_rows = tasks.delete.execute_rows

    def push_then_delete(settings, project, rows, leaving=None):
        if not moved and any(r["tag"] == "feature" for r in rows):  # someone pushes `feature` again
            moved.append(world.images().write_foreign_tag("app", "feature"))
        return execute_rows(settings, project, rows, leaving)

    monkeypatch.setattr(tasks.delete, "execute_rows", push_then_delete)
    result = world.cleanup("cleanup", "--without-kube", "--home-dir", str(tmp_path / "home"))

    assert result.exit_code == 0, result.output
    audit = world.last_audit()
    row = audit[(audit.tag == "feature") & (audit.item_type == "image-tag")].iloc[0]
    assert (row.action, row.reason, row.outcome) == ("keep", "tag-moved", "kept")
    assert moved[0] in row.detail and row.digest in row.detail
    assert world.images().list_all_tag_digests("app")["feature"] == moved[0]
    gone = audit[(audit.tag == w["f1"]) & (audit.item_type == "image-tag")].iloc[0]
    assert gone.outcome == "deleted"
    # the image the plan knew under `feature` may still be needed by what was pushed: its stages stay
    assert set(w["F"].stage_tags) <= world.stage_tags()


def test_a_delete_costs_its_recheck_and_its_delete_not_a_look_up_of_every_tag(
    git_project, registry, fault_proxy, unique_repo, tmp_path, monkeypatch
):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    doomed = add_doomed_images(world, 24)
    args = [
        "--without-kube",
        "--home-dir",
        str(tmp_path / "home"),
        "--batch-size",
        "10",
        "--keep-stages-built-within-last-n-hours",
        "0",
    ]
    assert world.cleanup("cleanup", *args, "--dry-run").exit_code == 0  # warms the cache
    marks = []
    execute = coordination.deletion_run.DeletionRun.execute

    def marked(self, plan, revise=None):
        marks.append(len(fault_proxy.forwarded))
        return execute(self, plan, revise)

    monkeypatch.setattr(coordination.deletion_run.DeletionRun, "execute", marked)
    result = world.cleanup("cleanup", *args)

    assert result.exit_code == 0, result.output
    audit = world.last_audit()
    deleted = audit[audit.outcome == "deleted"]
    assert set(doomed) <= set(deleted.tag) and len(deleted) >= 3 * len(doomed)
    staying = {(r.repository, r.tag) for r in audit[audit.outcome == "kept"].itertuples()}
    staying |= {(world.stages_address, "managed-image-app")}
    requests = fault_proxy.forwarded[marks[0] :]
    heads = [path for method, path, _ in requests if method == "HEAD"]
    deletes = [path for method, path, _ in requests if method == "DELETE"]
    lists = [path for method, path, _ in requests if path.endswith("/tags/list")]
    assert not [r for r in requests if r[0] not in ("HEAD", "DELETE", "GET")]
    assert len(requests) == len(heads) + len(deletes) + len(lists)  # no manifest or blob reads
    for row in deleted.itertuples():
        path = "/v2/" + row.repository.split("/", 1)[1] + "/manifests/"
        assert heads.count(path + row.tag) == 1, row.tag  # its re-check
        assert deletes.count(path + row.digest) == 1, row.tag  # its DELETE
    per_batch = len(lists)  # one tag list per batch; then the tags that stay, looked up
    stay_heads = len(heads) - len(deleted)
    assert stay_heads <= per_batch * len(staying)
    # a stage that stays is immutable by construction: its digest comes from the cache
    kept_stages = audit[(audit.outcome == "kept") & (audit.item_type == "stage")]
    assert len(kept_stages) > 0
    for row in kept_stages.itertuples():
        assert "/v2/" + row.repository.split("/", 1)[1] + "/manifests/" + row.tag not in heads, row.tag
    probes = len(deletes) - len(deleted)  # one "may I delete here" probe per repository
    assert probes == len({r.repository for r in deleted.itertuples()})
    per_delete = (len(heads) - stay_heads + len(deletes) - probes) / len(deleted)
    assert per_delete == 2
    overall = len(requests) / len(deleted)
    assert overall <= 2 + (per_batch * (1 + len(staying)) + probes) / len(deleted)
