"""`apply` re-checks a reviewed plan against the world at apply time; the [common] options of
`managed-images`; a registry signed by a private CA."""

from __future__ import annotations

import pytest

from tests.e2e.world import ago, basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    world.state = basic_world(world)
    return world


def apply(world, audit_file, *args: str):
    return world.cli("apply", str(audit_file), "--audit-dir", str(world.audit_dir), "--insecure-registry", *args)


def row(audit, tag: str, item_type: str):
    found = audit[(audit.tag == tag) & (audit.item_type == item_type)]
    assert len(found) == 1, (tag, item_type, audit[["tag", "item_type"]])
    return found.iloc[0]


def test_tag_a_workload_started_using_after_review_is_kept(world, kube_server, kubeconfig_factory):
    w = world.state
    kube_server.add_cluster("prod")
    config = kubeconfig_factory(["prod"])
    dry = world.cleanup("cleanup", "--kube-config", str(config), "--dry-run")
    assert dry.exit_code == 0, dry.output
    reviewed = world.audits()[-1]
    assert row(world.last_audit(), w["f1"], "image-tag").outcome == "would-delete"
    # between review and apply, a Deployment starts running the f1 image
    kube_server.add("prod", "Deployment", "hotfix", containers={"web": f"{world.images_address}/app:{w['f1']}"})
    result = apply(world, reviewed, "--kube-config", str(config))
    assert result.exit_code == 0, result.output
    assert w["f1"] in world.image_tags()
    kept = row(world.last_audit(), w["f1"], "image-tag")
    assert (kept.action, kept.reason, kept.outcome) == ("keep", "used-in-kubernetes", "kept")
    assert "prod" in kept.detail
    assert "feature" not in world.image_tags()  # the rest of the plan ran


@pytest.mark.parametrize("images_repo_given", [True, False], ids=["images-repo-given", "as-in-readme"])
def test_stage_a_new_image_points_to_after_review_is_kept(world, images_repo_given):
    """The README's `stagesweep apply AUDIT` (no --images-repo) re-checks stages too: the images
    repo comes from the audited rows."""
    w = world.state
    dry = world.cleanup("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    reviewed = world.audits()[-1]
    planned = world.last_audit()
    assert set(w["F"].stage_tags) <= set(planned[planned.outcome == "would-delete"].tag)
    # a new tag of the images repo now points at F's last stage
    with world.publisher() as pub:
        pub.publish(w["F"], "hotfix")
    extra = ["--images-repo", world.images_address] if images_repo_given else []
    result = apply(world, reviewed, "--without-kube", *extra)
    assert result.exit_code == 0, result.output
    assert set(w["F"].stage_tags) <= world.stage_tags()
    applied = world.last_audit()
    for tag in w["F"].stage_tags:
        kept = row(applied, tag, "stage")
        assert (kept.action, kept.reason, kept.outcome) == ("keep", "parent-of-kept-image", "kept")
    assert {"hotfix"} <= world.image_tags() and "feature" not in world.image_tags()


def test_apply_of_a_stages_cleanup_audit_without_images_repo_stops_and_deletes_nothing(world):
    with world.publisher() as pub:
        pub.build("app", built_at=ago(days=5), n_stages=2)
    dry = world.cleanup("stages cleanup", "--dry-run", "--keep-stages-built-within-last-n-hours", "0")
    assert dry.exit_code == 0, dry.output
    reviewed = world.audits()[-1]
    planned = world.last_audit()
    assert set(planned.storage) == {"stages-storage"} and (planned.outcome == "would-delete").any()
    before = (world.image_tags(), world.stage_tags())
    result = apply(world, reviewed, "--without-kube")
    assert result.exit_code == 1, result.output
    assert "--images-repo" in result.output
    assert (world.image_tags(), world.stage_tags()) == before


COMMON = [
    ("--audit-dir", None),
    ("--parallel-tasks-limit", "3"),
    ("--dry-run", None),
    ("--max-deletions", "50"),
    ("--config", "werf.yaml"),
    ("--dir", None),
    ("--images-repo-mode", "multirepo"),
    ("--docker-config", None),
    ("--insecure-registry", None),
    ("--skip-tls-verify-registry", None),
    ("--keep-stages-built-within-last-n-hours", "3"),
]


@pytest.mark.parametrize("command", ["ls", "add", "rm"])
def test_managed_images_commands_accept_every_common_option(world, tmp_path, command):
    values = {"--audit-dir": str(world.audit_dir), "--dir": str(world.git.work), "--docker-config": str(tmp_path / "docker")}
    (tmp_path / "docker").mkdir()
    args = []
    for option, value in COMMON:
        args.append(option)
        if option in values:
            args.append(values[option])
        elif value is not None:
            args.append(value)
    names = {"ls": [], "add": ["extra"], "rm": ["app"]}[command]
    result = world.cli("managed-images", command, *names, "--stages-storage", world.stages_address, *args)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("how", ["option", "environment"])
def test_registry_ca_file_makes_a_cleanup_trust_a_private_ca(git_project, tls_registry, unique_repo, tmp_path, how):
    world = registry_world(git_project, tls_registry, unique_repo, tmp_path)
    world.extra_args = []
    w = basic_world(world)
    untrusted = world.cleanup("cleanup", "--without-kube", "--dry-run")
    assert untrusted.exit_code == 1, untrusted.output
    assert "certificate" in untrusted.output.lower() or "tls" in untrusted.output.lower()
    if how == "option":
        result = world.cleanup("cleanup", "--without-kube", "--registry-ca-file", tls_registry.ca_file)
    else:
        result = world.cleanup("cleanup", "--without-kube", env={"STAGESWEEP_REGISTRY_CA_FILE": tls_registry.ca_file})
    assert result.exit_code == 0, result.output
    assert w["f1"] not in world.image_tags() and "main" in world.image_tags()


@pytest.mark.parametrize("bad", ["missing", "not-pem"])
def test_an_unreadable_registry_ca_file_stops_the_cleanup_before_any_delete_naming_the_file(
    git_project, tls_registry, unique_repo, tmp_path, bad
):
    world = registry_world(git_project, tls_registry, unique_repo, tmp_path)
    world.extra_args = []
    w = basic_world(world)
    ca_file = tmp_path / "ca.pem"
    if bad == "not-pem":
        ca_file.write_text("this is no certificate\n")
    result = world.cleanup("cleanup", "--without-kube", "--registry-ca-file", str(ca_file))
    assert result.exit_code != 0, result.output
    assert f"the registry CA file {ca_file} could not be read" in result.output
    assert "--registry-ca-file" in result.output and "Traceback" not in result.output
    assert w["f1"] in world.image_tags(), "nothing deleted"
