"""Helpers of the deployment tests: a sync API client bound to the test server, waiting for a
flow run, and a werf world for the deployments to clean."""

from __future__ import annotations

import contextlib
import time
import uuid

from tests.deploy.server import PrefectServer
from tests.e2e.world import World, basic_world, registry_world
from tests.fixtures.gitrepo import GitProject

FINAL_TIMEOUT = 240.0


@contextlib.contextmanager
def api_client(server: PrefectServer):
    """A sync Prefect client talking to `server`, whatever API the rest of the session uses."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        with get_client(sync_client=True) as client:
            yield client


def create_process_pool(server: PrefectServer, name: str) -> None:
    """A process work pool `name` on `server`, as `prefect work-pool create NAME --type process`
    makes it (Prefect's default job template for the process worker), made in this process: the
    CLI starts a Python process that imports Prefect. tests/deploy/test_prefect_server.py makes its
    pool with the CLI, as an operator does."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with api_client(server) as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))


def wait_for_final_state(client, flow_run_id, *, timeout: float = FINAL_TIMEOUT, logs=None):
    """Poll the API until the flow run is final; the run. On timeout, say where it got stuck."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(flow_run_id)
        if run.state is not None and run.state.is_final():
            return run
        if time.monotonic() > deadline:
            tail = logs() if logs else ""
            raise AssertionError(f"flow run {flow_run_id} still {run.state_name} after {timeout:.0f} s\n{tail}")
        time.sleep(1)


def flow_run_logs(client, flow_run_id) -> str:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(f"{log.level} {log.message}" for log in logs)


def branch_deleted_world(registry, root) -> tuple[World, dict]:
    """A git project whose `feature` branch was deleted from origin, and a registry stages
    storage + images repo with images for main's commits and for the feature branch."""
    world = registry_world(GitProject(root / "git"), registry, f"tests/deploy-{uuid.uuid4().hex[:10]}", root)
    return world, basic_world(world)


def yaml_environment(world: World) -> dict[str, str]:
    """The variables deployments/prefect.yaml reads, pointing at `world`."""
    return {
        "STAGESWEEP_IMAGES_REPO": world.images_address,
        "STAGESWEEP_STAGES_STORAGE": world.stages_address,
        "STAGESWEEP_DIR": str(world.git.work),
        "STAGESWEEP_AUDIT_DIR": str(world.audit_dir),
        "STAGESWEEP_FLEET_FILE": str(world.audit_dir.parent / "fleet.yaml"),
    }


def run_overrides(parameters: dict) -> dict:
    """Run parameters for a plain-HTTP test registry and no Kubernetes: Prefect replaces a
    top-level parameter as a whole, so the override is the full `settings` object."""
    return {"settings": {**parameters["settings"], "insecure_registry": True, "without_kube": True}}
