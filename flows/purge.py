"""Manual cleaning (SPEC §7): `purge`, `images_purge`, `stages_purge`. No Kubernetes check."""

from __future__ import annotations

from prefect import flow

from schemas.settings import PurgeSettings
from schemas.summary import RunSummary
from schemas.vocab import Command
from tasks.decide import build_deletion_plan, check_storage_format, decide_project_purge
from tasks.deletion_run import DeletionRun, finish
from tasks.extract import extract_images_repo, extract_stages_storage, read_werf_config
from tasks.publish import publish_inventory
from tasks.purge import check_containers_using_stages


@flow(name="purge", description="Delete every werf image of the project, then every stage and record.")
def purge(settings: PurgeSettings) -> RunSummary:
    return run_purge(settings, Command.PURGE, images=True, stages=True)


@flow(name="images_purge", description="Delete every werf tag of every managed image (foreign tags stay).")
def images_purge(settings: PurgeSettings) -> RunSummary:
    return run_purge(settings, Command.IMAGES_PURGE, images=True, stages=False)


@flow(name="stages_purge", description="Delete every stage, rejected marker, metadata and managed-image record.")
def stages_purge(settings: PurgeSettings) -> RunSummary:
    return run_purge(settings, Command.STAGES_PURGE, images=False, stages=True)


def run_purge(settings: PurgeSettings, command: Command, *, images: bool, stages: bool) -> RunSummary:
    run = DeletionRun(command, settings)

    def body() -> None:
        # 1. configuration, the stages storage and (images purge) the images repo
        werf = read_werf_config(settings)
        run.project = settings.project or werf.project
        run.metadata["werf_yaml_env"] = list(werf.template_env)
        inventory = extract_stages_storage(settings, run.project, with_stages=stages)
        names = sorted(set(werf.images) | set(inventory.managed_names))
        tags, image_blobs, image_signs = extract_images_repo(settings, run.project, names) if images else (None, None, None)
        run.blobs = [inventory.blobs, image_blobs]  # what the audit's reclaimable bytes are computed from
        # werf 1.2 / 2.x content read as v1.1's would be deleted: stop before deciding anything
        check_storage_format([inventory.newer_format, image_signs])
        publish_inventory(inventory, with_stages=stages, image_tags=tags)
        # 2. containers using stages stop the purge unless --force (then they are plan rows)
        remove_containers = check_containers_using_stages(settings, inventory) if stages else False
        # 3. everything of the project goes, in execution order
        plan = build_deletion_plan(decide_project_purge(tags, inventory, stages, remove_containers))
        run.execute(plan)

    return finish(run, body)
