"""Purge checks that need settings and the inventory."""

from __future__ import annotations

from prefect import task

from coordination.task_options import PER_RUN
from schemas.errors import StorageError
from schemas.settings import PurgeSettings
from tasks.extract import StagesInventory


@task(name="check_containers_using_stages", cache_policy=PER_RUN, persist_result=True)
def check_containers_using_stages(settings: PurgeSettings, inventory: StagesInventory) -> bool:
    """True when containers use stages and --force removes them first; stops without --force."""
    users = sorted({c for cs in inventory.containers_using.values() for c in cs})
    if users and not settings.force:
        raise StorageError(
            f"stages in {settings.stages_storage} are used by containers: {', '.join(users)}",
            hint="Remove those containers, or pass --force to remove them first.",
        )
    return bool(users)
