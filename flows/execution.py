"""The shared run machinery of every deleting flow: run identity, the audit written exactly
once (also on failure), the plan executed phase by phase in batches, the dry run and the brake."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
from prefect.context import FlowRunContext

from adapters.audit import audit_path, check_writable
from core import plan as plans
from schemas.errors import StagesweepError
from schemas.vocab import Action, Outcome
from tasks import progress as cli_progress
from tasks.delete import BatchFailed, check_deletes_permitted, delete_batch
from tasks.publish import DeletionProgress, publish_plan, publish_summary, write_audit_file


class DeletionsFailed(StagesweepError):
    """Some deletions failed after retries; the audit lists them (exit code 3)."""

    exit_code = 3


@dataclass
class RunSummary:
    run_id: str
    command: str
    dry_run: bool
    audit_file: str
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    exit_code: int = 0
    error: str | None = None


class Run:
    """One flow run of a deleting command; collects outcome rows and writes the audit."""

    def __init__(self, command: str, settings) -> None:
        ctx = FlowRunContext.get()
        flow_run = ctx.flow_run if ctx else None
        self.run_id = str(flow_run.id) if flow_run else str(uuid.uuid4())
        created = getattr(flow_run, "created", None) if flow_run else None
        # a plain datetime (Prefect hands out pendulum ones), stable across retries of the run
        self.started_at = (
            datetime.fromtimestamp(created.timestamp(), tz=timezone.utc) if created else datetime.now(timezone.utc)
        )
        self.now = self.started_at  # the one `now` every decision of this run uses
        self.command = command
        self.settings = settings
        self.dry_run = bool(getattr(settings, "dry_run", False))
        self.project = getattr(settings, "project", None) or ""
        self.audit_file = audit_path(settings.audit_dir, self.run_id, self.started_at)
        self.rows: list[dict] = []
        self.decided_at = self.started_at
        check_writable(self.audit_file)

    # -- audit -------------------------------------------------------------------------
    def record(self, rows: list[dict]) -> None:
        self.rows = rows
        self.decided_at = datetime.now(timezone.utc)

    def write_audit(self) -> str:
        table = plans.audit_table(
            self.rows,
            run_id=self.run_id,
            command=self.command,
            dry_run=self.dry_run,
            project=self.project,
            started_at=self.started_at,
            decided_at=self.decided_at,
        )
        return write_audit_file(str(self.audit_file), table)

    def summary(self, error: StagesweepError | None = None) -> RunSummary:
        return RunSummary(
            run_id=self.run_id,
            command=self.command,
            dry_run=self.dry_run,
            audit_file=str(self.audit_file),
            counts=dict(Counter(r["outcome"] for r in self.rows)),
            reasons=dict(Counter(f"{r['action']} {r['reason']}" for r in self.rows)),
            exit_code=error.exit_code if error else 0,
            error=str(error) if error else None,
        )

    # -- execution ---------------------------------------------------------------------
    def execute(
        self,
        plan: pa.Table,
        revise: Callable[[list[dict]], list[dict]] | None = None,
    ) -> None:
        """Run the plan's deletions (unless dry run), phase after phase.

        `revise(rows)` may turn not-yet-run deletes into keeps after a phase (stages cleanup uses
        it when an image-tag delete failed: that image's stages stay).
        """
        publish_plan(plan)
        rows = plans.initial_outcomes(plan, self.dry_run)
        self.record(rows)
        plans.check_max_deletions(plan, getattr(self.settings, "max_deletions", None))
        if self.dry_run:
            return
        # a read-only registry or layout is found out before the first delete
        check_deletes_permitted(self.settings, sorted({r["repository"] for r in rows if r["action"] == Action.DELETE}))
        index = {plans.row_key(r): i for i, r in enumerate(rows)}
        total = plans.count_deletes(plan)
        progress = DeletionProgress(total)
        cli_progress.start(total)
        failed = 0
        for phase in plans.PHASES:
            phase_rows = [r for r in rows if r["action"] == Action.DELETE and (r["storage"], r["item_type"]) == phase]
            if not phase_rows:
                continue
            phase_plan = pa.Table.from_pylist(
                [{k: r[k] for k in plan.schema.names} for r in phase_rows], schema=plan.schema
            )
            for batch in plans.batches(phase_plan, self.settings.batch_size):
                state = delete_batch(self.settings, self.project, batch, return_state=True)
                if state.is_completed():
                    results = state.result()
                else:
                    exc = state.result(raise_on_failure=False)
                    if not isinstance(exc, BatchFailed):
                        # the batch stopped as a whole (e.g. a 401/403 on DELETE): its rows may or
                        # may not be gone, later batches do not run
                        self._stop(rows, index, batch, exc)
                    results = exc.results
                for res in results:
                    i = index[plans.row_key(res)]
                    rows[i] = {**rows[i], "outcome": res["outcome"], "error": res.get("error")}
                    failed += res["outcome"] == Outcome.FAILED.value
                progress.advance(len(batch))
                self.record(rows)
            if revise is not None:
                rows = revise(rows)
                index = {plans.row_key(r): i for i, r in enumerate(rows)}
                self.record(rows)
        if failed:
            raise DeletionsFailed(
                f"{failed} deletions failed; the audit {self.audit_file} lists them",
                hint="Rerun the same command, retry the flow run, or `stagesweep apply AUDIT --only-failed`.",
            )

    def _stop(self, rows: list[dict], index: dict, batch: list[dict], exc: BaseException) -> None:
        """Record a batch that stopped as a whole as failed, and end the run."""
        message = str(exc)
        for r in batch:
            i = index[plans.row_key(r)]
            rows[i] = {**rows[i], "outcome": Outcome.FAILED.value, "error": message}
        self.record(rows)
        started = any(r["outcome"] in (Outcome.DELETED.value, Outcome.ALREADY_GONE.value) for r in rows)
        if started:
            raise DeletionsFailed(
                f"deletion stopped: {message}",
                hint="Fix the cause, then rerun the same command or `stagesweep apply AUDIT --only-failed`.",
            )
        if isinstance(exc, StagesweepError):
            raise exc
        raise DeletionsFailed(f"deletion stopped: {message}")


def finish(run: Run, body: Callable[[], None]) -> RunSummary:
    """Run `body`, always write the audit, publish the summary; errors keep their exit code."""
    error: StagesweepError | None = None
    try:
        body()
    except StagesweepError as exc:
        error = exc
    finally:
        run.write_audit()
    summary = run.summary(error)
    publish_summary(summary_markdown(summary, run))
    if error is not None:
        error.summary = summary  # type: ignore[attr-defined]
        raise error
    return summary


def summary_markdown(summary: RunSummary, run: Run) -> str:
    lines = [
        f"# stagesweep {summary.command}{' (dry run)' if summary.dry_run else ''}",
        "",
        f"* run: `{summary.run_id}`",
        f"* audit: `{summary.audit_file}`",
    ]
    if summary.error:
        lines.append(f"* stopped: {summary.error}")
    lines += ["", "| action | reason | count |", "|---|---|---|"]
    for key, n in sorted(summary.reasons.items()):
        action, reason = key.split(" ", 1)
        lines.append(f"| {action} | {reason} | {n} |")
    lines += ["", "| outcome | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(summary.counts.items())]
    return "\n".join(lines)
