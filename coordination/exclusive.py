"""One deleting run at a time per stages storage and per images repo.

Before a run reads anything it holds every storage it will delete in:

* on this host, an OS file lock (`adapters/run_lock.py`): the kernel releases it when the
  holding process dies, however it dies;
* on a Prefect server (`PREFECT_API_URL` set), also a global concurrency limit of one slot per
  storage (created when missing), taken with a lease that Prefect renews while the run lives; the
  server revokes the lease of a run that died once it expires (`LEASE_SECONDS`). This is what
  keeps runs on different workers apart. The ephemeral API is not used for it: its leases live in
  one process's memory, so a crashed run would hold the slot forever.

A run that cannot get a storage within `wait_seconds()` stops with exit code 1, naming the
storage and the run that holds it — before reading or deleting anything.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

from prefect import get_run_logger

from adapters.run_lock import FileRunLock, lock_name, storage_key
from schemas.errors import StorageError
from schemas.vocab import StorageKind

WAIT_ENV = "STAGESWEEP_LOCK_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 10.0
LEASE_SECONDS = 60.0
#: how long taking a free slot may take when the Prefect API answers slowly
API_PATIENCE_SECONDS = 120.0


def wait_seconds() -> float:
    """How long a run waits for a storage another run holds (`STAGESWEEP_LOCK_WAIT_SECONDS`)."""
    try:
        return max(float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_SECONDS)), 0.0)
    except ValueError:
        return DEFAULT_WAIT_SECONDS


def audited_storages(rows: list[dict], images_repo: str | None) -> tuple[str | None, str | None]:
    """The stages storage (or werf 1.2 / 2.x's repository) and the images repo (or final repository)
    an apply deletes in, from the rows it will run."""
    stages = next((r["repository"] for r in rows if r["storage"] in (StorageKind.STAGES_STORAGE, StorageKind.REPO)), None)
    images = images_repo if any(r["storage"] == StorageKind.IMAGES_REPO for r in rows) else None
    final = next((r["repository"] for r in rows if r["storage"] == StorageKind.FINAL_REPO), None)
    return stages, images or final


def on_prefect_server() -> bool:
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


class StorageExclusion:
    """The storages one run holds; `release()` lets them all go."""

    def __init__(self, run_id: str, command: str, started_at: datetime) -> None:
        self.holder = {"run_id": run_id, "command": command, "started_at": started_at.isoformat()}
        self.held: set[str] = set()
        self._stack = ExitStack()

    def hold(self, *, stages_storage: str | None = None, images_repo: str | None = None, docker_host: str | None = None) -> None:
        """Hold these storages for the rest of the run (ones already held are skipped)."""
        wanted = {}
        for what, address in (("stages storage", stages_storage), ("images repo", images_repo)):
            if address:
                wanted.setdefault(storage_key(address, docker_host), (what, address))
        wait = wait_seconds()
        # one order everywhere (the stages storage first), so no two runs wait on each other
        for key in sorted(set(wanted) - self.held, key=lambda k: (wanted[k][0] != "stages storage", k)):
            what, address = wanted[key]
            self._stack.enter_context(self._hold_one(key, what, address, wait))
            self.held.add(key)

    def release(self) -> None:
        self._stack.close()
        self.held.clear()

    @contextmanager
    def _hold_one(self, key: str, what: str, address: str, wait: float) -> Iterator[None]:
        logger = get_run_logger()
        with ExitStack() as stack:
            lock = FileRunLock(key)
            if not lock.acquire(self.holder, wait):
                raise _busy(what, address, lock.holder(), wait)
            stack.callback(lock.release)
            if on_prefect_server():
                stack.enter_context(self._server_slot(key, what, address, wait))
            logger.info("holding the %s %s for this run (no other run deletes in it until this one ends)", what, address)
            yield

    @contextmanager
    def _server_slot(self, key: str, what: str, address: str, wait: float) -> Iterator[None]:
        from prefect.client.schemas.objects import ConcurrencyLeaseHolder
        from prefect.concurrency.sync import concurrency

        name = lock_name(key)
        _ensure_limit(name)
        try:
            holder = ConcurrencyLeaseHolder(type="flow_run", id=uuid.UUID(self.holder["run_id"]))
        except ValueError:
            holder = None
        # "held by another run" is decided on the limit's own count, so a slow API (a busy
        # server answering late) is waited for, never mistaken for another run holding the storage
        if not _wait_for_free_slot(name, wait):
            raise _busy(what, address, _read_holder(name), wait, limit=name)
        try:
            slot = concurrency(
                name,
                occupy=1,
                timeout_seconds=max(wait, API_PATIENCE_SECONDS),
                lease_duration=LEASE_SECONDS,
                strict=True,
                holder=holder,
                raise_on_lease_renewal_failure=False,
            )
            slot.__enter__()
        except TimeoutError:
            raise _busy(what, address, _read_holder(name), wait, limit=name) from None
        try:
            _write_holder(name, {**self.holder, "key": key})
            yield
        finally:
            try:
                slot.__exit__(None, None, None)
            except Exception as exc:  # the API is busy or gone: the slot's lease frees it
                get_run_logger().warning(
                    "the Prefect concurrency slot %s was not given back (%s); its lease frees it within %g s",
                    name,
                    exc,
                    LEASE_SECONDS,
                )


def _wait_for_free_slot(name: str, wait: float) -> bool:
    """Whether the limit `name` has a free slot now or within `wait` seconds."""
    import time

    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while True:
            limit = client.read_global_concurrency_limit_by_name(name)
            if limit.active_slots < limit.limit:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0.0)))


def _ensure_limit(name: str) -> None:
    """A global concurrency limit of one slot named `name` (created when missing)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:  # another run created it just now
            pass


def _variable_name(limit: str) -> str:
    return limit.replace("-", "_") + "_holder"


def _write_holder(limit: str, holder: dict) -> None:
    """Who holds the limit, for the message of a run that finds it taken (Prefect has no
    holder query); best effort — it only feeds a message."""
    from prefect.variables import Variable

    try:
        Variable.set(_variable_name(limit), json.dumps(holder), overwrite=True)
    except Exception as exc:  # a busy API costs the message its holder, never the run
        get_run_logger().warning("could not record who holds %s: %s", limit, exc)


def _read_holder(limit: str) -> dict | None:
    from prefect.variables import Variable

    try:
        return json.loads(Variable.get(_variable_name(limit), default="null"))
    except (TypeError, ValueError):
        return None


def _busy(what: str, address: str, holder: dict | None, wait: float, limit: str | None = None) -> StorageError:
    if holder and holder.get("run_id"):
        other = f"{holder.get('command', 'a')} run {holder['run_id']}"
        if holder.get("pid"):
            other += f" (pid {holder['pid']} on {holder.get('host', '?')}"
            other += f", started {holder['started_at']})" if holder.get("started_at") else ")"
        elif holder.get("started_at"):
            other += f" (started {holder['started_at']})"
    else:
        other = "another run"
    where = f" (Prefect concurrency limit {limit})" if limit else ""
    return StorageError(
        f"the {what} {address} is in use by {other}{where}; waited {wait:g} s. Nothing was read or deleted.",
        hint="Two runs never delete in one storage at the same time: run again when that run has ended. "
        "A run that died releases the storage by itself.",
    )
