"""Deletion batches: hundreds of rows per task run, concurrent requests inside.

A batch task run that ends with failed rows raises `BatchFailed` (carrying every row's outcome)
so it is not cached: a flow run retried in place runs it again, while finished batches come
back from the cache without a single request.
"""

from __future__ import annotations

import threading
import time

from prefect import task
from prefect.context import TaskRunContext

from schemas.errors import RegistryAuthError, StagesweepError
from schemas.settings import CommonSettings
from schemas.vocab import ItemType, Outcome, StorageKind
from tasks import adapters_from_settings as build
from tasks.extract import PER_RUN
from tasks.progress import advance
from tasks.retry import io_task_options

_BETTER = {Outcome.DELETED.value: 2, Outcome.ALREADY_GONE.value: 1}
# outcomes of earlier attempts of the same task run, so a retried attempt only redoes what failed
_attempts: dict[str, dict[tuple, dict]] = {}
_attempts_lock = threading.Lock()


class BatchFailed(StagesweepError):
    """Some rows of a deletion batch failed; `results` has every row's outcome."""

    exit_code = 3

    def __init__(self, results: list[dict]) -> None:
        failed = [r for r in results if r["outcome"] == Outcome.FAILED.value]
        first = failed[0] if failed else {}
        super().__init__(
            f"{len(failed)} of {len(results)} deletions failed"
            + (f"; first: {first.get('repository')}:{first.get('tag')}: {first.get('error')}" if first else "")
        )
        self.results = results
        self.retryable = any(r.get("retryable") for r in failed)

    def __reduce__(self):
        return (BatchFailed, (self.results,))


MAX_RETRY_AFTER = 60.0


def _honour_retry_after(results: list[dict]) -> None:
    """A 429 says how long to wait: wait that long (at most a minute) before Prefect retries."""
    waits = [r["retry_after"] for r in results if r.get("retry_after")]
    if waits:
        time.sleep(min(max(waits), MAX_RETRY_AFTER))


def _key(row: dict) -> tuple:
    return (row["storage"], row["repository"], row["tag"], row["item_type"])


def execute_rows(settings: CommonSettings, project: str, rows: list[dict]) -> list[dict]:
    """Delete `rows` (all of one storage) and return them with `outcome`, `error`, `retryable`."""
    if not rows:
        return []
    storage = rows[0]["storage"]
    if storage == StorageKind.HOST.value or rows[0]["item_type"] == ItemType.CONTAINER.value:
        from tasks.host import host_store

        store = host_store(settings, rows[0]["item_type"])
    elif storage == StorageKind.IMAGES_REPO.value:
        store = build.images_repo(settings, project, rows[0]["repository"])
    else:
        store = build.stages_storage(settings, project, rows[0]["repository"])
    results = store.delete_items(rows, settings.parallel_tasks_limit)
    by_tag = {(r.tag, getattr(r, "repository", None) or None): r for r in results}
    out = []
    for row in rows:
        res = by_tag.get((row["tag"], row["repository"])) or by_tag.get((row["tag"], None))
        if res is None:
            out.append({**row, "outcome": Outcome.FAILED.value, "error": "no result from the storage", "retryable": True})
        else:
            out.append(
                {
                    **row,
                    "outcome": res.outcome,
                    "error": res.error,
                    "retryable": bool(res.retryable),
                    "retry_after": getattr(res, "retry_after", None),
                }
            )
    return out


@task(name="delete_batch", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def delete_batch(settings: CommonSettings, project: str, rows: list[dict]) -> list[dict]:
    ctx = TaskRunContext.get()
    run_key = str(ctx.task_run.id) if ctx and ctx.task_run else ""
    with _attempts_lock:
        earlier = _attempts.setdefault(run_key, {})
        todo = [r for r in rows if earlier.get(_key(r), {}).get("outcome") not in _BETTER]
    try:
        fresh = execute_rows(settings, project, todo)
    except RegistryAuthError:
        raise
    for res in fresh:
        prev = earlier.get(_key(res))
        if prev is None or _BETTER.get(res["outcome"], 0) >= _BETTER.get(prev["outcome"], 0):
            earlier[_key(res)] = res
    results = [earlier.get(_key(r), {**r, "outcome": Outcome.FAILED.value, "error": "not attempted"}) for r in rows]
    advance(len(fresh))
    if any(r["outcome"] == Outcome.FAILED.value for r in results):
        _honour_retry_after(fresh)
        raise BatchFailed(results)
    with _attempts_lock:
        _attempts.pop(run_key, None)
    return results


@task(name="check_deletes_permitted", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def check_deletes_permitted(settings: CommonSettings, repositories: list[str]) -> None:
    """Probe every repository the plan deletes from before the first delete."""
    from adapters.storage.preflight import check_delete_permitted

    options = build.registry_options(settings) if hasattr(settings, "insecure_registry") else None
    for repository in repositories:
        check_delete_permitted(repository, options)
