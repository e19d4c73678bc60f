"""Decision tasks: thin wrappers over core/ (keep policies, allow-list, stages keep set, plan)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from prefect import task

from core import plan as plans
from core.stages import decide_stages
from tasks.extract import PER_RUN


@task(name="apply_keep_policies", cache_policy=PER_RUN, persist_result=True)
def apply_keep_policies(
    tags: pa.Table,
    metadata: pa.Table,
    refs: pa.Table,
    commits: pa.Table,
    policies: list,
    now: datetime,
    kube_images: pa.Table | None,
) -> pa.Table:
    from core.allow_list import match_used_tags
    from core.images import decide_images

    kube_used = match_used_tags(tags, kube_images) if kube_images is not None else None
    return decide_images(tags, metadata, refs, commits, policies, now, kube_used)


@task(name="decide_stage_keep_set", cache_policy=PER_RUN, persist_result=True)
def decide_stage_keep_set(
    stages: pa.Table,
    remaining_images: pa.Table,
    now: datetime,
    keep_hours: float,
    containers_using: dict[str, list[str]],
) -> pa.Table:
    return decide_stages(stages, remaining_images, now, timedelta(hours=keep_hours), containers_using)


@task(name="build_deletion_plan", cache_policy=PER_RUN, persist_result=True)
def build_deletion_plan(decisions: list[pa.Table]) -> pa.Table:
    return plans.build_plan(decisions)
