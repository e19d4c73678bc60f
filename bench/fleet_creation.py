"""How fast a fleet run on a work pool creates its project runs, and how fast Ctrl-C ends it.

One ``prefect server`` on PostgreSQL (a throwaway cluster, loopback), a process work pool with no
worker (so no child ever starts: only creation is measured, and every child is still cancellable).
For each ``--sizes`` N: a fleet file of N projects (never read: no worker runs them), then
``stagesweep fleet cleanup FILE --work-pool POOL --dry-run``; from the API, when the parent flow
run started (Running) and when each child was created. Once all N exist, SIGINT to the CLI: the
time until it exits and how many children ended Cancelled.

Reference, same run and server: the same N flow runs created from the same deployment by plain
``create_flow_run_from_deployment`` calls, one after another from one client (what creating the
children one by one, with nothing else, costs).

    .venv/bin/python bench/fleet_creation.py [--sizes 8 500]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from tasks.fleet import all_flow_runs  # noqa: E402
from tests.deploy.server import BIN, PrefectServer  # noqa: E402
from tests.fixtures.postgres import PostgresCluster  # noqa: E402

POOL = "bench-creation"


def fleet_file(work: Path, n: int, tag: str) -> Path:
    projects = [
        {
            "name": f"p{i:04d}",
            "git": (work / "nowhere.git").as_uri(),
            "images_repo": f"127.0.0.1:9/bench-{tag}/p{i:04d}",
            "stages_storage": f"127.0.0.1:9/bench-{tag}/p{i:04d}-stages",
        }
        for i in range(n)
    ]
    path = work / f"fleet-{tag}.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"insecure_registry": True, "without_kube": True}, "projects": projects}))
    return path


def measure_fleet(client, env: dict, work: Path, n: int) -> dict:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterParentFlowRunId

    tag = uuid.uuid4().hex[:6]
    path = fleet_file(work, n, tag)
    command = [str(BIN / "stagesweep"), "fleet", "cleanup", str(path), "--work-pool", POOL, "--dry-run"]
    command += ["--audit-dir", str(work / "audit")]
    known = {r.id for r in client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["fleet_cleanup"])))}
    began = time.monotonic()
    log = (work / f"fleet-{tag}.log").open("w")
    cli = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    parent = None
    children: list = []
    deadline = began + 600
    while time.monotonic() < deadline and cli.poll() is None:
        if parent is None:
            runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["fleet_cleanup"])))
            parent = next((r for r in runs if r.id not in known), None)
        if parent is not None:
            children = all_flow_runs(client, FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])))
            if len(children) >= n:
                break
        time.sleep(0.5)
    all_at = time.monotonic() - began
    if len(children) < n:
        cli.kill()
        raise RuntimeError(f"only {len(children)} of {n} children after {all_at:.0f} s: see {log.name}")
    parent = client.read_flow_run(parent.id)
    time.sleep(1)  # the fleet run is waiting on its children now
    interrupted = time.monotonic()
    cli.send_signal(signal.SIGINT)
    cli.wait(timeout=300)
    ended_after = time.monotonic() - interrupted
    children = all_flow_runs(client, FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])))
    created = sorted(c.created for c in children)
    start = parent.start_time or parent.created
    steps = []
    for task_run in sorted(
        client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [parent.id]})), key=lambda t: t.created
    ):
        if task_run.start_time and task_run.end_time and task_run.start_time < created[-1]:
            steps.append(
                f"{task_run.name} {(task_run.start_time - start).total_seconds():.1f}+{(task_run.end_time - task_run.start_time).total_seconds():.1f}"
            )
    return {
        "n": n,
        "spread": (created[-1] - created[0]).total_seconds(),
        "after_parent_start": (created[-1] - start).total_seconds(),
        "cancelled": sum(1 for c in children if c.state and c.state.is_cancelled()),
        "ctrl_c": ended_after,
        "exit": cli.returncode,
        "steps": ", ".join(steps),
        "parameters": children[0].parameters,
    }


def measure_reference(client, n: int, parameters: dict) -> float:
    """N flow runs of the same deployment, created one after another."""
    from prefect.states import Cancelled

    deployment = client.read_deployment_by_name("cleanup/fleet-project")
    began = time.monotonic()
    ids = [client.create_flow_run_from_deployment(deployment.id, parameters=parameters, name=f"ref-{i}").id for i in range(n)]
    spent = time.monotonic() - began
    for flow_run_id in ids:
        client.set_flow_run_state(flow_run_id, Cancelled(), force=True)
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 500])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stagesweep-bench-creation-"))
    os.chmod(work, 0o755)
    cluster = PostgresCluster(work / "pg")
    server = None
    try:
        cluster.start()
        server = PrefectServer(home=work / "prefect", database_url=cluster.new_database())
        server.home.mkdir()
        server.start()
        env = server.env(HOME=str(work / "home"), STAGESWEEP_PREFECT_SERVER_AUTOSTART="false")
        server.run(str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process", env=env)
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        rows = []
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}), get_client(sync_client=True) as client:
            for n in args.sizes:
                fleet = measure_fleet(client, env, work, n)
                reference = measure_reference(client, n, fleet.pop("parameters"))
                rows.append((fleet, reference))
                print(f"{n}: {fleet} reference {reference:.1f} s", flush=True)
        load = os.getloadavg()[0]
        print(f"\nPrefect server on PostgreSQL, process pool with no worker, load {load:.1f}\n")
        print(
            "| projects | children created within (s of the parent's start) | spread first→last (s) | "
            "reference: the same runs created one by one (s) | ratio | Ctrl-C → exit (s) | children cancelled |"
        )
        print("|---|---|---|---|---|---|---|")
        for fleet, reference in rows:
            print(
                f"| {fleet['n']} | {fleet['after_parent_start']:.1f} | {fleet['spread']:.1f} | {reference:.1f} | "
                f"{fleet['spread'] / reference:.2f}× | {fleet['ctrl_c']:.1f} (exit {fleet['exit']}) | "
                f"{fleet['cancelled']} of {fleet['n']} |"
            )
        return 0
    finally:
        if server is not None:
            server.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
