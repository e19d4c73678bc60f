"""End-to-end cleanup through the CLI: real registry, real git with an origin, the fake
Kubernetes API through a real kubeconfig, and a real Prefect API."""

from __future__ import annotations

import pytest

from adapters.registry import RegistryClient
from tests.e2e.world import ago, basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    return registry_world(git_project, registry, unique_repo, tmp_path)


@pytest.mark.parametrize("mode", ["multirepo", "monorepo"])
def test_branch_deleted_from_origin_loses_its_images(git_project, registry, unique_repo, tmp_path, mode):
    world = registry_world(git_project, registry, unique_repo, tmp_path, mode=mode)
    w = basic_world(world)
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    prefix = "app-" if mode == "monorepo" else ""
    assert world.image_tags() == {f"{prefix}{w['c1']}", f"{prefix}{w['c2']}", f"{prefix}main"}
    assert world.metadata_commits() == {w["c1"], w["c2"]}
    remaining = world.stage_tags()
    assert not remaining & set(w["F"].stage_tags)
    assert set(w["A"].stage_tags) | set(w["B"].stage_tags) <= remaining
    audit = world.last_audit()
    deleted = audit[audit.outcome == "deleted"]
    assert set(deleted[deleted.item_type == "image-tag"].reason) == {"not-reached-by-policy"}
    assert len(world.audits()) == 1


def test_keeps_image_used_by_deployment_in_second_kube_context(world, kube_server, kubeconfig_factory):
    w = basic_world(world)
    kube_server.add_cluster("first")
    kube_server.add_cluster("second")
    repo = world.images_address + "/app"
    kube_server.add("second", "Deployment", "web", containers={"web": f"{repo}:{w['f1']}"})
    config = kubeconfig_factory(["first", "second"])
    result = world.cleanup("cleanup", "--kube-config", str(config))
    assert result.exit_code == 0, result.output
    tags = world.image_tags()
    assert w["f1"] in tags and "feature" not in tags
    # the kept image's stages stay with it
    assert set(w["F"].stage_tags) <= world.stage_tags()
    audit = world.last_audit()
    kept = audit[(audit.tag == w["f1"]) & (audit.item_type == "image-tag")].iloc[0]
    assert kept.reason == "used-in-kubernetes" and "second" in kept.detail


def test_unused_stages_older_than_grace_window_go_and_younger_stay(world):
    basic_world(world)
    with world.publisher() as pub:
        old = pub.build("app", built_at=ago(hours=3), n_stages=2)
        young = pub.build("app", built_at=ago(hours=1), n_stages=2)
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    remaining = world.stage_tags()
    assert not remaining & set(old.stage_tags)
    assert set(young.stage_tags) <= remaining
    audit = world.last_audit()
    assert set(audit[audit.tag.isin(young.stage_tags)].reason) == {"built-within-last-n-hours"}


def test_stages_cleanup_alone_never_deletes_a_stage_an_existing_image_points_to(world):
    w = basic_world(world)
    with world.publisher() as pub:
        unused = pub.build("app", built_at=ago(days=5), n_stages=2)
    result = world.cleanup("stages cleanup", "--keep-stages-built-within-last-n-hours", "0")
    assert result.exit_code == 0, result.output
    remaining = world.stage_tags()
    for image in ("A", "B", "F"):  # F's tags are still in the images repo
        assert set(w[image].stage_tags) <= remaining
    assert not remaining & set(unused.stage_tags)


def test_dry_run_predicts_the_real_run_and_a_rerun_deletes_nothing_more(world):
    basic_world(world)
    before_images, before_stages = world.image_tags(), world.stage_tags()
    dry = world.cleanup("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert (world.image_tags(), world.stage_tags()) == (before_images, before_stages)
    planned = world.last_audit()
    would = set(map(tuple, planned[planned.outcome == "would-delete"][["item_type", "tag"]].values))
    assert would
    real = world.cleanup("cleanup", "--without-kube")
    assert real.exit_code == 0, real.output
    done = world.last_audit()
    deleted = set(map(tuple, done[done.outcome == "deleted"][["item_type", "tag"]].values))
    assert deleted == would
    rerun = world.cleanup("cleanup", "--without-kube")
    assert rerun.exit_code == 0, rerun.output
    again = world.last_audit()
    assert not (again.action == "delete").any()


def test_max_deletions_stops_before_deleting_and_audits_the_plan_as_blocked(world):
    basic_world(world)
    before = (world.image_tags(), world.stage_tags(), world.metadata_commits())
    result = world.cleanup("cleanup", "--without-kube", "--max-deletions", "2")
    assert result.exit_code == 1
    assert "--max-deletions" in result.output
    assert (world.image_tags(), world.stage_tags(), world.metadata_commits()) == before
    audit = world.last_audit()
    assert set(audit[audit.action == "delete"].outcome) == {"blocked"}


def test_cleanup_converges_when_registry_fails_one_in_five_deletes(git_project, registry, fault_proxy, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    w = basic_world(world)
    with world.publisher() as pub:
        extra = [pub.build("app", built_at=ago(days=4 + i), n_stages=2) for i in range(6)]
    fault_proxy.fail_every_nth_delete(5)
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert any(status == 500 for _, status in fault_proxy.deletes)
    fault_proxy.heal()
    assert world.image_tags() == {w["c1"], w["c2"], "main"}
    remaining = world.stage_tags()
    assert remaining == set(w["A"].stage_tags) | set(w["B"].stage_tags)
    assert not remaining & {t for e in extra for t in e.stage_tags}
    audit = world.last_audit()
    assert set(audit[audit.action == "delete"].outcome) <= {"deleted", "already-gone"}


def test_no_kubeconfig_stops_before_deleting_and_names_without_kube(world, tmp_path):
    basic_world(world)
    before = world.image_tags()
    result = world.cleanup("cleanup", "--kube-config", str(tmp_path / "missing-kubeconfig"))
    assert result.exit_code == 1
    assert "--without-kube" in result.output
    assert world.image_tags() == before
    assert len(world.audits()) == 1


def test_forbidden_kind_in_one_context_stops_the_run_before_any_deletion(world, kube_server, kubeconfig_factory):
    basic_world(world)
    kube_server.add_cluster("first")
    kube_server.add_cluster("second")
    kube_server.fail("second", "ReplicaSet", 403)
    config = kubeconfig_factory(["first", "second"])
    before = (world.image_tags(), world.stage_tags())
    result = world.cleanup("cleanup", "--kube-config", str(config))
    assert result.exit_code == 1
    assert "second" in result.output and "403" in result.output
    assert (world.image_tags(), world.stage_tags()) == before


def test_unwritable_audit_dir_stops_before_the_first_delete(world, tmp_path):
    basic_world(world)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit directory should be")
    before = world.image_tags()
    result = world.cli("cleanup", *world.storage_args(audit_dir=blocker), "--insecure-registry", "--without-kube")
    assert result.exit_code == 1
    assert "not writable" in result.output
    assert world.image_tags() == before


def test_tag_sharing_a_digest_with_a_kept_tag_is_not_deleted(world, kube_server, kubeconfig_factory, registry):
    w = basic_world(world)
    from adapters.registry import RegistryClient

    client = RegistryClient(registry.options())
    repo = world.images_address + "/app"
    manifest = client.get_manifest(repo, w["f1"])
    client.put_manifest(repo, "pinned", manifest.raw, manifest.media_type)
    kube_server.add_cluster("only")
    kube_server.add("only", "Pod", "pinned", containers={"app": f"{world.images_address}/app:pinned"})
    result = world.cleanup("cleanup", "--kube-config", str(kubeconfig_factory(["only"])))
    assert result.exit_code == 0, result.output
    tags = world.image_tags()
    assert {"pinned", w["f1"]} <= tags
    audit = world.last_audit()
    row = audit[(audit.tag == w["f1"]) & (audit.item_type == "image-tag")].iloc[0]
    assert (row.action, row.reason, row.outcome) == ("keep", "shared-digest", "kept") and "pinned" in row.detail
    # the image is still there, so are its stages
    assert set(w["F"].stage_tags) <= world.stage_tags()


def test_rejected_stage_goes_before_its_marker(world):
    basic_world(world)
    with world.publisher() as pub:
        broken = pub.build("app", built_at=ago(days=1), n_stages=1)
        marker = pub.reject(broken.stages[0])
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    audit = world.last_audit()
    order = list(audit[audit.outcome == "deleted"].tag)
    assert order.index(broken.stage_tags[0]) < order.index(marker)
    assert broken.stage_tags[0] not in world.stage_tags()


def test_rate_limited_deletes_wait_for_retry_after_then_succeed(git_project, registry, fault_proxy, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    w = basic_world(world)
    fault_proxy.rate_limit_first_deletes(2, retry_after=2)
    result = world.cleanup("images cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert world.image_tags() == {w["c1"], w["c2"], "main"}
    limited = [(p, t) for p, status, t in fault_proxy.delete_times if status == 429 and "0000000000" not in p]
    assert limited
    path, when = limited[-1]
    retried = [t for p, status, t in fault_proxy.delete_times if p == path and status != 429 and t > when]
    assert retried and retried[0] - when >= 2


def test_stages_of_an_image_whose_delete_failed_are_kept_in_the_same_run(
    git_project, registry, fault_proxy, unique_repo, tmp_path
):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    w = basic_world(world)
    f_digest = {r["tag"]: r["digest"] for r in world.images().list_image_tags(["app"]).to_pylist()}[w["f1"]]
    fault_proxy.fail_deletes_matching(lambda path: f_digest in path, status=500)
    result = world.cleanup("cleanup", "--without-kube")
    assert result.exit_code == 3, result.output
    assert w["f1"] in world.image_tags()
    assert set(w["F"].stage_tags) <= world.stage_tags()
    audit = world.last_audit()
    kept = audit[audit.tag.isin(w["F"].stage_tags)]
    assert set(kept.action) == {"keep"} and set(kept.outcome) == {"kept"}


def test_the_rejected_marker_of_a_stage_whose_delete_failed_stays_until_the_rerun(
    git_project, registry, fault_proxy, unique_repo, tmp_path
):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    with world.publisher() as pub:
        broken = pub.build("app", built_at=ago(days=4), n_stages=1)
        marker = pub.reject(broken.stages[0])
    stage = broken.stages[0].tag
    digest = {r["tag"]: r["digest"] for r in world.stages().list_stages().to_pylist()}[stage]
    fault_proxy.fail_deletes_matching(lambda path: digest in path, status=500)

    failed = world.cleanup("cleanup", "--without-kube")

    assert failed.exit_code == 3, failed.output
    with RegistryClient(registry.options()) as client:
        assert {stage, marker} <= set(client.list_tags(registry.repo(f"{unique_repo}/stages")))
    audit = world.last_audit()
    row = audit[audit.tag == marker].iloc[0]
    assert (row.item_type, row.action, row.outcome, row.reason) == ("rejected-marker", "keep", "kept", "stage-stays")
    assert stage in row.detail and "failed" in row.detail

    fault_proxy.heal()
    rerun = world.cleanup("cleanup", "--without-kube")
    assert rerun.exit_code == 0, rerun.output
    with RegistryClient(registry.options()) as client:
        assert not {stage, marker} & set(client.list_tags(registry.repo(f"{unique_repo}/stages")))
