"""deployments/prefect.yaml on a real Prefect server: `prefect deploy --all`, a process work
pool and worker, and `stagesweep serve`, each running a cleanup of a real registry.

The serve test registers the same deployment names as served ones (no work pool) and pauses
them when it stops, so it comes last in this module (pytest keeps file order; under xdist the
module is one group)."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

import pytest

from tests.deploy.helpers import (
    api_client,
    branch_deleted_world,
    flow_run_logs,
    run_overrides,
    wait_for_final_state,
    yaml_environment,
)
from tests.deploy.server import BIN, PROJECT_ROOT, PrefectServer, stop_process
from tests.e2e.world import World

#: one worker runs the module in file order (the serve test re-registers the deployments the others
#: read); the server is that worker's, shared with its other deployment tests
pytestmark = [
    pytest.mark.registry,
    pytest.mark.prefect,
    pytest.mark.slow,
    pytest.mark.xdist_group("tests/deploy/test_prefect_server.py"),
]

POOL = "stagesweep"
PREFECT_FILE = "deployments/prefect.yaml"
UNSCHEDULED = ["images_cleanup/images-cleanup", "purge/purge", "host_cleanup/host-cleanup"]


@dataclass
class Deployed:
    world: World
    commits: dict
    env: dict[str, str]


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, registry, tmp_path_factory) -> Deployed:
    """A werf world, a process work pool, and `prefect deploy --all` of the project's file with
    the world's addresses in the environment (as an operator would run it)."""
    world, commits = branch_deleted_world(registry, tmp_path_factory.mktemp("deployed-world"))
    env = prefect_server.env(**yaml_environment(world))
    prefect = str(BIN / "prefect")
    prefect_server.run(prefect, "work-pool", "create", POOL, "--type", "process", env=env)
    prefect_server.run(prefect, "--no-prompt", "deploy", "--all", "--prefect-file", PREFECT_FILE, env=env)
    return Deployed(world, commits, env)


def assert_cleanup_run_succeeded(client, flow_run, world: World, commits: dict) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    assert flow_run.state.is_completed(), f"{flow_run.state}\n{flow_run_logs(client, flow_run.id)}"
    artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id])))
    by_key = {a.key: a for a in artifacts if a.key}
    assert {"deletion-plan", "run-summary", "images-repo-inventory", "git-inventory"} <= set(by_key)
    assert "not-reached-by-policy" in by_key["deletion-plan"].data
    summary = by_key["run-summary"].data
    assert "# stagesweep cleanup" in summary and f"run: `{flow_run.id}`" in summary
    # the deleted branch's images and stages are gone; main's stay
    assert world.image_tags() == {commits["c1"], commits["c2"], "main"}
    assert world.metadata_commits() == {commits["c1"], commits["c2"]}
    remaining = world.stage_tags()
    assert not remaining & set(commits["F"].stage_tags)
    assert set(commits["A"].stage_tags) | set(commits["B"].stage_tags) <= remaining
    # the audit of the run is named after the flow run
    assert [p.stem for p in world.audits()] == [str(flow_run.id)]


def test_deploy_registers_a_nightly_cron_for_cleanup_and_no_schedule_for_the_others(prefect_server, deployed):
    with api_client(prefect_server) as client:
        nightly = client.read_deployment_by_name("cleanup/nightly-cleanup")
        assert [s.schedule.cron for s in nightly.schedules] == ["0 3 * * *"]
        assert nightly.schedules[0].schedule.timezone and nightly.schedules[0].active
        assert nightly.work_pool_name == POOL
        for name in UNSCHEDULED:
            deployment = client.read_deployment_by_name(name)
            assert deployment.schedules == [], name
            assert deployment.work_pool_name == POOL, name


def test_deploy_fills_settings_from_stagesweep_environment_variables(prefect_server, deployed):
    world = deployed.world
    with api_client(prefect_server) as client:
        nightly = client.read_deployment_by_name("cleanup/nightly-cleanup")
        host = client.read_deployment_by_name("host_cleanup/host-cleanup")
    settings = nightly.parameters["settings"]
    assert settings["images_repo"] == world.images_address
    assert settings["stages_storage"] == world.stages_address
    assert settings["dir"] == str(world.git.work)
    assert settings["audit_dir"] == str(world.audit_dir) == host.parameters["settings"]["audit_dir"]
    assert "{{" not in repr(nightly.parameters) + repr(host.parameters)
    # the parameter form comes from the settings model, and runs start in the project root
    schema = nightly.parameter_openapi_schema
    assert schema["required"] == ["settings"]
    assert "keep_stages_built_within_last_n_hours" in schema["definitions"]["CleanupSettings"]["properties"]
    assert nightly.enforce_parameter_schema
    assert nightly.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}]


def test_worker_runs_a_triggered_nightly_cleanup_and_the_deleted_branch_loses_its_images(prefect_server, deployed, tmp_path):
    with api_client(prefect_server) as client:
        nightly = client.read_deployment_by_name("cleanup/nightly-cleanup")
        flow_run = client.create_flow_run_from_deployment(nightly.id, parameters=run_overrides(nightly.parameters))
        worker_log = tmp_path / "worker.log"
        worker = prefect_server.spawn(
            str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--run-once", env=deployed.env, log=worker_log
        )
        try:
            finished = wait_for_final_state(client, flow_run.id, logs=lambda: worker_log.read_text(errors="replace")[-4000:])
            worker.wait(timeout=60)
        finally:
            stop_process(worker)
        assert_cleanup_run_succeeded(client, finished, deployed.world, deployed.commits)


def test_stagesweep_serve_runs_a_triggered_cleanup_and_stops_cleanly_on_ctrl_c(prefect_server, registry, tmp_path):
    world, commits = branch_deleted_world(registry, tmp_path / "served-world")
    env = prefect_server.env(**yaml_environment(world))
    serve_log = tmp_path / "serve.log"
    serve = prefect_server.spawn(str(BIN / "stagesweep"), "serve", env=env, log=serve_log)
    try:
        with api_client(prefect_server) as client:
            nightly = wait_until_served(client, world, serve, serve_log)
            assert [s.schedule.cron for s in nightly.schedules] == ["0 3 * * *"]
            flow_run = client.create_flow_run_from_deployment(nightly.id, parameters=run_overrides(nightly.parameters))
            finished = wait_for_final_state(client, flow_run.id, logs=lambda: serve_log.read_text(errors="replace")[-4000:])
            assert_cleanup_run_succeeded(client, finished, world, commits)
            for name in UNSCHEDULED:
                assert client.read_deployment_by_name(name).schedules == [], name
            # serve created Prefect's zombie automation: a served run whose process dies ends Crashed
            zombie = client.read_automations_by_name("stagesweep-crash-zombie-flow-runs")
            assert len(zombie) == 1 and zombie[0].enabled, zombie
            assert zombie[0].actions[0].state.value == "CRASHED"
        stop_process(serve, signal.SIGINT, timeout=60)
        assert serve.returncode == 0, serve_log.read_text(errors="replace")[-4000:]
    finally:
        stop_process(serve, signal.SIGKILL)


def wait_until_served(client, world: World, serve, serve_log, timeout: float = 180.0):
    """The nightly deployment once `stagesweep serve` has registered it for `world`."""
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise AssertionError(f"stagesweep serve exited {serve.returncode}:\n{serve_log.read_text(errors='replace')}")
        try:
            nightly = client.read_deployment_by_name("cleanup/nightly-cleanup")
        except ObjectNotFound:
            nightly = None
        if nightly is not None and nightly.parameters["settings"]["images_repo"] == world.images_address:
            return nightly
        time.sleep(1)
    raise AssertionError(f"stagesweep serve did not register its deployments:\n{serve_log.read_text(errors='replace')}")
