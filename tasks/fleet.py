"""Fleet tasks: read the fleet file, run each project's cleanup as its own child flow run — a
subflow of this process, or a run of the per-project cleanup deployment on a work pool — and
summarise the children."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_UI_URL
from prefect.utilities.importtools import import_object

from schemas.errors import ConfigError, StagesweepError
from schemas.fleet import Fleet, ProjectOutcome, fleet_markdown, parse_fleet
from schemas.settings import CleanupSettings
from schemas.summary import RunSummary

#: the flow every project runs, and the deployment of it the fleet starts on a work pool
PROJECT_FLOW = "flows.cleanup:cleanup"
PROJECT_DEPLOYMENT_NAME = "fleet-project"
PROJECT_DEPLOYMENT = f"cleanup/{PROJECT_DEPLOYMENT_NAME}"
POLL_SECONDS = 1.0


@task(name="read_fleet_file", cache_policy=NO_CACHE)
def read_fleet_file(path: str) -> Fleet:
    """The fleet file, validated (each project's settings with the defaults merged in)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("fleet file not found", file=str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the fleet file: {exc}", file=str(file)) from None
    fleet = parse_fleet(text, file=str(file))
    get_run_logger().info("fleet %s: %d projects, %d registries with limits", file, len(fleet.projects), len(fleet.registries))
    return fleet


def _counts(counts: dict[str, int], dry_run: bool) -> dict[str, int]:
    deleted = counts.get("would-delete", 0) if dry_run else counts.get("deleted", 0) + counts.get("already-gone", 0)
    return {"kept": counts.get("kept", 0), "deleted": deleted, "failed": counts.get("failed", 0)}


def run_project_here(name: str, settings: CleanupSettings) -> ProjectOutcome:
    """The project's cleanup as a subflow of the running flow; its failure stays its own."""
    flow = import_object(PROJECT_FLOW).with_options(flow_run_name=name)
    started = time.monotonic()
    state = flow(settings=settings, return_state=True)
    duration = time.monotonic() - started
    run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
    value = state.result(raise_on_failure=False)
    if state.is_completed() and isinstance(value, RunSummary):
        return ProjectOutcome(name, "completed", **_counts(value.counts, settings.dry_run), duration_s=duration, flow_run_id=run_id)
    summary = getattr(value, "summary", None)
    counts = _counts(summary.counts, settings.dry_run) if isinstance(summary, RunSummary) else {}
    error = getattr(value, "message", None) or str(value) or state.message
    return ProjectOutcome(name, "failed", **counts, duration_s=duration, flow_run_id=run_id, error=error)


@task(name="register_project_deployment", cache_policy=NO_CACHE)
def register_project_deployment(work_pool: str) -> str:
    """Create or update the per-project cleanup deployment on ``work_pool`` (the flow by module
    path: every worker with stagesweep installed can run it); its full name."""
    from prefect.deployments.runner import EntrypointType

    flow = import_object(PROJECT_FLOW)
    deployment = flow.to_deployment(
        name=PROJECT_DEPLOYMENT_NAME,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
        description="One project of a fleet cleanup (started by fleet_cleanup). Parameters: `settings` (CleanupSettings).",
        tags=["stagesweep", "fleet"],
    )
    deployment.apply(work_pool_name=work_pool)
    return PROJECT_DEPLOYMENT


def start_project_run(deployment: str, name: str, settings: CleanupSettings) -> str:
    """A run of the per-project deployment, as a child of the running flow; its id (not awaited)."""
    run = run_deployment(
        deployment,
        parameters={"settings": settings.model_dump(mode="json")},
        flow_run_name=name,
        timeout=0,
        as_subflow=True,
        tags=["stagesweep", "fleet", f"project:{name}"],
    )
    return str(run.id)


@task(name="wait_for_project_runs", cache_policy=NO_CACHE)
def wait_for_project_runs(runs: dict[str, str], audit_dirs: dict[str, str], dry_run: bool) -> list[ProjectOutcome]:
    """Wait until every child run is final; outcome and counts of each (counts from its audit)."""
    from adapters.audit import read_audit

    pending = dict(runs)
    final: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        while pending:
            for name, run_id in list(pending.items()):
                flow_run = client.read_flow_run(run_id)
                if flow_run.state is not None and flow_run.state.is_final():
                    final[name] = flow_run
                    del pending[name]
            if pending:
                time.sleep(POLL_SECONDS)
    outcomes = []
    for name, run_id in runs.items():
        flow_run = final[name]
        state = flow_run.state
        counts: dict[str, int] = {}
        try:
            audit = read_audit(audit_dirs[name], run_id)
            if audit.num_rows:
                counts = _counts(dict(_value_counts(audit.column("outcome").to_pylist())), dry_run)
        except (StagesweepError, OSError):
            pass  # an audit this machine cannot see: counts unknown
        started, ended = flow_run.start_time, flow_run.end_time
        duration = (ended - started).total_seconds() if started and ended else (flow_run.total_run_time.total_seconds())
        outcome = "completed" if state.is_completed() else "failed"
        error = None if outcome == "completed" else (state.message or state.name)
        outcomes.append(ProjectOutcome(name, outcome, **counts, duration_s=duration, flow_run_id=run_id, error=error))
    return outcomes


def _value_counts(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


@task(name="publish_fleet_summary", cache_policy=NO_CACHE)
def publish_fleet_summary(outcomes: list[ProjectOutcome], dry_run: bool) -> str:
    ui = PREFECT_UI_URL.value()
    markdown = fleet_markdown(outcomes, ui, dry_run)
    create_markdown_artifact(markdown, key="fleet-summary", description="Each project of the fleet run")
    return markdown
