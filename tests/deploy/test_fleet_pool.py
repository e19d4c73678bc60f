"""`stagesweep fleet cleanup --work-pool` whole: the worker's real `prefect server start`, a process
work pool and two workers run a fleet of 4 projects (git origins by file://, one registry behind a
counting proxy, the audit on moto's S3 server). All children complete but the broken one; the
per-registry limit holds at the wire; a rerun of a cleaned project deletes nothing; `report s3://...`
reads the audit.

Four projects on two workers that take two runs each: every worker runs projects, and four
project runs (each up to 10 requests at once, its parallel_tasks_limit) share a limit of 3. A
fleet at size is bench/fleet.py's."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import pytest
import yaml
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterName

from adapters.audit import read_audit
from tests.deploy.helpers import api_client, create_process_pool
from tests.deploy.server import BIN, PROJECT_ROOT, stop_process
from tests.e2e.test_fleet import fleet_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.slow]

POOL = "fleet-done"
LIMIT = 3
#: project runs a worker takes at once: the fleet's four runs need both workers
WORKER_LIMIT = 2


def test_fleet_on_two_workers_holds_the_registry_limit_and_a_rerun_deletes_nothing(
    prefect_server, registry, fault_proxy, s3, tmp_path
):
    names = [f"project-{i:02d}" for i in range(4)]
    broken = "project-02"
    worlds, fleet = fleet_world(
        registry, f"tests/done-{uuid.uuid4().hex[:8]}", tmp_path, names, broken={broken}, host=fault_proxy.host
    )
    fleet["registries"] = {fault_proxy.host: {"max_concurrent_requests": LIMIT}}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    audit = f"s3://audit-bucket/fleet-{uuid.uuid4().hex[:8]}"
    env = prefect_server.env(
        HOME=str(tmp_path), PREFECT_WORKER_QUERY_SECONDS="1", STAGESWEEP_PREFECT_SERVER_AUTOSTART="false", COLUMNS="300"
    )
    prefect = str(BIN / "prefect")
    create_process_pool(prefect_server, POOL)
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = [
        prefect_server.spawn(
            prefect, "worker", "start", "--pool", POOL, "--name", f"done-{i}", "--limit", str(WORKER_LIMIT), env=env, log=log
        )
        for i, log in enumerate(logs)
    ]
    command = [str(BIN / "stagesweep"), "fleet", "cleanup", str(path), "--work-pool", POOL, "--audit-dir", audit]
    # the rerun: a cleaned project (nothing left to delete) and the broken one (fails again, alone)
    rerun = ["project-00", broken]
    fault_proxy.max_in_flight = 0  # the pushes that built the worlds do not count
    try:
        first = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1500, check=False)
        first_max = fault_proxy.max_in_flight
        fault_proxy.max_in_flight = 0
        second = subprocess.run(
            [*command, "--projects", ",".join(rerun)],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1500, check=False,
        )  # fmt: skip
    finally:
        for worker in workers:
            stop_process(worker)
    output = first.stdout + first.stderr
    assert first.returncode == 3, output + "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
    assert f"1 of 4 projects failed: {broken}" in output
    assert second.returncode == 3 and f"1 of 2 projects failed: {broken}" in second.stdout + second.stderr
    # the limit held at the wire, through both runs, across both workers
    assert 1 <= first_max <= LIMIT and fault_proxy.max_in_flight <= LIMIT
    for log in logs:
        assert "submitted to infrastructure" in log.read_text(errors="replace")
    for name, (world, facts) in worlds.items():
        if name == broken:
            assert facts["f1"] in world.image_tags()
        else:
            assert facts["f1"] not in world.image_tags() and facts["c2"] in world.image_tags()
    # each project is a child run of its fleet run, a run of the per-project deployment on the pool
    with api_client(prefect_server) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)))
        assert sorted(r.name for r in children) == sorted(names + rerun)
        assert {r.name for r in children if not r.state.is_completed()} == {broken}
        assert None not in {r.parent_task_run_id for r in children}
        deployment = client.read_deployment_by_name("cleanup/fleet-project")
        assert deployment.work_pool_name == POOL
        assert {r.deployment_id for r in children} == {deployment.id}
    # the audit is on S3, partitioned by project and date; the rerun deleted nothing
    table = read_audit(audit).to_pandas()
    assert table.run_id.nunique() == len(names) - 1 + 1  # the broken project's runs read no storage
    newest = table.sort_values("started_at").groupby("project").run_id.last()
    assert table[table.project == "project-00"].run_id.nunique() == 2
    assert set(table[table.run_id == newest["project-00"]].outcome) == {"kept"}
    assert set(table[table.run_id != newest["project-00"]].outcome) >= {"deleted", "kept"}
    report = subprocess.run(
        [str(BIN / "stagesweep"), "report", audit, "--format", "json"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    assert all(run_id in report.stdout for run_id in newest)


def start_fleet_on_empty_pool(prefect_server, registry, tmp_path, names: list[str], pool: str):
    """A fleet of `names` started by the CLI on a new process pool that has no worker yet: its
    worlds, the environment, and the running `fleet cleanup` process."""
    worlds, fleet = fleet_world(registry, f"tests/{pool}-{uuid.uuid4().hex[:8]}", tmp_path, names)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    env = prefect_server.env(HOME=str(tmp_path), PREFECT_WORKER_QUERY_SECONDS="1", STAGESWEEP_PREFECT_SERVER_AUTOSTART="false")
    create_process_pool(prefect_server, pool)
    command = [
        str(BIN / "stagesweep"),
        "fleet",
        "cleanup",
        str(path),
        "--work-pool",
        pool,
        "--audit-dir",
        str(tmp_path / "audit"),
    ]
    fleet_run = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return worlds, env, fleet_run


def test_a_project_run_the_pool_could_not_start_is_started_again(prefect_server, registry, tmp_path):
    from prefect.states import Crashed

    names = ["left", "right"]
    worlds, env, fleet_run = start_fleet_on_empty_pool(prefect_server, registry, tmp_path, names, "resubmit")
    prefect = str(BIN / "prefect")
    worker = None
    try:
        with api_client(prefect_server) as client:
            # no worker yet: the children wait on the pool; one is then crashed as a worker that
            # could not submit it would report it
            deadline = time.monotonic() + 300
            while not (found := client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["left"])))):
                assert time.monotonic() < deadline and fleet_run.poll() is None, "the fleet run started no child"
                time.sleep(1)
            client.set_flow_run_state(found[0].id, Crashed(message="Failed to submit flow run to infrastructure"), force=True)
            worker = prefect_server.spawn(
                prefect, "worker", "start", "--pool", "resubmit", "--name", "late", env=env, log=tmp_path / "worker.log"
            )
            output, _ = fleet_run.communicate(timeout=900)
            children = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)))
    finally:
        if fleet_run.poll() is None:
            fleet_run.kill()
        if worker is not None:
            stop_process(worker)
    assert fleet_run.returncode == 0, output
    states = sorted((r.name, r.state.type.value) for r in children)
    assert states == [("left", "COMPLETED"), ("left", "CRASHED"), ("right", "COMPLETED")]
    for world, facts in worlds.values():
        assert facts["f1"] not in world.image_tags()


def test_an_interrupted_fleet_run_cancels_the_project_runs_no_worker_has_started(prefect_server, registry, tmp_path):
    names = ["north", "south"]
    worlds, _, fleet_run = start_fleet_on_empty_pool(prefect_server, registry, tmp_path, names, "interrupted")
    try:
        with api_client(prefect_server) as client:
            # no worker: both children wait on the pool, and the fleet run waits for them, until
            # it is interrupted
            deadline = time.monotonic() + 300
            by_name = FlowRunFilter(name=FlowRunFilterName(any_=names))
            while not _waiting_for_children(client, by_name, len(names)):
                assert time.monotonic() < deadline and fleet_run.poll() is None, "the fleet run did not start its children"
                time.sleep(1)
            interrupted_at = time.monotonic()
            fleet_run.send_signal(signal.SIGINT)
            output, _ = fleet_run.communicate(timeout=120)
            ended_after = time.monotonic() - interrupted_at
            children = client.read_flow_runs(flow_run_filter=by_name)
    finally:
        if fleet_run.poll() is None:
            fleet_run.kill()
    assert fleet_run.returncode == 130, output
    assert ended_after < 30, f"the fleet run ended {ended_after:.0f} s after Ctrl-C\n{output}"
    assert sorted((r.name, r.state.type.value) for r in children) == [("north", "CANCELLED"), ("south", "CANCELLED")]
    assert "cancelled the project runs no worker had started: north, south" in output
    for world, facts in worlds.values():
        assert facts["f1"] in world.image_tags()


def _waiting_for_children(client, children: FlowRunFilter, n: int) -> bool:
    """All `n` children exist and their parent's `wait_for_project_runs` task is running."""
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId

    found = client.read_flow_runs(flow_run_filter=children)
    if len(found) < n:
        return False
    waits = client.read_task_runs(task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=[r.parent_task_run_id for r in found])))
    parents = {t.flow_run_id for t in waits}
    running = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(parents))))
    return any(t.name.startswith("wait_for_project_runs") and t.state and t.state.is_running() for t in running)
