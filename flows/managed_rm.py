"""`managed-images rm` as an audited Prefect flow: `managed_images_rm`."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger, task

from adapters.storage import codec
from core.purge import purge_stages
from flows.execution import Run, RunSummary, finish
from schemas.settings import ManagedImagesRmSettings
from schemas.tables import METADATA_SCHEMA, STAGES_SCHEMA
from schemas.vocab import Command
from tasks.adapters_from_settings import stages_storage
from tasks.decide import build_deletion_plan
from tasks.extract import PER_RUN, read_werf_config
from tasks.retry import io_task_options


@task(name="extract_managed_images", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_managed_images(settings: ManagedImagesRmSettings, project: str) -> pa.Table:
    return stages_storage(settings, project).list_managed_images()


def decide_managed_images_rm(managed: pa.Table, names: list[str]) -> pa.Table:
    """Delete rows (reason `purge`) for the managed-image records of `names`."""
    chosen = managed.filter(pc.is_in(managed["image_name"], pa.array(names, pa.string())))
    return purge_stages(STAGES_SCHEMA.empty_table(), METADATA_SCHEMA.empty_table(), chosen)


@flow(name="managed_images_rm", description="Remove managed-image records from the stages storage.")
def managed_images_rm(settings: ManagedImagesRmSettings) -> RunSummary:
    run = Run(Command.MANAGED_IMAGES_RM.value, settings)

    def body() -> None:
        names = [codec.validate_image_name(name) for name in settings.names]
        run.project = settings.project or read_werf_config(settings).project
        managed = extract_managed_images(settings, run.project)
        missing = sorted(set(names) - set(managed.column("image_name").to_pylist()))
        if missing:
            get_run_logger().warning(
                "not managed images (nothing to remove): %s", ", ".join(codec.display_image_name(n) for n in missing)
            )
        run.execute(build_deletion_plan([decide_managed_images_rm(managed, names)]))

    return finish(run, body)
