"""werf's JSON cleanup report of a run (`--save-cleanup-report FILE`), written from its audit rows."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from adapters.report_files import write_json_atomic
from core.cleanup_report import cleanup_report


@task(name="save_cleanup_report", cache_policy=NO_CACHE)
def save_cleanup_report(path: str, rows: list[dict], command: str, dry_run: bool, repo: str, final_repo: str | None) -> str:
    document = cleanup_report(rows, command=command, dry_run=dry_run, repo=repo, final_repo=final_repo)
    written = str(write_json_atomic(path, document))
    get_run_logger().info(
        "cleanup report written: %s (%d kept, %d deleted)", written, len(document["kept"]), len(document["deleted"])
    )
    return written
