"""The fleet on a work pool: each project a run of the per-project cleanup deployment, created
all at once as children of the fleet run, waited for, started again when the pool could not
start it or its process died, cancelled when the fleet run stops first; and the summary of
their final states."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.utilities.annotations import opaque

from coordination.adapters_from_settings import API_BUSY_STATUSES
from schemas.errors import StagesweepError
from schemas.fleet import ProjectOutcome
from schemas.settings import CleanupSettings
from tasks.fleet import (
    POLL_SECONDS,
    _counts,
    _current_flow_run_id,
    _holding_all_projects,
    _holding_project,
    _logger,
    _value_counts,
    all_flow_runs,
    in_parallel,
)

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
    import contextvars
    import threading

    from coordination.automations import ensure_automations

    # runs whose process dies are ended (Crashed), failures notified: the automations are made
    # while the children are
    automations = threading.Thread(
        target=contextvars.copy_context().run, args=(ensure_automations, get_run_logger()), daemon=True
    )
    automations.start()
    try:
        with contextlib.ExitStack() as held:
            held.callback(automations.join, 10)
            # every project's slot in one request, then every child created at once; when another
            # run holds a project, one project after another, each waiting for its slot
            together = _holding_all_projects(list(runs))
            started = {}
            if together is not None:
                slot, record_holders = together
                held.callback(slot.release)
                started = start_project_runs(deployment, runs)
                record_holders()
            else:
                for name, settings in runs.items():
                    held.enter_context(_holding_project(name))
                    started.update(start_project_runs(deployment, {name: settings}))
            final = wait_for_project_runs(started)
            attempts = dict.fromkeys(runs, 1)
            crashed: dict[str, Any] = {}  # project -> its run that crashed while running
            while True:
                unstarted = [n for n, r in final.items() if _never_started(r) and attempts[n] < SUBMIT_ATTEMPTS]
                died = [n for n, r in final.items() if _crashed_while_running(r) and n not in crashed]
                if not unstarted and not died:
                    break
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
                again = start_project_runs(deployment, {n: runs[n] for n in [*unstarted, *died]}, attempts)
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
    """The Prefect limits a project's deleting run holds (coordination/exclusive.py) → what they are."""
    from adapters.run_lock import lock_name, storage_key

    limits = {}
    storages = (
        ("stages storage", settings.stages_storage),
        ("images repo", settings.images_repo),
        ("repo", settings.repo),
        ("final repo", settings.final_repo),
    )
    for what, address in storages:
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
    from coordination.slots import describe_holder, read_holder

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

            def cancel(flow_run: Any) -> str | None:
                result = client.set_flow_run_state(
                    flow_run.id, Cancelled(message="the fleet run stopped before this project's run started")
                )
                return flow_run.name if result.state is not None and result.state.is_cancelled() else None

            cancelled = [name for name in in_parallel(cancel, all_flow_runs(client, children)) if name]
    except Exception as exc:  # the API may be what stopped the fleet run
        logger.warning("could not cancel the project runs that had not started: %s", exc)
        return cancelled
    if cancelled:
        logger.warning("cancelled the project runs no worker had started: %s", ", ".join(sorted(cancelled)))
    return cancelled


def _never_started(flow_run: Any) -> bool:
    """Crashed without ever running (a run's count goes up only when it starts running)."""
    return flow_run.state is not None and flow_run.state.is_crashed() and not flow_run.run_count


@task(name="start_project_runs", cache_policy=NO_CACHE)
def start_project_runs(
    deployment: str, runs: dict[str, CleanupSettings], attempts: dict[str, int] | None = None
) -> dict[str, str]:
    """Each project as a run of the per-project deployment, a child of the running flow (through
    this task run), `CREATE_THREADS` created at once; project → run id (not awaited). A busy API
    is asked again; the idempotency key (fleet run, project, attempt) makes sure an ask that did
    reach the server does not start the project twice. When one cannot be created, or this run
    is interrupted, the creations under way finish and no other begins before the error goes
    on, so that the children no worker has started can all be found and cancelled."""
    from prefect.context import TaskRunContext
    from prefect.runtime import flow_run

    context = TaskRunContext.get()
    parent_task_run_id = context.task_run.id if context is not None else None
    parent = flow_run.id
    attempts = attempts or {}
    logger = _logger()
    with get_client(sync_client=True) as client:
        deployment_id = _patiently(lambda: client.read_deployment_by_name(deployment).id, deployment, logger)

        def create(name: str) -> str:
            return str(
                _patiently(
                    lambda: (
                        client.create_flow_run_from_deployment(
                            deployment_id,
                            parameters={"settings": runs[name].model_dump(mode="json")},
                            name=name,
                            tags=["stagesweep", "fleet", f"project:{name}"],
                            idempotency_key=f"{parent}:{name}:{attempts.get(name, 1)}",
                            parent_task_run_id=parent_task_run_id,
                        ).id
                    ),
                    f"{name}'s run",
                    logger,
                )
            )

        return dict(zip(runs, in_parallel(create, list(runs)), strict=True))


#: how long starting a project run rides out a busy API (503, a dropped connection)
START_PATIENCE_SECONDS = 300.0
#: how long a 409 Conflict on creating a project run is asked again (its parent task run not yet
#: recorded by the server); a conflict that lasts longer is an error
CONFLICT_PATIENCE_SECONDS = 30.0


def _patiently(call: Any, what: str, logger: Any) -> Any:
    """`call()`, asked again while the API is busy (429/502/503/504, a dropped connection), for
    up to `START_PATIENCE_SECONDS`."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    deadline = time.monotonic() + START_PATIENCE_SECONDS
    conflicts_until = time.monotonic() + CONFLICT_PATIENCE_SECONDS
    delay = 1.0
    while True:
        try:
            return call()
        except (PrefectHTTPStatusError, httpx.TransportError) as exc:
            status = exc.response.status_code if isinstance(exc, PrefectHTTPStatusError) else None
            # 409: the server has not yet recorded the parent task run the child points to
            # (PostgreSQL checks the link); the idempotency key makes asking again safe
            busy = status is None or status in API_BUSY_STATUSES or (status == 409 and time.monotonic() < conflicts_until)
            if not busy or time.monotonic() > deadline:
                raise
            logger.warning("could not create %s yet (%s); asking again", what, exc)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


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
    (503, a dropped connection) is asked again at the next poll. A running project run that stops
    heartbeating is named, with when Prefect will declare it dead."""
    import httpx
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.exceptions import PrefectHTTPStatusError

    from coordination.silent_runs import SilenceWatch

    pending = {run_id: name for name, run_id in runs.items()}
    final: dict[str, Any] = {}
    states: dict[str, Any] = {}
    next_log = time.monotonic() + WAIT_LOG_SECONDS
    silence = SilenceWatch(get_run_logger())
    with get_client(sync_client=True) as client:
        while pending:
            try:
                found = all_flow_runs(client, FlowRunFilter(id=FlowRunFilterId(any_=list(pending))))
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
            silence.check(client, {i: pending[i] for i, s in states.items() if s is not None and s.is_running()})
            if pending and time.monotonic() >= next_log:
                get_run_logger().info(
                    "waiting on %d projects: %s", len(pending), _describe_pending(pending, states, silence.note)
                )
                next_log = time.monotonic() + WAIT_LOG_SECONDS
            if pending:
                time.sleep(POLL_SECONDS)
    return final


#: how often a fleet run waiting on its projects says which and since when
WAIT_LOG_SECONDS = 60.0


def _describe_pending(pending: dict[str, str], states: dict[str, Any], note: Any = lambda run_id: "") -> str:
    """'acme (Running since 03:01:07), beta (Late since 03:00:02)' — each project waited on; `note`
    adds to a run's (a silent run: '; no heartbeat since …, declared dead at about …')."""
    parts = []
    for run_id, name in sorted(pending.items(), key=lambda item: item[1]):
        state = states.get(run_id)
        if state is None:
            parts.append(f"{name} (state unknown)")
            continue
        since = state.timestamp.astimezone().strftime("%H:%M:%S") if state.timestamp else "?"
        parts.append(f"{name} ({state.name} since {since}{note(run_id)})")
    return ", ".join(parts)
