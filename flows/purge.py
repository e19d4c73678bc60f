"""Manual cleaning (SPEC §7): `purge`, `images_purge`, `stages_purge`. No Kubernetes check."""

from __future__ import annotations

from prefect import flow

from coordination.deletion_run import finish
from flows.project_inventory import read_project
from flows.repo_runs import run_repo_purge
from schemas.settings import PurgeSettings
from schemas.summary import RunSummary
from schemas.vocab import Command
from tasks.decide import build_deletion_plan, decide_project_purge
from tasks.delete import deletion_run
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
    if settings.werf2:  # werf 1.2 / 2.x's one repository (`--repo`)
        return run_repo_purge(settings, command)
    run = deletion_run(command, settings)

    def body() -> None:
        # 1. configuration, the stages storage and (images purge) the images repo; the format checked
        project = read_project(run, settings, stages=stages, images=images)
        inventory, tags = project.inventory, project.tags
        publish_inventory(inventory, with_stages=stages, image_tags=tags)
        # 2. containers using stages stop the purge unless --force (then they are plan rows)
        remove_containers = check_containers_using_stages(settings, inventory) if stages else False
        # 3. everything of the project goes, in execution order
        plan = build_deletion_plan(decide_project_purge(tags, inventory, stages, remove_containers))
        run.execute(plan)

    return finish(run, body)
