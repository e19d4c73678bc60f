"""Artifacts and the audit: what each step shows in Prefect (and its run log), and the one
Parquet file per run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from adapters.audit import write_audit
from tasks.extract import StagesInventory


def publish_counts(key: str, title: str, counts: dict[str, int]) -> None:
    """A table artifact of counts after an extract or after planning, also in the run log."""
    rows = [{"item": k, "count": v} for k, v in counts.items()]
    create_table_artifact(key=key, table=rows or [{"item": "(none)", "count": 0}], description=title)
    get_run_logger().info("%s: %s", title, ", ".join(f"{k} {v}" for k, v in counts.items()) or "none")


def publish_inventory(inventory: StagesInventory, *, with_stages: bool, image_tags: pa.Table | None = None) -> None:
    """What the stages storage holds (and, for a purge, the images repo's werf tags)."""
    counts = {"metadata records": inventory.metadata.num_rows, "managed images": inventory.managed.num_rows}
    if with_stages:
        counts["stages"] = inventory.stages.num_rows
        counts["rejected stages"] = int(pc.sum(inventory.stages["rejected"]).as_py() or 0)
    if image_tags is not None:
        counts["image tags"] = image_tags.num_rows
    publish_counts("stages-storage-inventory", "Stages storage records", counts)


def publish_plan(plan: pa.Table) -> None:
    counts = Counter(
        (r["storage"], r["item_type"], r["action"], r["reason"])
        for r in plan.select(["storage", "item_type", "action", "reason"]).to_pylist()
    )
    rows = [{"storage": s, "item_type": t, "action": a, "reason": r, "count": n} for (s, t, a, r), n in sorted(counts.items())]
    create_table_artifact(key="deletion-plan", table=rows or [{"storage": "", "count": 0}], description="Decisions by reason")
    logger = get_run_logger()
    for row in rows:
        logger.info("plan: %(action)s %(storage)s %(item_type)s (%(reason)s): %(count)d", row)


def publish_summary(markdown: str) -> None:
    create_markdown_artifact(key="run-summary", markdown=markdown, description="What was kept, deleted and why")


@task(name="write_audit", cache_policy=NO_CACHE)
def write_audit_file(
    path: str, table: pa.Table, run_metadata: dict[str, object] | None = None, replace_part: bool = False
) -> str:
    """The run's one audit file; `replace_part`: it replaces the part file the run kept while deleting."""
    target = path if "://" in path else Path(path)
    written = str(write_audit(target, table, run_metadata, replace_part=replace_part))  # type: ignore[arg-type]
    get_run_logger().info("audit written: %s (%d rows)", written, table.num_rows)
    return written
