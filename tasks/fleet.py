"""Fleet tasks: read the fleet file, run each project's cleanup as its own child flow run — a
subflow of this process, or a run of the per-project cleanup deployment on a work pool — and
summarise the children."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_UI_URL
from prefect.utilities.importtools import import_object

from schemas.errors import ConfigError
from schemas.fleet import Fleet, ProjectOutcome, fleet_markdown, parse_fleet
from schemas.settings import CleanupSettings, RegistryLimit
from schemas.summary import RunSummary

#: the flow every project runs, and the deployment of it the fleet starts on a work pool
PROJECT_FLOW = "flows.cleanup:cleanup"
PROJECT_DEPLOYMENT_NAME = "fleet-project"
PROJECT_DEPLOYMENT = f"cleanup/{PROJECT_DEPLOYMENT_NAME}"
POLL_SECONDS = 2.0


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


def project_limit(name: str) -> str:
    return f"project:{name}"


@task(name="apply_fleet_limits", cache_policy=NO_CACHE)
def apply_fleet_limits(fleet: Fleet, projects: list[str]) -> dict[str, RegistryLimit]:
    """Create or update the Prefect global concurrency limits of the fleet file — per registry
    host on concurrent requests (`registry:HOST`), a rate limit where set (`registry-rate:HOST`)
    and one per project (`project:NAME`, limit 1) — so every worker shares them. The hosts and
    rates each project's registry requests hold slots of."""
    limits: dict[str, tuple[int, float | None]] = {}
    for host, registry in fleet.registries.items():
        limits[f"registry:{host}"] = (registry.max_concurrent_requests, None)
        if registry.requests_per_second:
            rate = registry.requests_per_second
            limits[f"registry-rate:{host}"] = (max(1, math.ceil(rate)), rate)
    for name in projects:
        limits[project_limit(name)] = (1, None)
    with get_client(sync_client=True) as client:
        existing = _all_limits(client)
        in_parallel(lambda item: _upsert_limit(client, item[0], *item[1], existing.get(item[0])), list(limits.items()))
    get_run_logger().info("global concurrency limits: %s", ", ".join(f"{k}={v[0]}" for k, v in sorted(limits.items())))
    return dict(fleet.registries)


def in_parallel(call: Any, items: list[Any]) -> list[Any]:
    """`call(item)` for every item, `CREATE_THREADS` at once (Prefect API calls, one client
    shared); the results in order. The first error goes on once the calls under way are done;
    no other begins."""
    from concurrent.futures import ThreadPoolExecutor

    if len(items) <= 1:
        return [call(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(CREATE_THREADS, len(items)), thread_name_prefix="stagesweep-api")
    try:
        return [future.result() for future in [pool.submit(call, item) for item in items]]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


#: global concurrency limits read in one request (the API's largest page)
LIMITS_PAGE = 200


def _all_limits(client: Any) -> dict[str, Any]:
    """Every global concurrency limit of the server by name, a page of `LIMITS_PAGE` a request
    (a fleet of 500 projects reads its limits in 3 requests, not 500)."""
    found: dict[str, Any] = {}
    offset = 0
    while True:
        page = client.read_global_concurrency_limits(limit=LIMITS_PAGE, offset=offset)
        found.update({limit.name: limit for limit in page})
        if len(page) < LIMITS_PAGE:
            return found
        offset += len(page)


def _upsert_limit(client: Any, name: str, limit: int, decay: float | None, current: Any) -> None:
    """Create the limit `name`, or update `current` (the server's, None when there is none) to match."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists

    if current is None:
        try:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=limit, slot_decay_per_second=decay or 0.0, active=True)
            )
            return
        except ObjectAlreadyExists:  # another run created it since the read
            current = client.read_global_concurrency_limit_by_name(name)
    if current.limit != limit or (current.slot_decay_per_second or 0.0) != (decay or 0.0) or not current.active:
        client.update_global_concurrency_limit(
            name, GlobalConcurrencyLimitUpdate(limit=limit, slot_decay_per_second=decay or 0.0, active=True)
        )


def _run_holder() -> dict:
    """This run, as a slot's holder (what a run waiting for the slot is told)."""
    import os
    import socket
    from datetime import datetime, timezone

    from prefect.runtime import flow_run

    return {
        "run_id": flow_run.id or "",
        "command": flow_run.flow_name or "fleet_cleanup",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _holding_project(name: str):
    """The project's slot (`project:NAME`), held on a lease this process renews: should this run
    die, the slot frees within about a minute. A run that finds it taken says who holds it."""
    from coordination.slots import holding

    return holding(project_limit(name), what=f"the project {name}", holder=_run_holder(), logger=_logger())


def _holding_all_projects(names: list[str]):
    """Every project's slot, taken in one request on one renewed lease, and what records their
    holder; None when another run holds one of them."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from coordination.slots import try_acquire_all, write_holder

    holder = _run_holder()
    logger = _logger()
    slot = try_acquire_all([project_limit(n) for n in names], holder=holder, logger=logger)
    if slot is None:
        return None

    def write(name: str) -> None:
        if not slot.released:  # a run that stops gives the server's time to cancelling its children
            write_holder(project_limit(name), {**holder, "limit": project_limit(name)}, logger)

    def record() -> None:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stagesweep-holder") as pool:
            pool.map(write, names)

    # who holds them, for a run that waits for one: recorded once the children exist (the
    # server's time goes to creating them first)
    return slot, lambda: threading.Thread(target=record, daemon=True).start()


@task(name="check_secret_blocks", cache_policy=NO_CACHE)
def check_secret_blocks(runs: dict[str, CleanupSettings]) -> dict[str, str]:
    """Project → why it cannot run, for each project that names a Prefect Secret block the server
    does not have (asked once for all projects, without the blocks' values): such a project fails
    alone, before anything of it runs. The values themselves are read by each project's own run."""
    from coordination.credentials import missing_block_message, missing_secret_blocks, secret_blocks_named

    named = {name: secret_blocks_named(settings) for name, settings in runs.items()}
    missing = missing_secret_blocks({block for blocks in named.values() for block in blocks})
    problems = {}
    for name, blocks in named.items():
        absent = [block for block in blocks if block in missing]
        if absent:
            problems[name] = " ".join(missing_block_message(block, blocks[block]) for block in absent)
            _logger().warning("project %s not started: %s", name, problems[name])
    return problems


def not_started(name: str, error: str) -> ProjectOutcome:
    """A project the fleet run did not start (its settings name what is not there)."""
    return ProjectOutcome(name, "failed", error=error)


def run_project_here(name: str, settings: CleanupSettings) -> ProjectOutcome:
    """The project's cleanup as a subflow of the running flow (holding the project's limit);
    its failure stays its own."""
    flow = import_object(PROJECT_FLOW).with_options(flow_run_name=name)
    started = time.monotonic()
    with _holding_project(name):
        state = flow(settings=settings, return_state=True)
    duration = time.monotonic() - started
    run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
    if run_id:  # the Docker config the project's run made from its Secret blocks goes with it
        from coordination.credentials import release

        release(run_id)
    value = state.result(raise_on_failure=False)
    if state.is_completed() and isinstance(value, RunSummary):
        return ProjectOutcome(
            name,
            "completed",
            **_counts(value.counts, settings.dry_run),
            duration_s=duration,
            flow_run_id=run_id,
            reclaimable_bytes=value.reclaimable_bytes,
        )
    summary = getattr(value, "summary", None)
    counts = _counts(summary.counts, settings.dry_run) if isinstance(summary, RunSummary) else {}
    error = getattr(value, "message", None) or str(value) or state.message
    return ProjectOutcome(name, "failed", **counts, duration_s=duration, flow_run_id=run_id, error=error)


@task(name="register_project_deployment", cache_policy=NO_CACHE)
def register_project_deployment(work_pool: str) -> str:
    """Create or update the per-project cleanup deployment on ``work_pool`` (the flow by module
    path: every worker with stagesweep installed can run it); its full name. Its job variables
    carry stagesweep's heartbeat period, so its runs heartbeat at it on any worker."""
    import hashlib
    import json

    from prefect.client.schemas.objects import VersionInfo
    from prefect.deployments.runner import EntrypointType
    from prefect.exceptions import ObjectNotFound
    from prefect.utilities.callables import parameter_schema

    from coordination.heartbeats import heartbeat_job_variables

    flow = import_object(PROJECT_FLOW)
    job_variables = heartbeat_job_variables()
    deployment = flow.to_deployment(
        name=PROJECT_DEPLOYMENT_NAME,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
        description="One project of a fleet cleanup (started by fleet_cleanup). Parameters: `settings` (CleanupSettings).",
        tags=["stagesweep", "fleet"],
        job_variables=job_variables,
    )
    # the parameters are stagesweep's own settings, validated by the flow as it starts: the server
    # need not check each run against the schema (a third of its time creating a child)
    deployment.enforce_parameter_schema = False
    # the version is stagesweep's and its parameters' (Prefect would otherwise infer one from the
    # git repository the command happens to run in); a deployment of that version on that pool
    # is left as it is: one read instead of Prefect's whole apply
    schema = json.dumps(parameter_schema(flow).model_dump(mode="json"), sort_keys=True)
    version = f"{_stagesweep_version()}+{hashlib.sha256(schema.encode()).hexdigest()[:12]}"
    with get_client(sync_client=True) as client:
        try:
            current = client.read_deployment_by_name(PROJECT_DEPLOYMENT)
        except ObjectNotFound:
            current = None
    wanted = (version, work_pool, deployment.entrypoint, False, job_variables)
    if current is not None and wanted == (
        current.version,
        current.work_pool_name,
        current.entrypoint,
        current.enforce_parameter_schema,
        current.job_variables,
    ):
        return PROJECT_DEPLOYMENT
    deployment.version = version
    deployment.apply(work_pool_name=work_pool, version_info=VersionInfo(type="stagesweep", version=version))
    return PROJECT_DEPLOYMENT


def _stagesweep_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stagesweep")
    except PackageNotFoundError:
        return "unknown"


def _current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.id or None


def _logger() -> Any:
    import logging

    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("stagesweep.fleet")


#: flow runs read in one request (the API's largest page)
RUNS_PAGE = 200


def all_flow_runs(client: Any, flow_run_filter: Any) -> list[Any]:
    """Every flow run `flow_run_filter` matches, page after page (a fleet has more children than
    one page holds)."""
    from prefect.client.schemas.sorting import FlowRunSort

    found: list[Any] = []
    while True:
        page = client.read_flow_runs(
            flow_run_filter=flow_run_filter, sort=FlowRunSort.ID_DESC, limit=RUNS_PAGE, offset=len(found)
        )
        found += page
        if len(page) < RUNS_PAGE:
            return found


#: how many children are created at once (one Prefect API call each)
CREATE_THREADS = 8


def _value_counts(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def _plan_variable(fleet_file: str) -> str:
    import hashlib

    return "stagesweep_fleet_" + hashlib.sha256(str(Path(fleet_file).expanduser().resolve()).encode()).hexdigest()[:16]


#: the table artifact of a fleet run that lists the projects it will start
PLAN_ARTIFACT = "fleet-plan"


@task(name="record_fleet_plan", cache_policy=NO_CACHE)
def record_fleet_plan(fleet_file: str, projects: list[str]) -> dict | None:
    """Record which projects this run will start — a table artifact of this run, and a Prefect
    variable per fleet file naming this run (a variable holds 5,000 characters, not a large
    fleet's names) — and return the previous run's record, so that the projects it never started
    can be named."""
    import json

    from prefect.artifacts import create_table_artifact
    from prefect.variables import Variable

    name = _plan_variable(fleet_file)
    logger = get_run_logger()
    try:
        previous = json.loads(Variable.get(name, default="null"))
        if isinstance(previous, dict) and previous.get("run_id") and "projects" not in previous:
            previous["projects"] = _planned_projects(previous["run_id"])
    except Exception as exc:
        logger.warning("could not read the previous fleet run's plan: %s", exc)
        previous = None
    try:
        rows = [{"project": p} for p in projects] or [{"project": ""}]
        create_table_artifact(rows, key=PLAN_ARTIFACT, description="The projects this fleet run will start")
        Variable.set(name, json.dumps({"run_id": _current_flow_run_id()}), overwrite=True)
    except Exception as exc:
        logger.warning("could not record this fleet run's plan: %s", exc)
    return previous if isinstance(previous, dict) else None


def _planned_projects(run_id: str) -> list[str]:
    """The projects fleet run `run_id` recorded it would start (its plan artifact)."""
    import json

    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[PLAN_ARTIFACT]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
            ),
            limit=1,
        )
    if not found:
        return []
    rows = json.loads(found[0].data) if isinstance(found[0].data, str) else found[0].data
    return [row["project"] for row in rows or [] if row.get("project")]


@task(name="projects_not_run_last_time", cache_policy=NO_CACHE)
def projects_not_run_last_time(previous: dict | None) -> dict[str, str]:
    """Project → a note, for each project the previous fleet run planned but never started a run
    of (it died or was stopped first)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    if not previous or not previous.get("run_id") or previous.get("run_id") == _current_flow_run_id():
        return {}
    run_id = previous["run_id"]
    try:
        with get_client(sync_client=True) as client:
            parent = client.read_flow_run(run_id)
            children = all_flow_runs(client, FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id])))
    except Exception as exc:
        get_run_logger().warning("could not read the previous fleet run %s: %s", run_id, exc)
        return {}
    started = {child.name for child in children}
    missing = [p for p in previous.get("projects", []) if p not in started]
    if not missing:
        return {}
    state = parent.state.name if parent.state else "unknown"
    note = f"not run last time: fleet run {run_id} ({state}) stopped before starting it"
    get_run_logger().warning("the previous fleet run %s (%s) never started %s", run_id, state, ", ".join(missing))
    return dict.fromkeys(missing, note)


@task(name="publish_fleet_summary", cache_policy=NO_CACHE)
def publish_fleet_summary(outcomes: list[ProjectOutcome], dry_run: bool, not_run_last_time: dict[str, str] | None = None) -> str:
    ui = PREFECT_UI_URL.value()
    markdown = fleet_markdown(outcomes, ui, dry_run, not_run_last_time)
    create_markdown_artifact(markdown, key="fleet-summary", description="Each project of the fleet run")
    return markdown
