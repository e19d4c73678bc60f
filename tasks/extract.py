"""Extract tasks: read the werf.yaml, git, the stages storage, the images repo and Kubernetes
into tables. Each is cached per flow run (`PER_RUN`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from prefect import get_run_logger, task

from coordination import adapters_from_settings as build
from coordination.task_options import PER_RUN, io_task_options
from schemas.config import WerfConfig
from schemas.settings import CleanupSettings, CommonSettings, KubeSettings
from schemas.tables import NEWER_FORMAT_SIGNS_SCHEMA

if TYPE_CHECKING:
    from adapters.kube import KubeScan


@dataclass
class StagesInventory:
    stages: pa.Table
    metadata: pa.Table
    managed: pa.Table
    containers_using: dict[str, list[str]] = field(default_factory=dict)
    #: blobs of the stage manifests read (BLOBS_SCHEMA; None when stages were not read)
    blobs: pa.Table | None = None
    #: signs of werf 1.2+ content (NEWER_FORMAT_SIGNS_SCHEMA): records by tag, stages by label
    newer_format: pa.Table = field(default_factory=NEWER_FORMAT_SIGNS_SCHEMA.empty_table)
    #: the project the storage was read for (a stage labelled for another one is kept)
    project: str = ""

    @property
    def managed_names(self) -> list[str]:
        return self.managed.column("image_name").to_pylist()


@task(name="read_werf_config", cache_policy=PER_RUN, persist_result=True)
def read_werf_config(settings: CommonSettings) -> WerfConfig:
    """werf.yaml rendered as werf renders it (templates, `.werf/` partials, `env`) and validated."""
    from adapters.werf_files import load_werf_config, load_werf_config_from_git

    if settings.git_url:
        # the first read of a run by URL: fetch the mirror (prune) once, then read from a ref
        mirror = _git_mirror(settings)
        mirror.sync()
        werf = load_werf_config_from_git(
            mirror, settings.config_ref, settings.config, dict(os.environ), settings.env, werf2=settings.werf2
        )
    else:
        config = Path(settings.config).expanduser()
        werf = load_werf_config(Path(settings.dir).expanduser(), config, dict(os.environ), settings.env, werf2=settings.werf2)
    if werf.ignored_keys:
        get_run_logger().warning("werf.yaml keys ignored by cleanup: %s", ", ".join(werf.ignored_keys))
    return werf


def _git_mirror(settings: CommonSettings):
    from adapters.git_mirror import GitMirror

    return GitMirror(str(settings.git_url), settings.home_dir)


@task(name="extract_git_history", cache_policy=PER_RUN, persist_result=True)
def extract_git_history(settings: CleanupSettings, werf: WerfConfig) -> tuple[pa.Table, pa.Table]:
    """References and commits; first synced with origin when werf.yaml or the settings ask."""
    from adapters.git_repo import GitRepo

    if settings.git_url:
        # the mirror was fetched when the werf.yaml was read from it
        repo = GitRepo(_git_mirror(settings).ensure(), mirror=True)
        sync = True
    else:
        sync = bool(settings.git_history_synchronization or werf.allow_fetch_origin_branches_and_tags)
        repo = GitRepo(settings.dir)
        repo.prepare(sync=sync, allow_shallow=settings.allow_git_shallow_clone)
    refs, commits = repo.references(), repo.commits()
    get_run_logger().info(
        "git %s: %d references, %d commits (synced with origin: %s)",
        settings.git_url or settings.dir,
        refs.num_rows,
        commits.num_rows,
        sync,
    )
    return refs, commits


@task(name="extract_stages_storage", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_stages_storage(settings: CommonSettings, project: str, with_stages: bool = True) -> StagesInventory:
    storage = build.stages_storage(settings, project, one_listing=True)
    try:
        stages, blobs, stage_signs = storage.read_stages() if with_stages else (None, None, None)
        containers = storage.containers_using_stages() if with_stages else {}
        records = storage.newer_format_records()
        inventory = StagesInventory(
            stages=stages if stages is not None else pa.table({}),
            metadata=storage.list_metadata(),
            managed=storage.list_managed_images(),
            containers_using=containers,
            blobs=blobs,
            newer_format=pa.concat_tables([records, stage_signs]) if stage_signs is not None else records,
            project=project,
        )
    finally:
        storage.close()
    get_run_logger().info(
        "stages storage %s: %s stages, %d metadata records, %d managed images",
        settings.stages_storage,
        inventory.stages.num_rows if with_stages else "(not read)",
        inventory.metadata.num_rows,
        inventory.managed.num_rows,
    )
    return inventory


@task(name="extract_managed_images", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_managed_images(settings: CommonSettings, project: str) -> tuple[pa.Table, pa.Table]:
    """The managed-image records, and the werf 1.2+ records among the storage's tags."""
    storage = build.stages_storage(settings, project, one_listing=True)
    try:
        return storage.list_managed_images(), storage.newer_format_records()
    finally:
        storage.close()


@task(name="extract_images_repo", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_images_repo(settings: CommonSettings, project: str, image_names: list[str]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The werf tags of the images repo, the blobs of every manifest read there (BLOBS_SCHEMA),
    and the signs of werf 1.2+ content among its tags (NEWER_FORMAT_SIGNS_SCHEMA)."""
    repo = build.images_repo(settings, project)
    try:
        tags, blobs, signs = repo.read_image_tags(sorted(image_names))
    finally:
        repo.close()
    get_run_logger().info("images repo %s: %d werf tags of %d images", settings.images_repo, tags.num_rows, len(image_names))
    return tags, blobs, signs


@task(name="extract_kube_images", cache_policy=PER_RUN, persist_result=True)
def extract_kube_images(settings: KubeSettings, parallel: int) -> KubeScan:
    """The images workloads use, and what was listed (contexts, namespaces) for the audit."""
    from adapters.kube import KubeOptions, scan_kube

    scan = scan_kube(
        KubeOptions(
            kube_config=settings.kube_config,
            kube_config_base64=build.kube_config_base64(settings),  # or the Secret block kube_config_secret names
            contexts=list(settings.kube_context) or None,
            context_namespace_only=settings.scan_context_namespace_only,
            namespaces=list(settings.kube_scan_namespace) or None,
            parallel=parallel,
        )
    )
    logger = get_run_logger()
    logger.info("kubernetes: %d images used by workloads in %s", scan.images.num_rows, scan.describe())
    for context, namespace in scan.empty:
        logger.warning("kubernetes: no workload in namespace %r of context %r uses an image (misspelt?)", namespace, context)
    return scan
