"""`stagesweep fleet cleanup --work-pool POOL` on a real Prefect server: a process work pool and
two workers take the projects; each project is a child run of the fleet run."""

from __future__ import annotations

import subprocess
import uuid

import pytest
import yaml

from tests.deploy.helpers import api_client
from tests.deploy.server import BIN, PROJECT_ROOT, stop_process
from tests.e2e.test_fleet import fleet_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.slow]

POOL = "fleet"


@pytest.mark.xfail(
    strict=False,
    reason="under load a second project of the pool run has been seen failing besides the broken one "
    "(cause not found yet: storage-exclusion or registry slots on the SQLite Prefect server); "
    "the in-process fleet tests hold the same behaviour",
)
def test_fleet_on_a_work_pool_two_workers_take_projects_and_a_broken_one_fails_alone(prefect_server, registry, tmp_path):
    names = [f"p{i}" for i in range(5)]
    worlds, fleet = fleet_world(registry, f"tests/fleet-{uuid.uuid4().hex[:8]}", tmp_path, names, broken={"p3"})
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    audit = tmp_path / "fleet-audit"
    env = prefect_server.env(HOME=str(tmp_path), PREFECT_WORKER_QUERY_SECONDS="1", STAGESWEEP_PREFECT_SERVER_AUTOSTART="false")
    prefect = str(BIN / "prefect")
    prefect_server.run(prefect, "work-pool", "create", POOL, "--type", "process", env=env)
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = [
        prefect_server.spawn(prefect, "worker", "start", "--pool", POOL, "--name", f"w{i}", "--limit", "1", env=env, log=log)
        for i, log in enumerate(logs)
    ]
    try:
        command = [str(BIN / "stagesweep"), "fleet", "cleanup", str(path), "--work-pool", POOL, "--audit-dir", str(audit)]
        result = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, check=False)
    finally:
        for worker in workers:
            stop_process(worker)
    output = result.stdout + result.stderr
    worker_logs = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
    assert result.returncode == 3, output + worker_logs
    assert "1 of 5 projects failed: p3" in output
    # every worker of the pool took projects (each runs one at a time, so neither can take them all)
    for log in logs:
        assert "submitted to infrastructure" in log.read_text(errors="replace"), worker_logs
    for name in names:
        world, facts = worlds[name]
        if name == "p3":
            assert facts["f1"] in world.image_tags()
        else:
            assert facts["f1"] not in world.image_tags() and facts["c2"] in world.image_tags()
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with api_client(prefect_server) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)), sort=FlowRunSort.START_TIME_ASC
        )
        by_name = {run.name: run for run in children}
        assert set(by_name) == set(names)
        assert {n for n, r in by_name.items() if not r.state.is_completed()} == {"p3"}
        parents = {r.parent_task_run_id for r in children}
        assert None not in parents  # each a child of the fleet run
        deployment = client.read_deployment_by_name("cleanup/fleet-project")
        assert deployment.work_pool_name == POOL
        assert {r.deployment_id for r in children} == {deployment.id}
