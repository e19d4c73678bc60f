"""Manual cleaning (SPEC §7): `purge`, `images_purge`, `stages_purge`. No Kubernetes check."""

from __future__ import annotations

from prefect import flow, task

from core.purge import purge_images, purge_stages
from flows.execution import Run, RunSummary, finish
from schemas.errors import StorageError
from schemas.settings import PurgeSettings
from schemas.vocab import Command
from tasks.decide import build_deletion_plan
from tasks.extract import PER_RUN, extract_images_repo, extract_stages_storage, read_werf_config
from tasks.publish import publish_counts


@flow(name="purge", description="Delete every werf image of the project, then every stage and record.")
def purge(settings: PurgeSettings) -> RunSummary:
    return run_purge(settings, Command.PURGE, images=True, stages=True)


@flow(name="images_purge", description="Delete every werf tag of every managed image (foreign tags stay).")
def images_purge(settings: PurgeSettings) -> RunSummary:
    return run_purge(settings, Command.IMAGES_PURGE, images=True, stages=False)


@flow(name="stages_purge", description="Delete every stage, rejected marker, metadata and managed-image record.")
def stages_purge(settings: PurgeSettings) -> RunSummary:
    return run_purge(settings, Command.STAGES_PURGE, images=False, stages=True)


@task(name="decide_purge", cache_policy=PER_RUN, persist_result=True)
def decide_purge(tags, inventory, stages: bool, remove_containers: bool):
    decisions = []
    if tags is not None:
        decisions.append(purge_images(tags))
    if stages:
        users = inventory.containers_using if remove_containers else None
        decisions.append(purge_stages(inventory.stages, inventory.metadata, inventory.managed, users))
    return decisions


def run_purge(settings: PurgeSettings, command: Command, *, images: bool, stages: bool) -> RunSummary:
    run = Run(command.value, settings)

    def body() -> None:
        werf = read_werf_config(settings)
        run.project = settings.project or werf.project
        inventory = extract_stages_storage(settings, run.project, with_stages=stages)
        names = sorted(set(werf.images) | set(inventory.managed.column("image_name").to_pylist()))
        tags = extract_images_repo(settings, run.project, names) if images else None
        publish_counts(
            "purge-inventory",
            "What the purge found",
            {
                "image tags": tags.num_rows if tags is not None else 0,
                "stages": inventory.stages.num_rows if stages else 0,
                "metadata records": inventory.metadata.num_rows,
                "managed images": inventory.managed.num_rows,
            },
        )
        users = sorted({c for cs in inventory.containers_using.values() for c in cs}) if stages else []
        if users and not settings.force:
            raise StorageError(
                f"stages in {settings.stages_storage} are used by containers: {', '.join(users)}",
                hint="Remove those containers, or pass --force to remove them first.",
            )
        # with --force the containers are plan rows too: removed (and audited) before the stages
        plan = build_deletion_plan(decide_purge(tags, inventory, stages, bool(users)))
        run.execute(plan)

    return finish(run, body)
