"""`apply`: execute a reviewed dry-run audit, or retry the failed rows of a run, re-checking
every row at apply time (SPEC §9; a flow run with its own audit file)."""

from __future__ import annotations

from prefect import flow

from coordination.deletion_run import finish
from coordination.exclusive import audited_storages
from schemas.settings import ApplySettings
from schemas.summary import RunSummary
from schemas.vocab import Command
from tasks.apply import read_audited_plan, read_current_state, recheck_audited_rows
from tasks.decide import build_deletion_plan, check_storage_format
from tasks.delete import deletion_run
from tasks.extract import extract_kube_images
from tasks.publish import publish_counts


@flow(name="apply", description="Execute a reviewed dry-run audit or retry the failed rows of a run, re-checking each row.")
def apply(settings: ApplySettings) -> RunSummary:
    run = deletion_run(Command.APPLY, settings)

    def body() -> None:
        # 1. the audited plan and what to run again
        audited = read_audited_plan(settings.audit_file, settings.only_failed, settings.images_repo_mode.value)
        run.project = audited.project
        run.hold(*audited_storages(audited.rows, settings.images_repo or audited.images_repo))
        publish_counts("apply-input", "Rows to apply", {"rows": len(audited.rows)})
        # 2. the world now: digests, the stages today's images need, Kubernetes
        state = read_current_state(settings, audited, run.now)
        check_storage_format([state.newer_format])  # a plan made before the repository changed hands
        scan = None if settings.without_kube else extract_kube_images(settings, settings.parallel_tasks_limit)
        run.metadata["kubernetes"] = scan.scanned() if scan else {"checked": False}  # the contexts and namespaces listed
        kube = scan.images if scan else None
        # 3. re-check, plan, execute
        plan = build_deletion_plan([recheck_audited_rows(audited, state, kube)])
        run.execute(plan)

    return finish(run, body)
