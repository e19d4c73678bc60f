"""Apply tasks: read an audited plan and the world as it is now, and re-check the rows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from prefect import get_run_logger, task

from coordination import adapters_from_settings as build
from coordination.task_options import PER_RUN, io_task_options
from core import reapply
from core.stages import stages_needed_by_images
from schemas.errors import ConfigError, StagesweepError
from schemas.settings import ApplySettings
from schemas.vocab import ItemType, StorageKind


@dataclass
class AuditedPlan:
    project: str
    rows: list[dict]  # the rows to run again
    images_repo: str | None  # the images repo the audited run read (None: it read none)
    image_names: list[str]  # the image names the audited run decided on


@dataclass
class CurrentState:
    """The world at apply time: where each audited tag points, and the stages images need."""

    digests: dict[tuple[str, str], str | None]
    needed_stages: dict[tuple[str, str], str]
    #: signs of werf 1.2+ content in the storages the audit names (NEWER_FORMAT_SIGNS_SCHEMA)
    newer_format: pa.Table | None = None


@task(name="read_audited_plan", cache_policy=PER_RUN, persist_result=True)
def read_audited_plan(audit_file: str, only_failed: bool, images_repo_mode: str) -> AuditedPlan:
    from adapters.audit import read_audit

    audit = read_audit(audit_file)
    if audit.num_rows == 0:
        raise StagesweepError(f"the audit {audit_file} has no rows", hint="Pass the audit file of a run that planned deletions.")
    rows = reapply.rows_to_apply(audit, only_failed)
    get_run_logger().info("audit %s: %d rows to apply", audit_file, len(rows))
    every_row = audit.to_pylist()
    return AuditedPlan(
        audit.column("project")[0].as_py(),
        rows,
        reapply.images_repo_of_rows(every_row, images_repo_mode),
        reapply.image_names_of_rows(every_row),
    )


@task(name="read_current_state", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def read_current_state(settings: ApplySettings, plan: AuditedPlan, now: datetime) -> CurrentState:
    """Current digests of the images-repo tags to delete, and — when stages are to be deleted —
    the stages today's images (werf.yaml images, managed images and the audited images) need."""
    digests: dict[tuple[str, str], str | None] = {}
    signs: list[pa.Table] = []  # werf 1.2+ content in what the audit names (the repository changed hands)
    by_repo: dict[str, list[str]] = {}
    for r in plan.rows:
        if r["storage"] == StorageKind.IMAGES_REPO:
            by_repo.setdefault(r["repository"], []).append(r["tag"])
    digests.update(_werf2_digests(settings, plan))
    for repository, tags in by_repo.items():
        repo = build.images_repo(settings, plan.project, repository)
        try:
            found = repo.backend.digests(repository, tags)
            signs.append(repo.newer_format_records(repository))
        finally:
            repo.close()
        digests.update({(repository, t): found.get(t) for t in tags})
    storage_rows = [r for r in plan.rows if r["storage"] == StorageKind.STAGES_STORAGE and r["item_type"] != ItemType.CONTAINER]
    stage_rows = [r for r in storage_rows if r["item_type"] == ItemType.STAGE]
    if not stage_rows:
        if storage_rows:
            stages = build.stages_storage(settings, plan.project, storage_rows[0]["repository"], one_listing=True)
            try:
                signs.append(stages.newer_format_records())
            finally:
                stages.close()
        return CurrentState(digests, {}, pa.concat_tables(signs) if signs else None)
    images_repo = settings.images_repo or plan.images_repo
    if images_repo is None:
        raise ConfigError(
            "the audit deletes stages but names no images repo, so apply cannot check which stages today's images need",
            hint="Pass --images-repo (and --images-repo-mode) of the project; nothing was deleted.",
        )
    stages = build.stages_storage(settings, plan.project, stage_rows[0]["repository"], one_listing=True)
    images = build.images_repo(settings.model_copy(update={"images_repo": images_repo}), plan.project)
    try:
        names = set(stages.list_managed_images().column("image_name").to_pylist())
        names |= set(plan.image_names)
        names |= set(_werf_yaml_images(settings))
        listed, _, stage_signs = stages.read_stages()
        image_tags, _, image_signs = images.read_image_tags(sorted(names))
        signs += [stages.newer_format_records(), stage_signs, image_signs]
        needed = stages_needed_by_images(listed, image_tags, now)
    finally:
        stages.close()
        images.close()
    return CurrentState(digests, needed, pa.concat_tables(signs))


def _werf2_digests(settings: ApplySettings, plan: AuditedPlan) -> dict[tuple[str, str], str | None]:
    """Where the audited tags of werf 1.2 / 2.x repositories point now (None: gone)."""
    found: dict[tuple[str, str], str | None] = {}
    by_repo: dict[tuple[str, str], list[str]] = {}
    for r in plan.rows:
        if r["storage"] in (StorageKind.REPO, StorageKind.FINAL_REPO):
            by_repo.setdefault((r["storage"], r["repository"]), []).append(r["tag"])
    for (storage, repository), tags in by_repo.items():
        repo = build.werf2_repo(settings, plan.project, repository, final=storage == StorageKind.FINAL_REPO)
        try:
            now = repo.backend.digests(repo.repository, tags)
        finally:
            repo.close()
        found.update({(repository, t): now.get(t) for t in tags})
    return found


def _werf_yaml_images(settings: ApplySettings) -> tuple[str, ...]:
    """The werf.yaml's images when the project's werf.yaml is at hand (apply may run elsewhere)."""
    from adapters.werf_files import load_werf_config

    if not settings.config_path().is_file():
        return ()
    return load_werf_config(Path(settings.dir).expanduser(), Path(settings.config).expanduser(), dict(os.environ)).images


@task(name="recheck_audited_rows", cache_policy=PER_RUN, persist_result=True)
def recheck_audited_rows(plan: AuditedPlan, state: CurrentState, kube_images: pa.Table | None) -> pa.Table:
    kube_used = reapply.kube_used_tags(plan.rows, kube_images) if kube_images is not None else {}
    return reapply.recheck(plan.rows, state.digests, kube_used, state.needed_stages)
