"""Run a command's flow from the CLI: Prefect set-up, a progress bar, the closing summary, and
the one place where errors become messages and exit codes (SPEC §9)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows import prefect_env

err = Console(stderr=True)
out = Console()


def flow_for(command: str):
    if command in ("cleanup", "images-cleanup", "stages-cleanup"):
        from flows import cleanup as m

        return {"cleanup": m.cleanup, "images-cleanup": m.images_cleanup, "stages-cleanup": m.stages_cleanup}[command]
    if command in ("purge", "images-purge", "stages-purge"):
        from flows import purge as m

        return {"purge": m.purge, "images-purge": m.images_purge, "stages-purge": m.stages_purge}[command]
    if command in ("host-cleanup", "host-purge"):
        from flows import host as m

        return {"host-cleanup": m.host_cleanup, "host-purge": m.host_purge}[command]
    if command == "managed-images-rm":
        from flows.managed_rm import managed_images_rm

        return managed_images_rm
    if command == "apply":
        from flows import apply as m

        return m.apply
    raise KeyError(command)


def run_command(command: str, settings) -> int:
    """Run the flow of `command` with `settings`; return the exit code."""
    api = prefect_env.configure()
    from schemas.errors import StagesweepError

    flow = flow_for(command)
    from tasks import progress as hook

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        hook.install(_BarReporter(bar, command))
        try:
            summary = flow(settings=settings)
        except StagesweepError as exc:
            hook.install(None)
            summary = getattr(exc, "summary", None)
            if summary is not None:
                print_summary(summary, api)
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            return exc.exit_code
        finally:
            hook.install(None)
    print_summary(summary, api)
    return summary.exit_code


class _BarReporter:
    """A pulsing bar while the run reads and plans, then deletion progress against the plan."""

    def __init__(self, bar: Progress, command: str) -> None:
        self.bar, self.command = bar, command
        self.task_id = bar.add_task(f"{command}: reading and planning", total=None)

    def start(self, total: int) -> None:
        self.bar.update(self.task_id, description=f"{self.command}: deleting", total=total, completed=0)

    def advance(self, n: int) -> None:
        self.bar.advance(self.task_id, n)


def print_summary(summary, api: str) -> None:
    kind = " (dry run)" if summary.dry_run else ""
    out.print(f"[bold]{summary.command}{kind}[/bold] run {summary.run_id}", highlight=False, soft_wrap=True)
    for key, n in sorted(summary.reasons.items()):
        out.print(f"  {n:6d}  {key}", highlight=False, soft_wrap=True)
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(summary.counts.items())) or "nothing decided"
    out.print(f"  outcomes: {outcomes}", highlight=False, soft_wrap=True)
    out.print(f"  audit: {escape(summary.audit_file)}", highlight=False, soft_wrap=True)
    if api != "ephemeral":
        out.print(f"  prefect: {api.removesuffix('/api')}/runs/flow-run/{summary.run_id}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
