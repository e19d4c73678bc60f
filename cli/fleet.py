"""`stagesweep fleet cleanup FILE`: the fleet flow run, and a table of its projects."""

from __future__ import annotations

import logging

from rich.markup import escape
from rich.table import Table

from cli import prefect_env
from cli.run import debug_enabled, err, out, quiet_prefect_console
from schemas.errors import FleetFailed, StagesweepError
from schemas.fleet import FleetRunSettings, ProjectOutcome


def run_fleet(settings: FleetRunSettings) -> int:
    """Run the fleet flow and print each project's outcome; the exit code (3 when a project failed)."""
    api = prefect_env.configure()
    from flows.fleet import fleet_cleanup

    quiet_prefect_console(debug_enabled())
    _say_what_the_run_waits_for()
    if settings.work_pool:
        # the project flow's deployment is registered from the flow itself: imported meanwhile
        import importlib
        import threading

        threading.Thread(target=importlib.import_module, args=("flows.cleanup",), daemon=True).start()
    state = fleet_cleanup(settings=settings, return_state=True)
    value = state.result(raise_on_failure=False)
    if state.is_completed():
        print_outcomes(value, api, settings.dry_run)
        return 0
    if isinstance(value, FleetFailed):
        print_outcomes(value.outcomes, api, settings.dry_run)
        raise value
    if isinstance(value, StagesweepError):
        raise value
    raise value if isinstance(value, BaseException) else RuntimeError(f"fleet run ended {state.name}: {state.message}")


class _WaitingLines(logging.Handler):
    """The fleet run's lines an operator at the terminal needs while it waits (what for, who
    holds it, which projects and since when) and its warnings (a crashed project, a project the
    previous run never started); the rest stays in the run's log in the UI."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING or message.startswith("waiting"):
            err.print(f"fleet: {escape(message)}", highlight=False, soft_wrap=True)


def _say_what_the_run_waits_for() -> None:
    if debug_enabled():
        return  # Prefect's console handler shows every line
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _WaitingLines) for h in logger.handlers):
            logger.addHandler(_WaitingLines(logging.INFO))


def print_outcomes(outcomes: list[ProjectOutcome], api: str, dry_run: bool) -> None:
    table = Table(title=f"fleet cleanup{' (dry run)' if dry_run else ''}", title_justify="left")
    for column in ("project", "outcome", "kept", "deleted", "failed", "duration", "run"):
        table.add_column(column, justify="right" if column in ("kept", "deleted", "failed", "duration") else "left")
    for o in outcomes:
        table.add_row(
            o.project,
            (o.outcome if not o.error else f"{o.outcome}: {escape(o.error.splitlines()[0][:100])}")
            + (f" ({escape(o.note)})" if o.note else ""),
            *("?" if v is None else str(v) for v in (o.kept, o.deleted, o.failed)),
            f"{o.duration_s:.1f} s",
            o.flow_run_id or "",
        )
    out.print(table)
    if api != "ephemeral":
        out.print(f"  prefect: {api.removesuffix('/api')}/runs", highlight=False, soft_wrap=True)
