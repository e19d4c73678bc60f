"""Artifacts and the audit: what each step shows in Prefect, and the one Parquet file per run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from adapters.audit import write_audit


def publish_counts(key: str, title: str, counts: dict[str, int]) -> None:
    """A table artifact of counts after an extract or after planning."""
    rows = [{"item": k, "count": v} for k, v in counts.items()]
    create_table_artifact(key=key, table=rows or [{"item": "(none)", "count": 0}], description=title)


def publish_plan(plan: pa.Table) -> None:
    counts = Counter(
        (r["storage"], r["item_type"], r["action"], r["reason"])
        for r in plan.select(["storage", "item_type", "action", "reason"]).to_pylist()
    )
    rows = [
        {"storage": s, "item_type": t, "action": a, "reason": r, "count": n}
        for (s, t, a, r), n in sorted(counts.items())
    ]
    create_table_artifact(key="deletion-plan", table=rows or [{"storage": "", "count": 0}], description="Decisions by reason")


class DeletionProgress:
    """A Prefect progress artifact updated as deletion batches finish."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.artifact_id = create_progress_artifact(progress=0.0, key="deletion-progress", description="Deletions done")

    def advance(self, n: int) -> None:
        self.done += n
        update_progress_artifact(artifact_id=self.artifact_id, progress=min(100.0, 100.0 * self.done / self.total))


def publish_summary(markdown: str) -> None:
    create_markdown_artifact(key="run-summary", markdown=markdown, description="What was kept, deleted and why")


@task(name="write_audit", cache_policy=NO_CACHE)
def write_audit_file(path: str, table: pa.Table) -> str:
    return str(write_audit(Path(path), table))
