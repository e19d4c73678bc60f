"""Bad input stops the run before the first deletion with a message that says what, where and
what to do (exit code 1), and an audit file is still written."""

from __future__ import annotations

import pytest

from tests.e2e.world import basic_world, registry_world
from tests.fixtures.registry import free_port

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    world.state = basic_world(world)
    world.before = (world.image_tags(), world.stage_tags())
    return world


def assert_stopped(world, result, *needles):
    assert result.exit_code == 1, result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert (world.image_tags(), world.stage_tags()) == world.before
    assert world.audits(), "a stopped run still writes its audit"


def test_broken_keep_policy_regex_names_file_document_and_key(world):
    world.write_config("cleanup:\n  keepPolicies:\n  - references: {branch: '/feature-(/'}\n")
    result = world.cleanup("cleanup", "--without-kube")
    assert_stopped(world, result, "werf.yaml", "keepPolicies", "branch")


def test_template_rendering_a_missing_value_into_cleanup_stops_naming_the_key(world):
    world.write_config("cleanup: {{ .Values.cleanup }}\n")
    result = world.cleanup("cleanup", "--without-kube")
    assert_stopped(world, result, "werf.yaml", "cleanup")


def test_shallow_clone_is_refused_without_history_synchronization(world):
    world.git.push()
    shallow = world.git.shallow_clone()
    (shallow / "werf.yaml").write_text((world.git.work / "werf.yaml").read_text())
    (shallow / "werf.yaml").write_text(
        (shallow / "werf.yaml")
        .read_text()
        .replace("configVersion: 1\n", "configVersion: 1\ngitWorktree:\n  allowFetchOriginBranchesAndTags: false\n")
    )
    result = world.cli("cleanup", *world.storage_args(git_dir=shallow), "--insecure-registry", "--without-kube")
    assert_stopped(world, result, "shallow", "--allow-git-shallow-clone")


def test_directory_without_git_refuses_images_cleanup(world, tmp_path):
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    (plain / "werf.yaml").write_text((world.git.work / "werf.yaml").read_text())
    result = world.cli(
        "images",
        "cleanup",
        "--images-repo",
        world.images_address,
        "--stages-storage",
        world.stages_address,
        "--dir",
        str(plain),
        "--audit-dir",
        str(world.audit_dir),
        "--insecure-registry",
        "--without-kube",
    )
    assert_stopped(world, result, "git")


def test_unreachable_registry_stops_and_names_it(world):
    dead = f"127.0.0.1:{free_port()}"
    result = world.cli("cleanup", *world.storage_args(images_repo=f"{dead}/acme"), "--insecure-registry", "--without-kube")
    assert_stopped(world, result, dead)


def test_unknown_kube_context_stops_and_lists_the_known_ones(world, kube_server, kubeconfig_factory):
    kube_server.add_cluster("prod")
    config = kubeconfig_factory(["prod"])
    result = world.cleanup("cleanup", "--kube-config", str(config), "--kube-context", "staging")
    assert_stopped(world, result, "staging", "prod")


def test_upper_case_image_name_in_werf_yaml_is_refused(world):
    (world.git.work / "werf.yaml").write_text("project: acme\nconfigVersion: 1\n---\nimage: Backend\n")
    result = world.cleanup("cleanup", "--without-kube")
    assert_stopped(world, result, "Backend")


def test_registry_that_refuses_deletes_stops_before_the_first_delete(git_project, registry, fault_proxy, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    world.before = (world.image_tags(), world.stage_tags())
    fault_proxy.fail_deletes_matching(lambda path: True, status=405)
    result = world.cleanup("cleanup", "--without-kube")
    assert_stopped(world, result, "does not allow deletes")
    audit = world.last_audit()
    assert set(audit[audit.action == "delete"].outcome) == {"blocked"}
