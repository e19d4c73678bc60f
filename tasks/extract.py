"""Extract tasks: read git, the stages storage, the images repo and Kubernetes into tables.

Each is cached per flow run (TASK_SOURCE + INPUTS + RUN_ID) so a flow run retried in place plans exactly
what it planned the first time and skips the deletion batches it already finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from prefect import task
from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE

from schemas.settings import CleanupSettings, CommonSettings
from tasks import adapters_from_settings as build
from tasks.retry import io_task_options

#: cache key = which task (its source) + its inputs + the flow run: never shared between tasks
PER_RUN = TASK_SOURCE + INPUTS + RUN_ID


@dataclass
class StagesInventory:
    stages: pa.Table
    metadata: pa.Table
    managed: pa.Table
    containers_using: dict[str, list[str]] = field(default_factory=dict)


@task(name="read_werf_config", cache_policy=PER_RUN, persist_result=True)
def read_werf_config(settings: CommonSettings):
    from schemas.config import load_werf_config

    return load_werf_config(settings.config_path())


@task(name="extract_git_history", cache_policy=PER_RUN, persist_result=True)
def extract_git_history(settings: CleanupSettings, sync: bool) -> tuple[pa.Table, pa.Table]:
    from adapters.git_repo import GitRepo

    repo = GitRepo(settings.dir)
    repo.prepare(sync=sync, allow_shallow=settings.allow_git_shallow_clone)
    return repo.references(), repo.commits()


@task(name="extract_stages_storage", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_stages_storage(settings: CommonSettings, project: str, with_stages: bool = True) -> StagesInventory:
    storage = build.stages_storage(settings, project)
    stages = storage.list_stages() if with_stages else None
    containers = {}
    if with_stages and hasattr(storage, "containers_using_stages"):
        containers = storage.containers_using_stages()
    return StagesInventory(
        stages=stages if stages is not None else pa.table({}),
        metadata=storage.list_metadata(),
        managed=storage.list_managed_images(),
        containers_using=containers,
    )


@task(name="extract_images_repo", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_images_repo(settings: CommonSettings, project: str, image_names: list[str]) -> pa.Table:
    return build.images_repo(settings, project).list_image_tags(sorted(image_names))


@task(name="extract_kube_images", cache_policy=PER_RUN, persist_result=True)
def extract_kube_images(settings: CleanupSettings) -> pa.Table:
    from adapters.kube import KubeOptions, list_kube_images

    return list_kube_images(
        KubeOptions(
            kube_config=settings.kube_config,
            contexts=list(settings.kube_context) or None,
            parallel=settings.parallel_tasks_limit,
        )
    )
