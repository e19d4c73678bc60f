"""One flow run of a deleting command: its identity and its one `now`, the plan executed phase by
phase in batches (nothing in a dry run), the brake, and the audit: durable while the run deletes
(a part file rewritten before each batch's first request and after its outcomes) and written as
the run's one file when it ends — also when the run stops."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
from prefect import get_run_logger
from prefect.context import FlowRunContext

from adapters.audit import audit_path, check_writable, part_path, read_run_record, write_audit_part
from adapters.report_files import check_report_writable
from coordination import credentials
from coordination.adapters_from_settings import repo_implementations
from coordination.exclusive import StorageExclusion
from coordination.progress import DeletionProgress
from core import plan as plans
from core import reclaim
from core.plan import leaving_tags, merge_outcome
from schemas.errors import AuditError, DeletionsFailed, StagesweepError, UsageError, WrongStorageFormat
from schemas.settings import CleanupSettings, CommonSettings, PurgeSettings, RunSettings, address_problem
from schemas.summary import RunSummary
from schemas.vocab import Action, Command, Outcome

Reviser = Callable[[list[dict]], list[dict]]


@dataclass(frozen=True)
class RunSteps:
    """The task calls a deleting run makes; `tasks/` provides them (`tasks.delete.RUN_STEPS`)."""

    publish_plan: Callable[[pa.Table], Any]
    publish_summary: Callable[[str], Any]
    write_audit_file: Callable[..., str]
    save_cleanup_report: Callable[..., Any]
    check_deletes_permitted: Callable[..., Any]
    #: a Prefect task: called with `return_state=True`
    delete_batch: Any
    #: what earlier attempts of a batch task run settled, for a batch that stopped as a whole
    settled_outcomes: Callable[[str], list[dict]]


class DeletionRun:
    """Collects the outcome rows of one run and writes its audit."""

    def __init__(self, command: Command, settings: RunSettings, steps: RunSteps, project: str = "") -> None:
        self.steps = steps
        ctx = FlowRunContext.get()
        flow_run = ctx.flow_run if ctx else None
        self.run_id = str(flow_run.id) if flow_run else str(uuid.uuid4())
        created = flow_run.created if flow_run else None
        # a plain datetime (Prefect hands out pendulum ones), stable across retries of the run
        self.started_at = datetime.fromtimestamp(created.timestamp(), tz=timezone.utc) if created else datetime.now(timezone.utc)
        self.now = self.started_at  # the one `now` every decision of this run uses
        self.command = command
        self.settings = settings
        self.project = project
        self.audit_file = audit_path(settings.audit_dir, self.run_id, self.started_at)
        #: where the run's rows are while it deletes (replaced by `audit_file` at the end)
        self.part_file = part_path(self.audit_file)
        self.rows: list[dict] = []
        self.decided_at = self.started_at
        #: facts of the run as a whole, kept in the audit file's metadata
        self.metadata: dict[str, object] = {}
        # where each option of the command line came from (command line, STAGESWEEP_*, WERF_*, default)
        if getattr(settings, "option_sources", None):
            self.metadata["option_sources"] = dict(settings.option_sources)
        #: BLOBS_SCHEMA tables of the manifests the extracts read (for the reclaimable bytes)
        self.blobs: list[pa.Table | None] = []
        self.reclaimable_bytes: int | None = None
        #: deletes an earlier attempt of this run (a flow run retried in place) has on record as done
        self._earlier_done: dict[tuple, str] | None = None
        #: the rows list and its audit table at the last checkpoint (only changing columns are rebuilt)
        self._snapshot: tuple[list[dict], pa.Table] | None = None
        self.checkpoint_writes = 0
        self.checkpoint_seconds = 0.0
        check_writable(self.audit_file)
        self.cleanup_report = settings.save_cleanup_report if isinstance(settings, (CleanupSettings, PurgeSettings)) else None
        if self.cleanup_report:
            check_report_writable(self.cleanup_report)
        # the storages this run deletes in; no other run deletes there until this one ends
        self.exclusion = StorageExclusion(self.run_id, command.value, self.started_at)

    def note_implementations(self) -> None:
        """The registry implementation of each storage and why, into the run metadata and log."""
        if not isinstance(self.settings, CommonSettings):
            return
        found = repo_implementations(self.settings)
        if found:
            self.metadata["repo_implementations"] = found
            for kind, facts in found.items():
                get_run_logger().info(
                    "%s %s: %s implementation (%s)", kind, facts["repository"], facts["implementation"], facts["why"]
                )

    def hold(self, stages_storage: str | None, images_repo: str | None = None) -> None:
        """Hold these storages for the rest of the run, or stop (exit 1) when another run does."""
        self.exclusion.hold(stages_storage=stages_storage, images_repo=images_repo, docker_host=self.settings.docker_host)

    def record(self, rows: list[dict]) -> None:
        self.rows = rows
        self.decided_at = datetime.now(timezone.utc)

    def earlier_done(self) -> dict[tuple, str]:
        """Deletes an earlier attempt of this run recorded as done (read once; {} for a first
        attempt, which has no file yet)."""
        if self._earlier_done is None:
            try:
                record = read_run_record(self.audit_file)
            except (AuditError, OSError, pa.ArrowInvalid) as exc:
                get_run_logger().warning("could not read this run's earlier audit %s: %s", self.audit_file, exc)
                record = None
            self._earlier_done = plans.done_deletes(record) if record is not None else {}
        return self._earlier_done

    def checkpoint(self) -> None:
        """Write the rows as they stand to the run's part file, so that a run that dies from here
        on leaves them: every delete of a batch under way as `started`, those done as done."""
        began = time.perf_counter()
        done = self.earlier_done()
        if self._snapshot is None or self._snapshot[0] is not self.rows or self._snapshot[1].num_rows != len(self.rows):
            table = self._audit_table()
        else:
            table = self._snapshot[1]
        table = plans.refresh_audit_table(table, self.rows, self.decided_at, done)
        self._snapshot = (self.rows, table)
        write_audit_part(self.part_file, table, self.metadata)
        self.checkpoint_writes += 1
        self.checkpoint_seconds += time.perf_counter() - began

    def _audit_table(self) -> pa.Table:
        """The run's rows as the audit table (AUDIT_SCHEMA)."""
        return plans.audit_table(
            self.rows,
            run_id=self.run_id,
            command=self.command.value,
            dry_run=self.settings.dry_run,
            project=self.project,
            started_at=self.started_at,
            decided_at=self.decided_at,
        )

    def write_audit(self) -> str:
        if not self.settings.dry_run and self.rows:
            self.rows = plans.carry_done_deletes(self.rows, self.earlier_done())
        if self.blobs:
            freed = reclaim.reclaimable_per_row(self.rows, reclaim.combine_blobs(self.blobs))
            self.rows = [{**r, "reclaimable_bytes": b} for r, b in zip(self.rows, freed)]
            self.reclaimable_bytes = reclaim.total(freed)
            self.metadata["reclaimable_bytes"] = self.reclaimable_bytes
        table = self._audit_table()
        # a run that may have deleted has a part file, which the final file replaces
        return self.steps.write_audit_file(str(self.audit_file), table, self.metadata, replace_part=not self.settings.dry_run)

    def write_cleanup_report(self) -> None:
        """werf's JSON cleanup report, when asked for, from the rows the audit holds."""
        if self.cleanup_report:
            self.steps.save_cleanup_report(
                self.cleanup_report,
                self.rows,
                self.command.value,
                self.settings.dry_run,
                (self.settings.stages_storage or self.settings.repo or "") if isinstance(self.settings, CommonSettings) else "",
                (self.settings.images_repo or self.settings.final_repo) if isinstance(self.settings, CommonSettings) else None,
            )

    def summary(self, error: StagesweepError | None = None) -> RunSummary:
        return RunSummary(
            run_id=self.run_id,
            command=self.command.value,
            dry_run=self.settings.dry_run,
            audit_file=str(self.audit_file),
            counts=dict(Counter(r["outcome"] for r in self.rows)),
            reasons=dict(Counter(f"{r['action']} {r['reason']}" for r in self.rows)),
            exit_code=error.exit_code if error else 0,
            error=str(error) if error else None,
            reclaimable_bytes=self.reclaimable_bytes,
            failures=[
                f"{r['repository']}:{r['tag']}: {r.get('error') or 'failed'}"
                for r in self.rows
                if r["outcome"] == Outcome.FAILED.value
            ],
        )

    def execute(self, plan: pa.Table, revise: Reviser | None = None) -> None:
        """Run the plan's deletions (unless dry run), phase after phase.

        `revise(rows)` may turn not-yet-run deletes into keeps after a phase (stages cleanup uses
        it when an image-tag delete failed: that image's stages stay).
        """
        self.steps.publish_plan(plan)
        rows = plans.initial_outcomes(plan, self.settings.dry_run)
        self.record(rows)
        plans.check_max_deletions(plan, self.settings.max_deletions)
        if self.settings.dry_run:
            return
        # a read-only registry or layout is found out before the first delete
        self.steps.check_deletes_permitted(
            self.settings, sorted({(r["storage"], r["repository"]) for r in rows if r["action"] == Action.DELETE})
        )
        index = {plans.row_key(r): i for i, r in enumerate(rows)}
        progress = DeletionProgress(plans.count_deletes(plan))
        failed = 0
        # the audit is durable from here on: before a batch's first request its rows are on record
        # as `started` (with every earlier outcome: one write per batch), and after the last batch
        # the last outcomes
        ran = False
        try:
            for phase in plans.PHASES:
                phase_plan = plans.phase_rows(rows, phase, plan.schema)
                if phase_plan.num_rows == 0:
                    continue
                for batch in plans.batches(phase_plan, self.settings.batch_size):
                    self._begin_batch(rows, index, batch)
                    ran = True
                    for res in self._run_batch(rows, index, batch):
                        i = index[plans.row_key(res)]
                        rows[i] = merge_outcome(rows[i], res)
                        failed += res["outcome"] == Outcome.FAILED.value
                    progress.advance(len(batch))
                    self.record(rows)
                if revise is not None:
                    rows = revise(rows)
                    index = {plans.row_key(r): i for i, r in enumerate(rows)}
                    self.record(rows)
            if ran:
                self.checkpoint()
        finally:
            if self.checkpoint_writes:
                get_run_logger().info(
                    "audit part %s: %d writes in %.2f s", self.part_file, self.checkpoint_writes, self.checkpoint_seconds
                )
        if failed:
            raise DeletionsFailed(
                f"{failed} deletions failed; the audit {self.audit_file} lists them",
                hint="Rerun the same command, retry the flow run, or `stagesweep apply AUDIT --only-failed`.",
            )

    def _begin_batch(self, rows: list[dict], index: dict, batch: list[dict]) -> None:
        """Mark the batch's rows `started` and put them on record before its first request; a
        record that cannot be written stops the run before the batch."""
        before = [(index[plans.row_key(r)], rows[index[plans.row_key(r)]]) for r in batch]
        for i, row in before:
            rows[i] = {**row, "outcome": Outcome.STARTED.value, "error": None}
        self.record(rows)
        try:
            self.checkpoint()
        except AuditError as exc:
            for i, row in before:
                rows[i] = row
            self.record(rows)
            so_far = (
                f"every delete made so far is on record in {self.part_file}" if self.checkpoint_writes else "nothing was deleted"
            )
            raise AuditError(
                f"{exc.message}; the run stopped before its next deletion batch",
                hint=f"The deletes of a batch are recorded before it starts: {so_far}. Fix the audit location, "
                "then rerun the same command.",
            ) from exc

    def _run_batch(self, rows: list[dict], index: dict, batch: list[dict]) -> list[dict]:
        # every tag the plan deletes in the batch's repositories: the other tags there stay
        leaving = leaving_tags(rows, {r["repository"] for r in batch})
        state = self.steps.delete_batch(self.settings, self.project, batch, leaving, return_state=True)
        if state.is_completed():
            return state.result()
        exc = state.result(raise_on_failure=False)
        if isinstance(exc, DeletionsFailed) and exc.results:
            return exc.results
        # the batch stopped as a whole (e.g. a 401/403 on DELETE, or a retry that could not even
        # list the repository): what its earlier attempts deleted is recorded as such, its other
        # rows may or may not be gone, later batches do not run
        settled = self.steps.settled_outcomes(str(state.state_details.task_run_id))
        self._stop(rows, index, batch, exc, settled)
        return []

    def _stop(self, rows: list[dict], index: dict, batch: list[dict], exc: BaseException, settled: list[dict]) -> None:
        """Record a batch that stopped as a whole (failed, but for what earlier attempts
        settled), and end the run."""
        message = str(exc)
        done = {plans.row_key(r): r for r in settled}
        for r in batch:
            i = index[plans.row_key(r)]
            earlier = done.get(plans.row_key(r))
            rows[i] = (
                merge_outcome(rows[i], earlier) if earlier else {**rows[i], "outcome": Outcome.FAILED.value, "error": message}
            )
        self.record(rows)
        started = any(r["outcome"] in (Outcome.DELETED.value, Outcome.ALREADY_GONE.value) for r in rows)
        if started:
            raise DeletionsFailed(
                f"deletion stopped: {message}",
                hint="Fix the cause, then rerun the same command or `stagesweep apply AUDIT --only-failed`.",
            ) from exc
        if isinstance(exc, StagesweepError):
            raise exc
        raise DeletionsFailed(f"deletion stopped: {message}") from exc


def finish(run: DeletionRun, body: Callable[[], None]) -> RunSummary:
    """Run `body`, always write the audit, publish the summary; errors keep their exit code and
    carry the summary."""
    error: StagesweepError | None = None
    try:
        # before anything is read (apply adds the storages of its audit once it has read it);
        # a dry run deletes nothing, so it reads alongside a deleting run instead of waiting
        if isinstance(run.settings, CommonSettings):
            # a deployment's parameters get the command line's usage checks (SPEC §9, §13.1)
            problem = address_problem(run.settings, run.command.value)
            if problem:
                raise UsageError(problem)
        if isinstance(run.settings, CommonSettings) and not run.settings.dry_run:
            settings = run.settings
            run.hold(settings.stages_storage or settings.repo, settings.images_repo or settings.final_repo)
        run.note_implementations()
        body()
    except StagesweepError as exc:
        error = exc
        if isinstance(exc, WrongStorageFormat):
            # an empty run whose audit says why it refused the storages
            run.metadata["refused"] = {"reason": "wrong-storage-format", "message": exc.message, "signs": exc.signs[:20]}
    finally:
        try:
            run.write_audit()
            run.write_cleanup_report()
        finally:
            run.exclusion.release()
            credentials.release(run.run_id)  # the run's Docker config from Secret blocks goes with it
    summary = run.summary(error)
    run.steps.publish_summary(summary.markdown())
    if error is not None:
        get_run_logger().error("%s stopped: %s", run.command.value, error)
        error.summary = summary
        raise error
    get_run_logger().info("%s done: %s", run.command.value, ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())))
    return summary
