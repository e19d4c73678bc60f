"""A fleet of projects in one run (`stagesweep fleet cleanup FILE`): each project's cleanup is its
own child flow run; a project that fails fails alone."""

from __future__ import annotations

from prefect import flow

from coordination.credentials import secret_blocks_named
from schemas.errors import FleetFailed
from schemas.fleet import FleetRunSettings, ProjectOutcome
from tasks.fleet import (
    apply_fleet_limits,
    check_secret_blocks,
    not_started,
    projects_not_run_last_time,
    publish_fleet_summary,
    read_fleet_file,
    record_fleet_plan,
    register_project_deployment,
    run_project_here,
)
from tasks.fleet_pool import run_projects_on_pool


@flow(name="fleet_cleanup", description="Cleanup of every project of a fleet file, each its own child flow run.")
def fleet_cleanup(settings: FleetRunSettings) -> list[ProjectOutcome]:
    # 1. the fleet file and the projects of this run
    fleet = read_fleet_file(settings.fleet_file)
    projects = fleet.select(settings.projects)
    # 2. the file's limits as Prefect global concurrency limits, shared by every worker
    registry_limits = apply_fleet_limits(fleet, [p.name for p in projects])
    previous = record_fleet_plan(settings.fleet_file, [p.name for p in projects])
    runs = {p.name: settings.project_settings(p, registry_limits) for p in projects}
    # 3. the Secret blocks the projects name are on the server (their values are read by each
    #    project's own run); a project naming one that is not fails alone, not started
    unready = check_secret_blocks(runs) if any(secret_blocks_named(s) for s in runs.values()) else {}
    ready = {name: s for name, s in runs.items() if name not in unready}
    # 4. each project as a child flow run: on the work pool's workers, or here one after another
    if ready and settings.work_pool:
        deployment = register_project_deployment(settings.work_pool)
        started = run_projects_on_pool(deployment, ready, settings.dry_run)
    else:
        started = [run_project_here(name, s) for name, s in ready.items()]
    by_name = {o.project: o for o in started}
    outcomes = [by_name.get(name) or not_started(name, unready[name]) for name in runs]
    # 5. one summary (naming the projects a previous run that died never started); the run fails
    #    when a project did
    not_run = projects_not_run_last_time(previous)
    for o in outcomes:
        o.note = not_run.get(o.project, o.note)
    publish_fleet_summary(outcomes, settings.dry_run, not_run)
    failed = [o.project + (" (crashed)" if o.outcome == "crashed" else "") for o in outcomes if o.outcome != "completed"]
    if failed:
        raise FleetFailed(
            f"{len(failed)} of {len(outcomes)} projects failed: {', '.join(failed)}",
            hint="The other projects finished; see each failed project's run, fix it and run the fleet (or --projects) again.",
            outcomes=outcomes,
        )
    return outcomes
