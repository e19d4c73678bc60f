"""werf 1.2 / 2.x repositories (`--repo`, SPEC §13) cleaned through the CLI against the real
registry (and an OCI layout): werf v2's cleanup step by step, custom tags, the keep list, rejected
stages, import sources, the `cleanup` record, purge, managed images and the usage errors."""

from __future__ import annotations

import pytest

from adapters.registry import RegistryClient
from adapters.storage.werf2_codec import CLEANUP_TAG, parse_meta_tag
from adapters.storage.werf2_labels import cleanup_timestamp_ms
from tests.e2e.repo_world import oci_repo_world, registry_repo_world
from tests.e2e.world import ago

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    return registry_repo_world(git_project, registry, unique_repo, tmp_path)


#: one policy without imagesPerReference: werf v2 keeps the last build per branch
ONE_POLICY = "cleanup:\n  keepPolicies:\n  - references:\n      branch: /.*/\n"


def history(world) -> dict:
    """main: two commits (10 and 5 days ago); `feature` on origin (3 days); `gone` deleted from
    origin (8 days). CI built `app` at each commit and `worker` at main's last one. The werf.yaml
    keeps every branch with werf v2's default images per reference (the last one)."""
    world.write_config(ONE_POLICY)
    git = world.git
    old, new = git.commits("main", [ago(days=10), ago(days=5)])
    feature = git.commit("feature", ago(days=3), parents=[new])
    gone = git.commit("gone", ago(days=8), parents=[old])
    git.push()
    git.delete_origin_branch("gone")
    built = {}
    with world.publisher() as pub:
        for key, commit, days in (("old", old, 10), ("new", new, 5), ("feature", feature, 3), ("gone", gone, 8)):
            built[key] = pub.build("app", built_at=ago(days=days))
            built[f"meta-{key}"] = pub.publish(built[key], commit)
        built["worker"] = pub.build("worker", built_at=ago(days=5))
        built["meta-worker"] = pub.publish(built["worker"], new)
    return built


def stage_tags(image) -> set[str]:
    return {stage.stage_id for stage in image.stages}


def reasons(audit, tags) -> set[str]:
    return set(audit[audit.tag.isin(list(tags))].reason)


@pytest.mark.registry
def test_cleanup_keeps_the_last_build_of_each_branch_and_deletes_what_git_no_longer_reaches(world):
    built = history(world)
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    tags = world.tags()
    # imagesPerReference.last is 1 in werf v2: main keeps its newest build only
    assert stage_tags(built["new"]) | stage_tags(built["feature"]) | stage_tags(built["worker"]) <= tags
    assert not (stage_tags(built["old"]) | stage_tags(built["gone"])) & tags
    assert {built["meta-new"], built["meta-feature"], built["meta-worker"]} <= tags
    assert not {built["meta-old"], built["meta-gone"]} & tags
    audit = world.last_audit()
    assert set(audit.storage) == {"repo"}
    assert reasons(audit, [built["new"].stage_id, built["feature"].stage_id]) == {"git-policy"}
    assert reasons(audit, [built["old"].stage_id, built["gone"].stage_id]) == {"unused-stage"}
    assert reasons(audit, [built["meta-old"]]) == {"unhit-commit"}
    kept_parent = audit[audit.tag == built["new"].stages[0].stage_id].iloc[0]
    assert kept_parent.action == "keep" and kept_parent.reason == "ancestor"
    meta = audit[audit.tag == built["meta-new"]].iloc[0]
    assert meta.item_type == "image-metadata" and meta.image_name == "app" and meta.signature == built["new"].stage_id


@pytest.mark.registry
def test_werf_default_policies_keep_the_last_ten_builds_of_main(world):
    built = history(world)
    world.write_config()
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert built["old"].stage_id in world.tags() and built["gone"].stage_id not in world.tags()
    assert reasons(world.last_audit(), [built["old"].stage_id]) == {"git-policy"}


@pytest.mark.registry
def test_a_dry_run_deletes_nothing_and_decides_as_the_real_run(world):
    history(world)
    before = world.tags()
    dry = world.run("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert world.tags() == before
    planned = world.last_audit()
    real = world.run("cleanup", "--without-kube")
    assert real.exit_code == 0, real.output
    done = world.last_audit()
    would = set(planned[planned.outcome == "would-delete"].tag)
    assert would and would == set(done[done.outcome == "deleted"].tag)


@pytest.mark.registry
def test_meta_record_of_an_image_no_longer_in_werf_yaml_goes_as_nonexistent_image(world):
    built = history(world)
    with world.publisher() as pub:
        retired = pub.build("retired", built_at=ago(days=4))
        meta = pub.publish(retired, world.git.tip("main"))
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    audit = world.last_audit()
    assert reasons(audit, [meta]) == {"nonexistent-image"}
    assert not stage_tags(retired) & world.tags()
    assert built["meta-new"] in world.tags()


@pytest.mark.registry
def test_custom_tag_a_deployment_runs_keeps_its_stage_and_the_tag(world, kube_server, kubeconfig_factory):
    built = history(world)
    with world.publisher() as pub:
        pub.custom_tag(built["old"], "release-1")
    config = kubeconfig_factory(["prod"])
    kube_server.add("prod", "Deployment", "web", containers={"web": f"{world.address}:release-1"})
    result = world.run("cleanup", "--kube-config", str(config))
    assert result.exit_code == 0, result.output
    tags = world.tags()
    assert "release-1" in tags and built["old"].stage_id in tags
    assert stage_tags(built["old"]) <= tags  # its ancestors stay with it
    audit = world.last_audit()
    kept = audit[audit.tag == built["old"].stage_id].iloc[0]
    assert kept.action == "keep" and kept.reason == "used-in-kubernetes" and "prod" in kept.detail
    assert not (audit[audit.tag == "release-1"].action == "delete").any()


@pytest.mark.registry
def test_a_stage_a_workload_runs_by_digest_stays(world, kube_server, kubeconfig_factory):
    built = history(world)
    repo = world.repo()
    try:
        digest = repo.backend.digests(repo.repository, [built["gone"].stage_id])[built["gone"].stage_id]
    finally:
        repo.close()
    config = kubeconfig_factory(["prod"])
    kube_server.add("prod", "CronJob", "nightly", containers={"job": f"{world.address}@{digest}"})
    result = world.run("cleanup", "--kube-config", str(config))
    assert result.exit_code == 0, result.output
    assert built["gone"].stage_id in world.tags()
    assert reasons(world.last_audit(), [built["gone"].stage_id]) == {"used-in-kubernetes"}


@pytest.mark.registry
def test_custom_tags_of_a_deleted_stage_go_with_their_metadata(world):
    built = history(world)
    with world.publisher() as pub:
        record = pub.custom_tag(built["old"], "old-release")
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert not {"old-release", record, built["old"].stage_id} & world.tags()
    audit = world.last_audit()
    rows = audit[audit.tag.isin(["old-release", record])]
    assert set(rows.item_type) == {"custom-tag", "custom-tag-metadata"}
    assert set(rows.reason) == {"stage-deleted"} and set(rows.outcome) <= {"deleted", "already-gone"}


@pytest.mark.registry
def test_keep_list_protects_a_listed_stage_and_a_listed_custom_tag(world, tmp_path):
    built = history(world)
    with world.publisher() as pub:
        pub.custom_tag(built["gone"], "pinned")
    keep = tmp_path / "keep.txt"
    keep.write_text(f"# pinned by hand\n\n{built['old'].stage_id}\npinned  # the demo\n")
    result = world.run("cleanup", "--without-kube", "--keep-list", str(keep))
    assert result.exit_code == 0, result.output
    tags = world.tags()
    assert {built["old"].stage_id, built["gone"].stage_id, "pinned"} <= tags
    assert reasons(world.last_audit(), [built["old"].stage_id, built["gone"].stage_id]) == {"keep-list"}


@pytest.mark.registry
def test_a_keep_list_line_that_is_no_docker_tag_is_a_usage_error_and_nothing_is_deleted(world, tmp_path):
    history(world)
    before = world.tags()
    keep = tmp_path / "keep.txt"
    keep.write_text("good-tag\nnot a tag\n")
    result = world.run("cleanup", "--without-kube", "--keep-list", str(keep))
    assert result.exit_code == 2, result.output
    assert "line 2" in result.output and "not a tag" in result.output
    assert world.tags() == before


@pytest.mark.registry
def test_stages_built_within_the_window_stay(world):
    built = history(world)
    with world.publisher() as pub:
        young = pub.build("app", built_at=ago(hours=1))
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert stage_tags(young) <= world.tags()
    assert reasons(world.last_audit(), stage_tags(young)) == {"built-within-last-n-hours"}
    # the option overrides werf.yaml: with 0 the young stages go too
    result = world.run("cleanup", "--without-kube", "--keep-stages-built-within-last-n-hours", "0")
    assert result.exit_code == 0, result.output
    assert not stage_tags(young) & world.tags()
    assert built["new"].stage_id in world.tags()


@pytest.mark.registry
def test_rejected_stage_goes_with_its_custom_tags_and_the_marker_last(world):
    built = history(world)
    with world.publisher() as pub:
        broken = pub.build("app", built_at=ago(days=1))
        marker = pub.reject(broken.stages[-1])
        record = pub.custom_tag(broken, "broken-build")
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert not {broken.stage_id, marker, "broken-build", record} & world.tags()
    audit = world.last_audit().reset_index(drop=True)
    deleted = audit[audit.action == "delete"].reset_index(drop=True)
    order = list(deleted.tag)
    assert order.index(broken.stage_id) < order.index("broken-build") < order.index(marker)
    assert audit[audit.tag == marker].iloc[0].item_type == "rejected-marker"
    assert built["new"].stage_id in world.tags()


@pytest.mark.registry
def test_the_import_source_of_a_stage_a_workload_runs_stays(world, kube_server, kubeconfig_factory):
    built = history(world)
    with world.publisher() as pub:
        source = pub.build("worker", built_at=ago(days=9))
        importer = pub.build("app", built_at=ago(days=9), imports_from=source)
    config = kubeconfig_factory(["prod"])
    kube_server.add("prod", "Deployment", "api", containers={"api": f"{world.address}:{importer.stage_id}"})
    result = world.run("cleanup", "--kube-config", str(config))
    assert result.exit_code == 0, result.output
    assert {importer.stage_id, source.stage_id} <= world.tags()
    assert reasons(world.last_audit(), [source.stage_id]) == {"import-source"}
    assert built["gone"].stage_id not in world.tags()


@pytest.mark.registry
def test_a_stage_of_another_project_is_never_deleted(world):
    history(world)
    other = world.publisher()
    other.project = "someone-else"
    with other as pub:
        foreign = pub.build("app", built_at=ago(days=30))
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert stage_tags(foreign) <= world.tags()
    assert reasons(world.last_audit(), stage_tags(foreign)) == {"other-project"}


@pytest.mark.registry
def test_a_foreign_tag_sharing_a_deleted_stages_manifest_survives(world):
    built = history(world)
    with world.publisher() as pub:
        pub.foreign(built["old"], "latest")
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    tags = world.tags()
    assert "latest" in tags
    audit = world.last_audit()
    assert "latest" not in set(audit.tag)
    # a Distribution registry deletes manifests, not tags: the stage stays, saying why
    assert built["old"].stage_id in tags
    assert reasons(audit, [built["old"].stage_id]) == {"shared-digest"}


@pytest.mark.registry
def test_the_cleanup_record_is_written_after_a_real_cleanup_only(world):
    history(world)
    dry = world.run("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert CLEANUP_TAG not in world.tags()
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    assert CLEANUP_TAG in world.tags()
    repo = world.repo()
    try:
        labels = repo.backend.describe(repo.repository, [CLEANUP_TAG])[CLEANUP_TAG].labels
    finally:
        repo.close()
    assert labels["werf"] == world.project
    written = cleanup_timestamp_ms(labels)
    assert written is not None and abs(written / 1000 - ago().timestamp()) < 600
    assert CLEANUP_TAG not in set(world.last_audit().tag)


@pytest.mark.registry
def test_cleanup_disabled_in_werf_yaml_deletes_only_meta_and_managed_image_records(world):
    built = history(world)
    with world.publisher() as pub:
        managed = pub.manage("app")
    world.write_config("cleanup:\n  disable: true\n")
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    tags = world.tags()
    assert stage_tags(built["old"]) <= tags and stage_tags(built["gone"]) <= tags
    assert not {t for t in tags if parse_meta_tag(t)} and managed not in tags
    assert set(world.last_audit().reason) == {"cleanup-disabled"}
    assert CLEANUP_TAG not in tags


@pytest.mark.registry
def test_purge_deletes_every_stage_and_record_but_leaves_foreign_and_service_tags(world):
    built = history(world)
    with world.publisher() as pub:
        pub.custom_tag(built["new"], "v2.0.0")
        pub.manage("app")
        pub.foreign(built["worker"], "hand-pushed")
        pub.import_metadata(built["worker"], "c" * 56, "d" * 64)
    cleaned = world.run("cleanup", "--without-kube")
    assert cleaned.exit_code == 0, cleaned.output
    result = world.run("purge")
    assert result.exit_code == 0, result.output
    # the stage a hand-pushed tag shares stays (a Distribution registry deletes manifests only)
    assert world.tags() == {"hand-pushed", CLEANUP_TAG, built["worker"].stage_id}
    audit = world.last_audit()
    shared = audit[audit.tag == built["worker"].stage_id].iloc[0]
    assert shared.action == "keep" and shared.reason == "shared-digest"
    rest = audit[audit.tag != built["worker"].stage_id]
    assert set(rest.reason) == {"purge"} and set(rest.outcome) <= {"deleted", "already-gone"}
    assert "v2.0.0" not in world.tags()


def test_purge_of_an_oci_layout_repository(git_project, tmp_path, prefect_api):
    world = oci_repo_world(git_project, tmp_path)
    built = history(world)
    dry = world.run("purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert stage_tags(built["new"]) <= world.tags()
    result = world.run("purge")
    assert result.exit_code == 0, result.output
    assert world.tags() == set()


def test_cleanup_of_an_oci_layout_repository(git_project, tmp_path, prefect_api):
    world = oci_repo_world(git_project, tmp_path)
    built = history(world)
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    tags = world.tags()
    assert built["new"].stage_id in tags and built["old"].stage_id not in tags


@pytest.mark.registry
def test_managed_images_add_ls_and_rm_on_a_repo(world):
    added = world.run("managed-images", "add", "Tools/Builder")  # werf 2.x builds upper-case names
    assert added.exit_code == 0, added.output
    assert "managed-image-Tools__slash__Builder" in world.tags()
    listed = world.run("managed-images", "ls")
    assert listed.exit_code == 0 and listed.output.split() == ["Tools/Builder"], listed.output
    removed = world.run("managed-images", "rm", "Tools/Builder")
    assert removed.exit_code == 0, removed.output
    assert world.tags() == set()
    row = world.last_audit().iloc[0]
    assert row.storage == "repo" and row.item_type == "managed-image" and row.outcome == "deleted"


@pytest.mark.registry
def test_apply_of_a_reviewed_dry_run_deletes_what_it_planned(world):
    built = history(world)
    dry = world.run("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    audit_file = str(world.audits()[-1])
    result = world.cli("apply", audit_file, "--audit-dir", str(world.audit_dir), "--without-kube", *world.extra_args)
    assert result.exit_code == 0, result.output
    assert not stage_tags(built["gone"]) & world.tags()
    assert built["new"].stage_id in world.tags()


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (["cleanup", "--stages-storage", "127.0.0.1:1/s"], "--repo cannot be combined with --stages-storage"),
        (["cleanup", "--images-repo", "127.0.0.1:1/i"], "--repo cannot be combined with --images-repo"),
        (["stages", "cleanup"], "stagesweep cleanup --repo"),
        (["images", "purge"], "stagesweep purge --repo"),
    ],
)
def test_repo_with_a_werf_v11_option_or_command_is_a_usage_error(git_project, tmp_path, words, says):
    world = oci_repo_world(git_project, tmp_path)
    result = world.run(*words)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not world.audit_dir.exists()


def test_final_repo_without_repo_is_a_usage_error(git_project, tmp_path):
    world = oci_repo_world(git_project, tmp_path)
    result = world.cli("cleanup", "--stages-storage", "oci:/tmp/s", "--images-repo", "oci:/tmp/i", "--final-repo", "oci:/tmp/f")
    assert result.exit_code == 2 and "--final-repo needs --repo" in result.output, result.output


def test_a_deployment_run_with_repo_and_a_stages_storage_fails_before_reading_anything(git_project, tmp_path, prefect_api):
    from flows.cleanup import cleanup
    from schemas.errors import UsageError
    from schemas.settings import CleanupSettings

    world = oci_repo_world(git_project, tmp_path)
    settings = CleanupSettings(repo=world.address, stages_storage="oci:/nonexistent/stages", dir=str(git_project.work))
    with pytest.raises(UsageError) as caught:
        cleanup(settings.model_copy(update={"audit_dir": str(world.audit_dir)}))
    assert caught.value.exit_code == 2 and "--repo cannot be combined" in caught.value.message
    assert not (tmp_path / "repo").exists()


@pytest.mark.registry
def test_final_repo_keeps_the_final_copy_of_each_kept_stage_and_deletes_the_rest(world):
    """The final repository holds copies of final stages by stage ID: a copy goes with its stage
    in the repo, or when the repo never had it; it stays while its stage stays (docs/werf2.md)."""
    built = history(world)
    final_address = world.address + "-final"
    final = world.repo(final_address)
    try:
        with world.publisher() as pub:
            orphan = pub.build("app", built_at=ago(days=20))
            copies = {key: pub.final(built[key], final.backend, final_address) for key in ("old", "new", "gone")}
            copies["orphan"] = pub.final(orphan, final.backend, final_address)
        repo = world.repo()  # the orphan exists only in the final repo
        repo.backend.delete(repo.repository, [[(s.stage_id, None) for s in reversed(orphan.stages)]], 4)
        repo.close()
    finally:
        final.close()
    result = world.run("cleanup", "--without-kube", "--final-repo", final_address)
    assert result.exit_code == 0, result.output
    assert world.tags(final_address) == {copies["new"]}
    audit = world.last_audit()
    rows = audit[audit.storage == "final-repo"].set_index("tag")
    assert set(rows.item_type) == {"final-stage"}
    assert rows.loc[copies["new"]].action == "keep"
    assert rows.loc[copies["old"]].reason == rows.loc[copies["gone"]].reason == "stage-deleted"
    assert rows.loc[copies["orphan"]].reason == "nonexistent-stage"


@pytest.mark.registry
def test_a_fleet_cleans_a_werf2_project_by_its_repo_beside_a_werf_v11_project(world, registry, unique_repo, tmp_path):
    import pyarrow.dataset as ds
    import yaml

    from tests.e2e.world import basic_world, registry_world
    from tests.fixtures.gitrepo import GitProject

    built = history(world)
    old = registry_world(GitProject(tmp_path / "git-v11"), registry, f"{unique_repo}/v11", tmp_path)
    old.project = "legacy"
    facts = basic_world(old)
    old.git.commit(
        "main", ago(hours=12), tree=old.git.tree({"werf.yaml": "project: legacy\nconfigVersion: 1\n---\nimage: app\n"})
    )
    old.git.push("main")
    fleet = {
        "defaults": {"insecure_registry": True, "without_kube": True},
        "projects": [
            {"name": "acme", "git": world.git.origin.as_uri(), "repo": world.address},
            {
                "name": "legacy",
                "git": old.git.origin.as_uri(),
                "images_repo": old.images_address,
                "stages_storage": old.stages_address,
            },
        ],
    }
    # the werf 2.x project's werf.yaml is read from its origin
    world.git.commit("main", ago(hours=12), tree=world.git.tree({"werf.yaml": (world.git.work / "werf.yaml").read_text()}))
    world.git.push("main")
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    audit = tmp_path / "fleet-audit"
    result = world.cli("fleet", "cleanup", str(path), "--audit-dir", str(audit), env={"HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert built["gone"].stage_id not in world.tags() and built["feature"].stage_id in world.tags()
    assert facts["f1"] not in old.image_tags()
    table = ds.dataset(audit, format="parquet", partitioning="hive").to_table().to_pandas()
    assert set(table[table.project == "acme"].storage) == {"repo"}
    assert set(table[table.project == "legacy"].storage) <= {"images-repo", "stages-storage"}


@pytest.mark.registry
def test_werf_v2_cleanup_report_and_the_audit_report_of_a_repo_run(world, tmp_path):
    import json

    built = history(world)
    with world.publisher() as pub:
        pub.custom_tag(built["old"], "old-release")
        pub.custom_tag(built["new"], "new-release")
    report = tmp_path / "report.json"
    result = world.run("cleanup", "--without-kube", "--save-cleanup-report", str(report))
    assert result.exit_code == 0, result.output
    document = json.loads(report.read_text())
    assert document["repo"] == world.address and document["dryRun"] is False
    deleted = {(item["type"], item.get("tag")) for item in document["deleted"]}
    assert ("stage", built["old"].stage_id) in deleted and ("customTag", "old-release") in deleted
    assert any(item["type"] == "imageMetadata" and item.get("stageID") == built["old"].stage_id for item in document["deleted"])
    kept = {(item["type"], item.get("tag")): item for item in document["kept"]}
    assert kept[("customTag", "new-release")]["stageID"] == built["new"].stage_id
    assert kept[("stage", built["new"].stage_id)]["reason"] == "git policy"
    shown = world.cli("report", str(world.audit_dir), "--format", "json", "--repo", world.address)
    assert shown.exit_code == 0, shown.output
    assert "stage-deleted" in shown.output and "unused-stage" in shown.output
    elsewhere = world.cli("report", str(world.audit_dir), "--repo", world.address + "-other")
    assert elsewhere.exit_code == 1 and "no audited row of the repository" in elsewhere.output


@pytest.mark.registry
def test_a_multi_platform_stage_the_history_keeps_keeps_its_platform_stages(world):
    from tests.e2e.werf2_repo import Werf2World

    world.write_config(ONE_POLICY)
    kept_commit = world.git.commit("main", ago(days=4))
    world.git.push()
    repo = world.repo()
    try:
        w2 = Werf2World(repo.backend, repo.repository, world.project)
        amd, arm = w2.stage(ago(days=4)), w2.stage(ago(days=4))
        index = w2.multiplatform_stage([amd, arm], ["linux/amd64", "linux/arm64"])
        w2.meta("app", kept_commit, index)
        old_amd, old_arm = w2.stage(ago(days=9)), w2.stage(ago(days=9))
        old_index = w2.multiplatform_stage([old_amd, old_arm], ["linux/amd64", "linux/arm64"])
    finally:
        repo.close()
    result = world.run("cleanup", "--without-kube")
    assert result.exit_code == 0, result.output
    tags = world.tags()
    assert {index, amd, arm} <= tags
    assert not {old_index, old_amd, old_arm} & tags
    audit = world.last_audit()
    assert reasons(audit, [index]) == {"git-policy"}
    assert reasons(audit, [amd, arm]) == {"image-index-platform"}


@pytest.mark.registry
def test_a_werf_12_import_source_found_through_import_metadata_stays_with_the_stage_a_workload_runs(
    world, kube_server, kubeconfig_factory
):
    """werf 1.2 labels an importing stage with the import's checksum; the import metadata record
    names the source by its image id (`source-image-id`)."""
    from tests.e2e.werf2_repo import Werf2World

    history(world)
    repo = world.repo()
    try:
        w2 = Werf2World(repo.backend, repo.repository, world.project)
        source = w2.stage(ago(days=30), v12=True)
        importer = w2.stage(ago(days=30), v12=True, import_checksums={"a" * 32: "c" * 64})
        record = w2.import_metadata("a" * 32, "c" * 64, source_image_id=w2.image_id(source))
        unused = w2.stage(ago(days=30), v12=True)
        unused_record = w2.import_metadata("b" * 32, "d" * 64, source_image_id=w2.image_id(unused))
    finally:
        repo.close()
    config = kubeconfig_factory(["prod"])
    kube_server.add("prod", "Deployment", "api", containers={"api": f"{world.address}:{importer}"})
    result = world.run("cleanup", "--kube-config", str(config))
    assert result.exit_code == 0, result.output
    tags = world.tags()
    assert {importer, source, record} <= tags
    assert not {unused, unused_record} & tags
    audit = world.last_audit()
    assert reasons(audit, [source]) == {"import-source"}
    assert reasons(audit, [unused_record]) == {"unused-import-metadata"}


@pytest.mark.registry
@pytest.mark.parametrize("command", ["cleanup", "cleanup --dry-run", "purge"])
def test_a_repo_holding_werf_v11_content_is_refused_and_nothing_is_deleted(world, command):
    from tests.e2e.werf2_repo import Werf2World

    built = history(world)
    repo = world.repo()
    try:
        w2 = Werf2World(repo.backend, repo.repository, world.project)
        w2.v11_stage(ago(days=40))
    finally:
        repo.close()
    before = world.tags()
    words = command.split() + (["--without-kube"] if command.startswith("cleanup") else [])
    result = world.run(*words)
    assert result.exit_code == 1, result.output
    assert "werf v1.1" in result.output and "--stages-storage" in result.output
    assert world.tags() == before and built["gone"].stage_id in before
    from adapters.audit import read_run_metadata

    assert world.last_audit().empty
    assert read_run_metadata(world.audits()[-1])["refused"]["reason"] == "wrong-storage-format"


@pytest.mark.registry
def test_when_a_stage_delete_fails_its_custom_tags_their_metadata_and_its_marker_stay_until_the_rerun(
    git_project, registry, fault_proxy, unique_repo, tmp_path
):
    world = registry_repo_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    history(world)
    with world.publisher() as pub:
        broken = pub.build("app", built_at=ago(days=1))
        marker = pub.reject(broken.stages[-1])
        record = pub.custom_tag(broken, "broken-build")
    with RegistryClient(registry.options()) as client:
        digest = client.head_manifest(registry.repo(f"{unique_repo}/werf2"), broken.stage_id)
    assert digest is not None
    fault_proxy.fail_deletes_matching(lambda path: digest in path, status=500)

    failed = world.run("cleanup", "--without-kube")

    assert failed.exit_code == 3, failed.output
    assert {broken.stage_id, marker, "broken-build", record} <= world.tags()
    audit = world.last_audit()
    stage = audit[audit.tag == broken.stage_id].iloc[0]
    assert (stage.action, stage.outcome) == ("delete", "failed")
    followers = audit[audit.tag.isin([marker, "broken-build", record])]
    assert len(followers) == 3
    assert set(followers.action) == {"keep"} and set(followers.outcome) == {"kept"}
    assert set(followers.reason) == {"stage-stays"}
    assert all(broken.stage_id in detail and "failed" in detail for detail in followers.detail)

    fault_proxy.heal()
    rerun = world.run("cleanup", "--without-kube")
    assert rerun.exit_code == 0, rerun.output
    assert not {broken.stage_id, marker, "broken-build", record} & world.tags()
