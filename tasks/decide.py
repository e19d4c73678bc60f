"""Decision tasks: thin wrappers over core/ (keep policies, allow-list, stages keep set, purge,
re-checks, plan)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pyarrow as pa
from prefect import get_run_logger, task

from coordination.task_options import PER_RUN
from core import plan as plans
from core import purge as purges
from core import stages as stage_rules
from core.allow_list import match_used_tags
from core.cleanup_switches import CleanupSwitches, cleanup_switches
from core.images import decide_images, remaining_image_tags
from core.storage_format import refuse_newer_werf_content
from schemas.config import KeepPolicy, WerfConfig
from schemas.settings import CleanupSettings
from tasks.extract import StagesInventory


@task(name="apply_keep_policies", cache_policy=PER_RUN, persist_result=True)
def apply_keep_policies(
    tags: pa.Table,
    metadata: pa.Table,
    refs: pa.Table,
    commits: pa.Table,
    policies: list[KeepPolicy],
    now: datetime,
    kube_images: pa.Table | None,
    switches: CleanupSwitches | None = None,
) -> pa.Table:
    kube_used = match_used_tags(tags, kube_images) if kube_images is not None else None
    if switches is None:
        return decide_images(tags, metadata, refs, commits, policies, now, kube_used)
    return decide_images(
        tags,
        metadata,
        refs,
        commits,
        policies,
        now,
        kube_used,
        git_history=switches.git_history,
        keep_built_within=switches.images_window,
    )


def switches_of(settings: CleanupSettings, werf: WerfConfig) -> CleanupSwitches:
    """The policies this cleanup applies: the option and werf.yaml's werf v1.2 / 2 cleanup keys."""
    switches = cleanup_switches(
        settings.keep_stages_built_within_last_n_hours,
        keep_images_built_within_last_n_hours=werf.keep_images_built_within_last_n_hours,
        disable_built_within_last_n_hours_policy=werf.disable_built_within_last_n_hours_policy,
        disable_git_history_based_policy=werf.disable_git_history_based_policy,
        disable=werf.cleanup_disabled,
    )
    get_run_logger().info("cleanup policies: %s", switches.describe())
    return switches


@task(name="check_storage_format", cache_policy=PER_RUN, persist_result=True)
def check_storage_format(signs: list[pa.Table | None], options: str = "--stages-storage/--images-repo") -> None:
    """Stop before any decision when a storage read as werf v1.1's holds werf 1.2+ content."""
    found = [table for table in signs if table is not None]
    if found:
        refuse_newer_werf_content(pa.concat_tables(found), options)


@task(name="decide_stage_keep_set", cache_policy=PER_RUN, persist_result=True)
def decide_stage_keep_set(
    inventory: StagesInventory,
    tags: pa.Table,
    image_decisions: pa.Table | None,
    now: datetime,
    keep_hours: float,
) -> pa.Table:
    """Stages decisions against the image tags that stay after images cleanup (all of them
    when there was no images cleanup)."""
    remaining = remaining_image_tags(tags, image_decisions) if image_decisions is not None else tags
    return stage_rules.decide_stages(
        inventory.stages, remaining, now, timedelta(hours=keep_hours), inventory.containers_using, project=inventory.project
    )


@task(name="decide_project_purge", cache_policy=PER_RUN, persist_result=True)
def decide_project_purge(
    tags: pa.Table | None, inventory: StagesInventory, stages: bool, remove_containers: bool
) -> list[pa.Table]:
    return purges.decide_purge(
        tags,
        inventory.stages if stages else None,
        inventory.metadata,
        inventory.managed,
        inventory.containers_using if remove_containers else None,
        project=inventory.project,
    )


@task(name="decide_managed_images_rm", cache_policy=PER_RUN, persist_result=True)
def decide_managed_images_rm(managed: pa.Table, names: list[str], storage: str | None = None) -> pa.Table:
    """Delete rows for the records of `names` (refused when a name is not a werf image name);
    `storage`: `repo` for a werf 1.2 / 2.x repository's records."""
    from adapters.storage.codec import validate_image_name

    if storage is None:
        names = [validate_image_name(name) for name in names]
    else:  # werf 1.2 / 2.x image names: `~` is the nameless image, any other name as written
        names = ["" if name in ("~", "") else name for name in names]
    missing = sorted(set(names) - set(managed.column("image_name").to_pylist()))
    if missing:
        get_run_logger().warning("not managed images (nothing to remove): %s", ", ".join(n or "~" for n in missing))
    return purges.decide_managed_images_rm(managed, names, storage)


@task(name="build_deletion_plan", cache_policy=PER_RUN, persist_result=True)
def build_deletion_plan(decisions: list[pa.Table]) -> pa.Table:
    plan = plans.build_plan(decisions)
    get_run_logger().info("plan: %d rows, %d to delete", plan.num_rows, plans.count_deletes(plan))
    return plan


def stage_reviser(
    inventory: StagesInventory, tags: pa.Table, now: datetime, keep_hours: float, *, after_images: bool
) -> Callable[[list[dict]], list[dict]]:
    """What the run applies after each deletion phase: stages of images whose delete failed
    stay (`core.stages.revise_after_failed_images`, when the run deletes images and stages), and
    the rejected marker of a stage whose delete did not happen stays
    (`core.stages.keep_markers_of_stages_not_deleted`)."""

    def revise(rows: list[dict]) -> list[dict]:
        if after_images:
            rows = stage_rules.revise_after_failed_images(
                rows, inventory.stages, tags, now, timedelta(hours=keep_hours), inventory.containers_using
            )
        return stage_rules.keep_markers_of_stages_not_deleted(rows)

    return revise
