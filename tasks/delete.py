"""Deletion batches: hundreds of rows per task run, concurrent requests inside.

A batch task run that ends with failed rows raises `DeletionsFailed` (carrying every row's outcome)
so it is not cached: a flow run retried in place runs it again, while finished batches come
back from the cache without a single request.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prefect import task
from prefect.context import TaskRunContext

from adapters.docker_host import DockerStore
from adapters.home_dir import HomeDir
from coordination import adapters_from_settings as build
from coordination.deletion_run import DeletionRun, RunSteps
from coordination.task_options import PER_RUN, io_task_options
from schemas.errors import DeletionsFailed, RegistryError, StorageError
from schemas.settings import CommonSettings, HostSettings, PurgeSettings, RunSettings
from schemas.vocab import Command, ItemType, Outcome, StorageKind
from tasks.cleanup_report import save_cleanup_report
from tasks.publish import publish_plan, publish_summary, write_audit_file

_BETTER = {Outcome.DELETED.value: 2, Outcome.ALREADY_GONE.value: 1, Outcome.KEPT.value: 1}
# outcomes of earlier attempts of the same task run, so a retried attempt only redoes what failed
_attempts: dict[str, dict[tuple, dict]] = {}
_attempts_lock = threading.Lock()


MAX_RETRY_AFTER = 60.0


def _honour_retry_after(results: list[dict]) -> None:
    """A 429 says how long to wait: wait that long (at most a minute) before Prefect retries."""
    waits = [r["retry_after"] for r in results if r.get("retry_after")]
    if waits:
        time.sleep(min(max(waits), MAX_RETRY_AFTER))


def _key(row: dict) -> tuple:
    return (row["storage"], row["repository"], row["tag"], row["item_type"])


def execute_rows(
    settings: RunSettings, project: str, rows: list[dict], leaving: dict[str, list[str]] | None = None
) -> list[dict]:
    """Delete `rows` (all of one storage) and return them with `outcome`, `error`, `retryable`
    (and `keep_reason`, `keep_detail` for a delete found unsafe when it was about to run)."""
    if not rows:
        return []
    store = _store_for(settings, project, rows[0])
    werf_storage = rows[0]["storage"] in WERF_STORAGES
    if leaving is not None and werf_storage and rows[0]["item_type"] != ItemType.CONTAINER.value:
        results = store.delete_items(rows, settings.parallel_tasks_limit, leaving=leaving)
    else:
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
                    "keep_reason": getattr(res, "reason", None),
                    "keep_detail": getattr(res, "detail", None),
                }
            )
    return out


#: storages whose deletes take the plan's leaving tags (a tag that stays is never removed)
WERF_STORAGES = frozenset(
    {StorageKind.IMAGES_REPO.value, StorageKind.STAGES_STORAGE.value, StorageKind.REPO.value, StorageKind.FINAL_REPO.value}
)
#: storage kind → the settings field its registry implementation comes from
_IMPLEMENTATION_OF = {
    StorageKind.IMAGES_REPO.value: "images_repo",
    StorageKind.STAGES_STORAGE.value: "stages_storage",
    StorageKind.REPO.value: "repo",
    StorageKind.FINAL_REPO.value: "final_repo",
}


def _store_for(settings: RunSettings, project: str, row: dict) -> Any:
    """What deletes `row`'s kind of item: the home dir, the Docker daemon, the images repo or the
    stages storage of the row."""
    item_type, storage = row["item_type"], row["storage"]
    if item_type == ItemType.CACHE_ENTRY.value and isinstance(settings, HostSettings):
        return HomeDir(settings.home_dir)
    if storage == StorageKind.HOST.value or item_type == ItemType.CONTAINER.value:
        force = isinstance(settings, (HostSettings, PurgeSettings)) and settings.force
        return DockerStore(settings.docker_host, force=force, parallel=settings.parallel_tasks_limit)
    if not isinstance(settings, CommonSettings):
        raise StorageError(f"{storage} rows cannot be deleted by this command")
    if storage == StorageKind.IMAGES_REPO.value:
        return build.images_repo(settings, project, row["repository"])
    if storage in (StorageKind.REPO.value, StorageKind.FINAL_REPO.value):
        return build.werf2_repo(settings, project, row["repository"], final=storage == StorageKind.FINAL_REPO.value)
    return build.stages_storage(settings, project, row["repository"])


@task(name="delete_batch", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def delete_batch(
    settings: RunSettings, project: str, rows: list[dict], leaving: dict[str, list[str]] | None = None
) -> list[dict]:
    """Delete `rows`; `leaving`: repository → every tag the plan deletes there (see `leaving_tags`)."""
    ctx = TaskRunContext.get()
    run_key = str(ctx.task_run.id) if ctx and ctx.task_run else ""
    with _attempts_lock:
        earlier = _attempts.setdefault(run_key, {})
        todo = [r for r in rows if earlier.get(_key(r), {}).get("outcome") not in _BETTER]
    fresh = execute_rows(settings, project, todo, leaving)
    for res in fresh:
        prev = earlier.get(_key(res))
        if prev is None or _BETTER.get(res["outcome"], 0) >= _BETTER.get(prev["outcome"], 0):
            earlier[_key(res)] = res
    results = [earlier.get(_key(r), {**r, "outcome": Outcome.FAILED.value, "error": "not attempted"}) for r in rows]
    if any(r["outcome"] == Outcome.FAILED.value for r in results):
        _honour_retry_after(fresh)
        raise DeletionsFailed.of_batch(results)
    with _attempts_lock:
        _attempts.pop(run_key, None)
    return results


def settled_outcomes(task_run_id: str) -> list[dict]:
    """The rows earlier attempts of a batch task run deleted (or found gone), for a batch that
    later stopped as a whole; the attempts are forgotten."""
    with _attempts_lock:
        earlier = _attempts.pop(task_run_id, {})
    return [r for r in earlier.values() if r["outcome"] in _BETTER]


@task(name="check_deletes_permitted", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def check_deletes_permitted(settings: RunSettings, targets: list[tuple[str, str]]) -> None:
    """Probe every (storage, repository) the plan deletes from before the first delete, the way
    the storage's registry implementation deletes; a refusal names the storage and the implementation."""
    from adapters.storage.preflight import check_delete_permitted

    for storage, repository in targets:
        options = build.registry_options(settings)
        found = None
        if isinstance(settings, CommonSettings) and storage in _IMPLEMENTATION_OF:
            found = build.storage_implementation(settings, _IMPLEMENTATION_OF[storage], repository)
            if found:
                options = build.registry_options(settings, found[0])
        try:
            check_delete_permitted(repository, options)
        except RegistryError as exc:
            if found:
                exc.message = f"{storage} {repository} ({found[0]} implementation, {found[1]}): {exc.message}"
            raise


#: the task calls a deleting run (`coordination.deletion_run.DeletionRun`) makes
RUN_STEPS = RunSteps(
    publish_plan=publish_plan,
    publish_summary=publish_summary,
    write_audit_file=write_audit_file,
    save_cleanup_report=save_cleanup_report,
    check_deletes_permitted=check_deletes_permitted,
    delete_batch=delete_batch,
    settled_outcomes=settled_outcomes,
)


def deletion_run(command: Command, settings: RunSettings) -> DeletionRun:
    """A deleting run of `command` whose steps are these tasks."""
    return DeletionRun(command, settings, RUN_STEPS)
