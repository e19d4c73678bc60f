"""Tasks of a werf 1.2 / 2.x repository run (`--repo`, SPEC §13): read the repository (and the
final repository), refuse werf v1.1 content, decide cleanup or purge, and write the `cleanup`
record. Thin: the reading is `adapters.storage.werf2_repo`'s, the deciding `core.werf2_*`'s."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from prefect import get_run_logger, task

from coordination import adapters_from_settings as build
from coordination.task_options import PER_RUN, io_task_options
from core.cleanup_switches import CleanupSwitches
from core.werf2_revise import revise_after_phase
from schemas.config import WerfConfig
from schemas.keep_policies import KeepPolicy
from schemas.repo_tables import RepoInventory
from schemas.settings import CleanupSettings, CommonSettings


@task(name="extract_repo", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_repo(settings: CommonSettings, project: str, image_names: list[str], final: bool = False) -> RepoInventory:
    """Every tag of the repository once, its stages and records (`--final-repo`'s when `final`)."""
    repo = build.werf2_repo(settings, project, final=final)
    try:
        inventory = repo.read_inventory(sorted(image_names))
    finally:
        repo.close()
    get_run_logger().info(
        "%s %s: %d tags, %d stages, %d meta records, %d custom tags, %d import metadata, %d managed images",
        "final repo" if final else "repo",
        settings.final_repo if final else settings.repo,
        inventory.tags.num_rows,
        inventory.stages.num_rows,
        inventory.meta.num_rows,
        inventory.custom_tags.num_rows,
        inventory.import_metadata.num_rows,
        inventory.managed.num_rows,
    )
    return inventory


def werf2_policies(werf: WerfConfig) -> list[KeepPolicy]:
    """The werf.yaml's keep policies with werf v2's defaults (SPEC §13.3 step 4)."""
    from core.werf2_cleanup import werf2_keep_policies

    return werf2_keep_policies(None if werf.keep_policies_are_default else list(werf.keep_policies))


@task(name="check_repo_format", cache_policy=PER_RUN, persist_result=True)
def check_repo_format(inventories: list[RepoInventory | None]) -> None:
    """Stop before any decision when a `--repo` holds werf v1.1 content (SPEC §13.4)."""
    from core.storage_format import refuse_older_werf_content

    for inventory in inventories:
        if inventory is not None and inventory.older_format.num_rows:
            refuse_older_werf_content(inventory.older_format, inventory.repository)


@task(name="decide_repo_cleanup", cache_policy=PER_RUN, persist_result=True)
def decide_repo_cleanup(
    repo: RepoInventory,
    final: RepoInventory | None,
    *,
    project: str,
    werf_images: list[str],
    refs: pa.Table | None,
    commits: pa.Table | None,
    policies: list[KeepPolicy],
    kube: pa.Table | None,
    now: datetime,
    window_hours: float,
    keep_list: list[str],
    switches: CleanupSwitches,
) -> pa.Table:
    from core.werf2_cleanup import decide_repo_cleanup as decide

    return decide(
        repo,
        final,
        project=project,
        werf_images=werf_images,
        refs=refs,
        commits=commits,
        policies=policies,
        kube=kube,
        now=now,
        window_hours=window_hours,
        keep_list=keep_list,
        switches=switches,
    )


def revise_repo_rows(rows: list[dict]) -> list[dict]:
    """What the run applies after each deletion phase: the records of a stage (or custom tag)
    whose delete did not happen stay with it (`core.werf2_revise`)."""
    return revise_after_phase(rows)


@task(name="decide_repo_purge", cache_policy=PER_RUN, persist_result=True)
def decide_repo_purge(repo: RepoInventory, final: RepoInventory | None, project: str) -> pa.Table:
    from core.werf2_purge import decide_repo_purge as decide

    return decide(repo, final, project=project)


@task(name="write_cleanup_record", **io_task_options())
def write_cleanup_record(settings: CleanupSettings, project: str, now_ms: int) -> str:
    """werf's `cleanup` record (`lastcleanuptimestamp`), written after a real cleanup."""
    repo = build.werf2_repo(settings, project)
    try:
        return repo.write_cleanup_record(now_ms)
    finally:
        repo.close()


@task(name="read_keep_list", cache_policy=PER_RUN, persist_result=True)
def read_keep_list(path: str) -> list[str]:
    from adapters.keep_list import read_keep_list as read

    return read(path)
