"""`managed-images rm` as an audited Prefect flow: `managed_images_rm`."""

from __future__ import annotations

from prefect import flow

from coordination.deletion_run import finish
from flows.repo_runs import run_repo_managed_images_rm
from schemas.settings import ManagedImagesRmSettings
from schemas.summary import RunSummary
from schemas.vocab import Command
from tasks.decide import build_deletion_plan, check_storage_format, decide_managed_images_rm
from tasks.delete import deletion_run
from tasks.extract import extract_managed_images, read_werf_config


@flow(name="managed_images_rm", description="Remove managed-image records from the stages storage.")
def managed_images_rm(settings: ManagedImagesRmSettings) -> RunSummary:
    if settings.werf2:  # the managed-image records of werf 1.2 / 2.x's repository
        return run_repo_managed_images_rm(settings)
    run = deletion_run(Command.MANAGED_IMAGES_RM, settings)

    def body() -> None:
        run.project = settings.project or read_werf_config(settings).project
        managed, signs = extract_managed_images(settings, run.project)
        check_storage_format([signs], "--stages-storage")
        run.execute(build_deletion_plan([decide_managed_images_rm(managed, settings.names)]))

    return finish(run, body)
