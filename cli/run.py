"""Running a command from the terminal: the flow of each `Command`, Prefect set-up, a progress
bar, the closing summary, and the one place where errors become messages and exit codes
(SPEC §9): `guard`."""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import importlib
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli import prefect_env
from schemas.errors import StagesweepError
from schemas.summary import RunSummary
from schemas.vocab import Command

err = Console(stderr=True)
out = Console()

DEBUG_ENV = "STAGESWEEP_DEBUG"

#: the flow of each command, as `module:function` (imported only when the command runs)
FLOWS: dict[Command, str] = {
    Command.CLEANUP: "flows.cleanup:cleanup",
    Command.IMAGES_CLEANUP: "flows.cleanup:images_cleanup",
    Command.STAGES_CLEANUP: "flows.cleanup:stages_cleanup",
    Command.PURGE: "flows.purge:purge",
    Command.IMAGES_PURGE: "flows.purge:images_purge",
    Command.STAGES_PURGE: "flows.purge:stages_purge",
    Command.HOST_CLEANUP: "flows.host:host_cleanup",
    Command.HOST_PURGE: "flows.host:host_purge",
    Command.MANAGED_IMAGES_RM: "flows.managed_images:managed_images_rm",
    Command.APPLY: "flows.apply:apply",
}


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes")


#: what Prefect imports on a process's first flow run (the parameters' JSON encoder): imported
#: with the flow, so that a local server's start-up covers it rather than the run
RUN_TIME_IMPORTS = ("fastapi.encoders",)


def flow_for(command: Command) -> Any:
    """The flow of `command`, imported with what its first run would otherwise stop to import."""
    module, _, name = FLOWS[command].partition(":")
    flow = getattr(importlib.import_module(module), name)
    for extra in RUN_TIME_IMPORTS:
        importlib.import_module(extra)
    return flow


#: this process runs one command and ends (the CLI's `main` says so), so what it imports can be
#: frozen out of the garbage collector's reach
_one_command = False


def one_command_process() -> None:
    """Called by the CLI's `main`: this process runs one command and ends. Its imports may then be
    frozen, and a command may go on while the local server it starts comes up (and run again on
    Prefect's ephemeral API should that server not come up)."""
    global _one_command
    _one_command = True
    prefect_env.allow_restart()


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Imports without the cyclic garbage collector: they make a great many objects and no garbage
    worth a collection (about a tenth of their time). In a one-command process what they made is
    then frozen, so the run's collections do not go through it again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _one_command:
            gc.freeze()
        if enabled:
            gc.enable()


def guard(fn: Callable[..., int | None]) -> Callable[..., None]:
    """The error boundary of every command: a `StagesweepError` becomes its one-paragraph
    message (after what the run did, when it got that far) and its exit code; the traceback only
    with --debug. Anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            code = fn(*args, **kwargs)
        except StagesweepError as exc:
            if exc.summary is not None:
                print_summary(exc.summary, prefect_env.api_description())
            if debug_enabled():
                err.print(escape("".join(traceback.format_exception(exc))), highlight=False, soft_wrap=True)
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            code = exc.exit_code
        raise typer.Exit(code or 0)

    return run


def exit_now(code: object) -> NoReturn:
    """End the process as `sys.exit(code)` does, without tearing the interpreter down (unloading
    its many modules takes about half a second): what an exit runs first — the wait for
    non-daemon threads and the exit hooks, where Prefect sends its last logs and events — then
    the output streams are flushed and the process ends."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def run_command(command: Command, settings: Any) -> int:
    """Run the flow of `command` with `settings` and print its summary; the exit code.
    A run that stops raises its error (with the summary) to `guard`."""
    # a local server this call starts comes up while the flow's modules are imported
    api = prefect_env.configure(wait=False)
    with without_gc():
        flow = flow_for(command)
        from coordination import progress as hook
    prefect_env.ready()
    quiet_prefect_console(debug_enabled())
    print_implementations(settings)

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        hook.install(_BarReporter(bar, command.value))
        try:
            summary = flow(settings=settings)
        finally:
            hook.install(None)
    print_summary(summary, api)
    return summary.exit_code


def print_implementations(settings: Any) -> None:
    """One line per registry storage: the implementation it is cleaned with, and why."""
    from schemas.settings import CommonSettings

    if not isinstance(settings, CommonSettings):
        return
    from coordination.adapters_from_settings import repo_implementations
    from schemas.errors import RegistryError

    try:
        found = repo_implementations(settings)
    except RegistryError:
        return  # a registry that does not answer: the run stops on it, with its audit, and says why
    for kind, facts in found.items():
        err.print(
            f"{kind} {escape(facts['repository'])}: {facts['implementation']} implementation ({escape(facts['why'])})",
            highlight=False,
            soft_wrap=True,
        )


def quiet_prefect_console(debug: bool) -> None:
    """Prefect's own terminal lines (state changes, tracebacks of failed task runs) only with
    --debug; the run's logs still go to the Prefect API, where the UI shows them."""
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            handler.setLevel(logging.DEBUG if debug else logging.CRITICAL)


class _BarReporter:
    """A pulsing bar while the run reads and plans, then deletion progress against the plan."""

    def __init__(self, bar: Progress, command: str) -> None:
        self.bar, self.command = bar, command
        self.task_id = bar.add_task(f"{command}: reading and planning", total=None)

    def start(self, total: int) -> None:
        self.bar.update(self.task_id, description=f"{self.command}: deleting", total=total, completed=0)

    def advance(self, n: int) -> None:
        self.bar.advance(self.task_id, n)


def print_summary(summary: RunSummary, api: str) -> None:
    kind = " (dry run)" if summary.dry_run else ""
    out.print(f"[bold]{summary.command}{kind}[/bold] run {summary.run_id}", highlight=False, soft_wrap=True)
    for key, n in sorted(summary.reasons.items()):
        out.print(f"  {n:6d}  {key}", highlight=False, soft_wrap=True)
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(summary.counts.items())) or "nothing decided"
    out.print(f"  outcomes: {outcomes}", highlight=False, soft_wrap=True)
    out.print(f"  audit: {escape(summary.audit_file)}", highlight=False, soft_wrap=True)
    if api != "ephemeral":
        out.print(f"  prefect: {api.removesuffix('/api')}/runs/flow-run/{summary.run_id}", highlight=False, soft_wrap=True)
