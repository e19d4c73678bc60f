"""Deletion progress, one abstraction for both places that show it: the run's Prefect progress
artifact (`deletion-progress`) and, when the CLI installed one, its terminal reporter."""

from __future__ import annotations

from typing import Protocol

from prefect.artifacts import create_progress_artifact, update_progress_artifact


class Reporter(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


_reporter: Reporter | None = None


def install(reporter: Reporter | None) -> None:
    """The CLI's terminal reporter for the flow runs of this process (None removes it)."""
    global _reporter
    _reporter = reporter


class DeletionProgress:
    """Started once the plan is known; advanced as deletion batches finish."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.artifact_id = create_progress_artifact(progress=0.0, key="deletion-progress", description="Deletions done")
        if _reporter is not None:
            _reporter.start(total)

    def advance(self, n: int) -> None:
        if not n:
            return
        self.done += n
        update_progress_artifact(artifact_id=self.artifact_id, progress=min(100.0, 100.0 * self.done / self.total))
        if _reporter is not None:
            _reporter.advance(n)
