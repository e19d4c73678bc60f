"""Fleet tasks: read the fleet file, run each project's cleanup as its own child flow run — a
subflow of this process, or a run of the per-project cleanup deployment on a work pool — and
summarise the children."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_UI_URL
from prefect.utilities.annotations import opaque
from prefect.utilities.importtools import import_object

from schemas.errors import ConfigError, StagesweepError
from schemas.fleet import Fleet, ProjectOutcome, fleet_markdown, parse_fleet
from schemas.settings import CleanupSettings, RegistryLimit
from schemas.summary import RunSummary
from tasks.adapters_from_settings import API_BUSY_STATUSES

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
        for name, (limit, decay) in limits.items():
            _upsert_limit(client, name, limit, decay, existing.get(name))
    get_run_logger().info("global concurrency limits: %s", ", ".join(f"{k}={v[0]}" for k, v in sorted(limits.items())))
    return dict(fleet.registries)


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
    from tasks.slots import holding

    return holding(project_limit(name), what=f"the project {name}", holder=_run_holder(), logger=_logger())


def _holding_all_projects(names: list[str]):
    """Every project's slot, taken in one request on one renewed lease (their holder recorded);
    None when another run holds one of them."""
    from concurrent.futures import ThreadPoolExecutor

    from tasks.slots import try_acquire_all, write_holder

    holder = _run_holder()
    logger = _logger()
    slot = try_acquire_all([project_limit(n) for n in names], holder=holder, logger=logger)
    if slot is not None:
        with ThreadPoolExecutor(max_workers=CREATE_THREADS, thread_name_prefix="stagesweep-holder") as pool:
            for name in names:
                pool.submit(write_holder, project_limit(name), {**holder, "limit": project_limit(name)}, logger)
    return slot


def run_project_here(name: str, settings: CleanupSettings) -> ProjectOutcome:
    """The project's cleanup as a subflow of the running flow (holding the project's limit);
    its failure stays its own."""
    flow = import_object(PROJECT_FLOW).with_options(flow_run_name=name)
    started = time.monotonic()
    with _holding_project(name):
        state = flow(settings=settings, return_state=True)
    duration = time.monotonic() - started
    run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
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
    # runs whose process dies are ended (Crashed), failures notified
    from tasks.automations import ensure_automations

    ensure_automations(get_run_logger())
    return PROJECT_DEPLOYMENT


#: how many times a project run the pool could not start (crashed before it ran) is started
SUBMIT_ATTEMPTS = 3


def run_projects_on_pool(deployment: str, runs: dict[str, CleanupSettings], dry_run: bool) -> list[ProjectOutcome]:
    """Every project as a run of the per-project deployment (children of the running flow), each
    started once its project's limit is held here; then wait for them all. A run that crashed
    before it started (a worker could not submit it: nothing of the project ran) is started
    again, up to `SUBMIT_ATTEMPTS` times in all. A run that crashed while running (its process
    died; Prefect's zombie automation marked it `Crashed`) counts as failed and is started once
    more when its storages are free again — a rerun is safe, every delete re-checks. When this run
    stops before its children are final (interrupted, cancelled, an error), the children no worker
    has started yet are cancelled; those already running finish their cleanup and write their audit."""
    try:
        with contextlib.ExitStack() as held:
            # every project's slot in one request, then every child created at once; when another
            # run holds a project, one project after another, each waiting for its slot
            together = _holding_all_projects(list(runs))
            started = {}
            if together is not None:
                held.callback(together.release)
                started = start_project_runs(deployment, runs)
            else:
                for name, settings in runs.items():
                    held.enter_context(_holding_project(name))
                    started[name] = start_project_run(deployment, name, settings)
            final = wait_for_project_runs(started)
            attempts = dict.fromkeys(runs, 1)
            crashed: dict[str, Any] = {}  # project -> its run that crashed while running
            while True:
                unstarted = [n for n, r in final.items() if _never_started(r) and attempts[n] < SUBMIT_ATTEMPTS]
                died = [n for n, r in final.items() if _crashed_while_running(r) and n not in crashed]
                if not unstarted and not died:
                    break
                again = {}
                if unstarted:
                    get_run_logger().warning("the pool could not start %s: starting again", ", ".join(unstarted))
                if died:
                    crashed.update({n: final[n] for n in died})
                    get_run_logger().warning(
                        "the run of %s crashed (its process stopped sending heartbeats): it counts as failed; "
                        "starting it once more when its storages are free",
                        ", ".join(died),
                    )
                    wait_for_free_storages({n: runs[n] for n in died})
                for name in [*unstarted, *died]:
                    attempts[name] += 1
                    again[name] = start_project_run(deployment, name, runs[name], attempts[name])
                final.update(wait_for_project_runs(again))
    except BaseException as exc:
        cancelled = cancel_unstarted_children(_current_flow_run_id())
        if cancelled:
            exc.add_note(f"cancelled the project runs no worker had started: {', '.join(sorted(cancelled))}")
        raise
    in_order = {name: final[name] for name in runs}
    crashed_ids = {name: str(r.id) for name, r in crashed.items()}
    # a flow run carries a state: passed opaque, so Prefect does not take it for an upstream result
    return summarise_project_runs(opaque(in_order), {name: s.audit_dir for name, s in runs.items()}, dry_run, crashed=crashed_ids)


def _crashed_while_running(flow_run: Any) -> bool:
    """Crashed after it had started running (its process died mid-run)."""
    return flow_run.state is not None and flow_run.state.is_crashed() and bool(flow_run.run_count)


def _storage_limits(settings: CleanupSettings) -> dict[str, str]:
    """The Prefect limits a project's deleting run holds (tasks/exclusive.py) → what they are."""
    from adapters.run_lock import lock_name, storage_key

    limits = {}
    for what, address in (("stages storage", settings.stages_storage), ("images repo", settings.images_repo)):
        if address:
            limits[lock_name(storage_key(address, settings.docker_host))] = f"the {what} {address}"
    return limits


#: how long the fleet run waits for a crashed project's storages before starting it anyway (its
#: run then waits, or stops naming the holder: nothing is deleted twice)
STORAGE_PATIENCE_SECONDS = 600.0


@task(name="wait_for_free_storages", cache_policy=NO_CACHE)
def wait_for_free_storages(runs: dict[str, CleanupSettings]) -> None:
    """Wait until no run holds the storages of these projects (a dead run's lease frees them
    within about a minute), saying every minute what it waits for and who holds it."""
    from tasks.slots import describe_holder, read_holder

    logger = get_run_logger()
    wanted = {limit: (name, what) for name, s in runs.items() for limit, what in _storage_limits(s).items()}
    since = time.strftime("%H:%M:%S")
    started = time.monotonic()
    next_log = started
    with get_client(sync_client=True) as client:
        while wanted:
            for limit in list(wanted):
                try:
                    current = client.read_global_concurrency_limit_by_name(limit)
                except Exception as exc:
                    if getattr(getattr(exc, "response", None), "status_code", None) in API_BUSY_STATUSES:
                        continue
                    wanted.pop(limit)
                    continue
                if current.active_slots < current.limit:
                    wanted.pop(limit)
            if not wanted:
                return
            now = time.monotonic()
            if now - started > STORAGE_PATIENCE_SECONDS:
                logger.warning("still held after %g s; starting the runs anyway", STORAGE_PATIENCE_SECONDS)
                return
            if now >= next_log:
                for limit, (name, what) in wanted.items():
                    logger.warning(
                        "waiting since %s for %s of %s to be free: held by %s",
                        since,
                        what,
                        name,
                        describe_holder(read_holder(limit)),
                    )
                next_log = now + WAIT_LOG_SECONDS
            time.sleep(POLL_SECONDS)


def _current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.id or None


def cancel_unstarted_children(parent: str | None) -> list[str]:
    """Cancel the child runs of `parent` that no worker has started (scheduled, late or pending) —
    found by their parent, so a run whose creation the server finished but whose answer never came
    back is among them; the names of those cancelled. Best effort: the API may be what failed."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    if not parent:
        return []
    logger = _logger()
    children = FlowRunFilter(
        parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])),
    )
    cancelled = []
    try:
        with get_client(sync_client=True) as client:
            for flow_run in client.read_flow_runs(flow_run_filter=children):
                result = client.set_flow_run_state(
                    flow_run.id, Cancelled(message="the fleet run stopped before this project's run started")
                )
                if result.state is not None and result.state.is_cancelled():
                    cancelled.append(flow_run.name)
    except Exception as exc:  # the API may be what stopped the fleet run
        logger.warning("could not cancel the project runs that had not started: %s", exc)
        return cancelled
    if cancelled:
        logger.warning("cancelled the project runs no worker had started: %s", ", ".join(sorted(cancelled)))
    return cancelled


def _logger() -> Any:
    import logging

    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("stagesweep.fleet")


def _never_started(flow_run: Any) -> bool:
    """Crashed without ever running (a run's count goes up only when it starts running)."""
    return flow_run.state is not None and flow_run.state.is_crashed() and not flow_run.run_count


#: how long starting a project run rides out a busy API (503, a dropped connection)
START_PATIENCE_SECONDS = 300.0


def start_project_run(deployment: str, name: str, settings: CleanupSettings, attempt: int = 1) -> str:
    """A run of the per-project deployment, as a child of the running flow; its id (not awaited).
    A busy API is asked again; the idempotency key (fleet run, project, attempt) makes sure an
    ask that did reach the server does not start the project twice."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.runtime import flow_run

    deadline = time.monotonic() + START_PATIENCE_SECONDS
    delay = 1.0
    while True:
        try:
            run = run_deployment(
                deployment,
                parameters={"settings": settings.model_dump(mode="json")},
                flow_run_name=name,
                timeout=0,
                as_subflow=True,
                tags=["stagesweep", "fleet", f"project:{name}"],
                idempotency_key=f"{flow_run.id}:{name}:{attempt}",
            )
            return str(run.id)
        except (PrefectHTTPStatusError, httpx.TransportError) as exc:
            busy = not isinstance(exc, PrefectHTTPStatusError) or exc.response.status_code in API_BUSY_STATUSES
            if not busy or time.monotonic() > deadline:
                raise
            get_run_logger().warning("could not start %s's run yet (%s); asking again", name, exc)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


#: how many children are created at once (each a few Prefect API calls)
CREATE_THREADS = 8


def start_project_runs(deployment: str, runs: dict[str, CleanupSettings]) -> dict[str, str]:
    """`start_project_run` for every project at once (`CREATE_THREADS` at a time); project → run
    id. When one cannot be created, or this run is interrupted, the creations under way finish
    and the others are not begun before the error goes on, so that the children no worker has
    started can all be found and cancelled."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=max(1, min(CREATE_THREADS, len(runs))), thread_name_prefix="stagesweep-start")
    try:
        # each creation in a copy of this run's context: it is made this flow run's child
        futures = {
            name: pool.submit(contextvars.copy_context().run, start_project_run, deployment, name, settings)
            for name, settings in runs.items()
        }
        return {name: future.result() for name, future in futures.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@task(name="wait_for_project_runs", cache_policy=NO_CACHE)
def wait_for_project_runs(runs: dict[str, str]) -> dict[str, Any]:
    """Project → its child flow run, once every one is final."""
    return _await_final(runs)


@task(name="summarise_project_runs", cache_policy=NO_CACHE)
def summarise_project_runs(
    final: dict[str, Any], audit_dirs: dict[str, str], dry_run: bool, crashed: dict[str, str] | None = None
) -> list[ProjectOutcome]:
    """Outcome and counts of each project's final run (counts from its audit). A project whose
    run crashed while running (`crashed`: project → that run) is `crashed` whatever its rerun did:
    the operator learns of it, and of how the rerun ended."""
    crashed = crashed or {}
    from adapters.audit import read_audit

    outcomes = []
    for name, flow_run in final.items():
        run_id = str(flow_run.id)
        state = flow_run.state
        counts: dict[str, int] = {}
        freed: int | None = None
        try:
            audit = read_audit(audit_dirs[name], run_id)
            if audit.num_rows:
                counts = _counts(dict(_value_counts(audit.column("outcome").to_pylist())), dry_run)
                sizes = [b for b in audit.column("reclaimable_bytes").to_pylist() if b is not None]
                freed = sum(sizes) if sizes else None
        except (StagesweepError, OSError):
            pass  # an audit this machine cannot see: counts unknown
        started, ended = flow_run.start_time, flow_run.end_time
        duration = (ended - started).total_seconds() if started and ended else (flow_run.total_run_time.total_seconds())
        outcome = "completed" if state.is_completed() else "failed"
        error = None if outcome == "completed" else (state.message or state.name)
        if name in crashed:
            rerun = "completed" if outcome == "completed" else f"{state.name}: {error}"
            outcome = "crashed"
            error = f"its run {crashed[name]} crashed (the process died); the rerun {run_id}: {rerun}"
        outcomes.append(
            ProjectOutcome(name, outcome, **counts, duration_s=duration, flow_run_id=run_id, error=error, reclaimable_bytes=freed)
        )
    return outcomes


def _await_final(runs: dict[str, str]) -> dict[str, Any]:
    """Project → its flow run once final: one query for every pending run per poll; a busy API
    (503, a dropped connection) is asked again at the next poll."""
    import httpx
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.exceptions import PrefectHTTPStatusError

    pending = {run_id: name for name, run_id in runs.items()}
    final: dict[str, Any] = {}
    states: dict[str, Any] = {}
    next_log = time.monotonic() + WAIT_LOG_SECONDS
    with get_client(sync_client=True) as client:
        while pending:
            try:
                found = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(pending))))
            except (PrefectHTTPStatusError, httpx.TransportError) as exc:
                if isinstance(exc, PrefectHTTPStatusError) and exc.response.status_code not in API_BUSY_STATUSES:
                    raise
                get_run_logger().warning("could not read the project runs' states (%s); asking again", exc)
                found = []
            for flow_run in found:
                if flow_run.state is not None and flow_run.state.is_final():
                    final[pending.pop(str(flow_run.id))] = flow_run
                    states.pop(str(flow_run.id), None)
                else:
                    states[str(flow_run.id)] = flow_run.state
            if pending and time.monotonic() >= next_log:
                get_run_logger().info("waiting on %d projects: %s", len(pending), _describe_pending(pending, states))
                next_log = time.monotonic() + WAIT_LOG_SECONDS
            if pending:
                time.sleep(POLL_SECONDS)
    return final


#: how often a fleet run waiting on its projects says which and since when
WAIT_LOG_SECONDS = 60.0


def _describe_pending(pending: dict[str, str], states: dict[str, Any]) -> str:
    """'acme (Running since 03:01:07), beta (Late since 03:00:02)' — each project waited on."""
    parts = []
    for run_id, name in sorted(pending.items(), key=lambda item: item[1]):
        state = states.get(run_id)
        if state is None:
            parts.append(f"{name} (state unknown)")
            continue
        since = state.timestamp.astimezone().strftime("%H:%M:%S") if state.timestamp else "?"
        parts.append(f"{name} ({state.name} since {since})")
    return ", ".join(parts)


def _value_counts(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def _plan_variable(fleet_file: str) -> str:
    import hashlib

    return "stagesweep_fleet_" + hashlib.sha256(str(Path(fleet_file).expanduser().resolve()).encode()).hexdigest()[:16]


@task(name="record_fleet_plan", cache_policy=NO_CACHE)
def record_fleet_plan(fleet_file: str, projects: list[str]) -> dict | None:
    """Record which projects this run will start (a Prefect variable per fleet file); the
    previous run's record, so that the projects it never started can be named."""
    import json

    from prefect.variables import Variable

    name = _plan_variable(fleet_file)
    logger = get_run_logger()
    try:
        previous = json.loads(Variable.get(name, default="null"))
    except Exception as exc:
        logger.warning("could not read the previous fleet run's plan: %s", exc)
        previous = None
    try:
        Variable.set(name, json.dumps({"run_id": _current_flow_run_id(), "projects": projects}), overwrite=True)
    except Exception as exc:
        logger.warning("could not record this fleet run's plan: %s", exc)
    return previous if isinstance(previous, dict) else None


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
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id]))
            )
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
