"""A slot of a Prefect global concurrency limit held on a short lease that the living run renews.

A run holds a slot (`project:NAME`, a storage's limit) with a lease of `LEASE_SECONDS` — the
shortest the Prefect server accepts — and a daemon thread of the holding process renews it every
`RENEW_SECONDS`. When the process dies, however it dies, the renewals stop and the server's
repossessor frees the slot once the lease has expired: within about a minute (`LEASE_SECONDS`
plus the repossessor's 15 s loop).

A run that finds the slot taken says so at once — what it waits for and who holds it (the holder
each run records in a Prefect variable, since Prefect has no holder query) — and again every
`WAIT_LOG_SECONDS` while it waits.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: the shortest lease the Prefect server accepts (`lease_duration >= 60`)
LEASE_SECONDS = 60.0
#: renewed well within the lease, so a renewal that fails once or twice is retried in time
RENEW_SECONDS = 15.0
#: how often a waiting run says again what it waits for
WAIT_LOG_SECONDS = 60.0
#: how often a waiting run asks for the slot
POLL_SECONDS = 2.0
#: answers of a Prefect API that is busy: ask again
_BUSY = frozenset({429, 502, 503, 504})


def _status(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


def _transient(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError) or _status(exc) in _BUSY


def _new_client():
    """A sync client of its own (the renewal thread must not share the run's)."""
    from prefect.client.orchestration import get_client

    client = get_client(sync_client=True)
    client.__enter__()
    return client


def holder_variable(limit: str) -> str:
    """The Prefect variable naming who holds `limit` (variable names: letters, digits, `_`)."""
    import re

    return re.sub(r"[^a-z0-9_]", "_", limit.lower()) + "_holder"


def read_holder(limit: str) -> dict | None:
    """Who holds `limit`, as its holder recorded it; None when unknown."""
    from prefect.variables import Variable

    try:
        value = json.loads(Variable.get(holder_variable(limit), default="null"))
    except Exception:
        return None
    return value if isinstance(value, dict) else None


def write_holder(limit: str, holder: dict, logger: Any) -> None:
    from prefect.variables import Variable

    try:
        Variable.set(holder_variable(limit), json.dumps(holder), overwrite=True)
    except Exception as exc:
        logger.warning("could not record who holds %s: %s", limit, exc)


def describe_holder(holder: dict | None) -> str:
    """'fleet_cleanup run 1234… (started 2024-…)' or 'another run'."""
    if not holder or not holder.get("run_id"):
        return "another run (unknown)"
    text = f"{holder.get('command', 'a')} run {holder['run_id']}"
    details = [f"{k} {holder[k]}" for k in ("pid", "host") if holder.get(k)]
    if holder.get("started_at"):
        details.append(f"started {holder['started_at']}")
    return text + (f" ({', '.join(details)})" if details else "")


class LeasedSlot:
    """One slot of the global concurrency limit `name` (of each limit `name` joins with ", " when
    taken together), held until `release()`."""

    def __init__(self, name: str, lease_id: uuid.UUID, logger: Any) -> None:
        self.name = name
        self.lease_id = lease_id
        self._logger = logger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"stagesweep-lease-{name}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        client = _new_client()
        try:
            while not self._stop.wait(RENEW_SECONDS):
                try:
                    client.renew_concurrency_lease(lease_id=self.lease_id, lease_duration=LEASE_SECONDS)
                except Exception as exc:
                    if _status(exc) == 404:
                        self._logger.warning("the lease on %s expired: the slot is no longer held by this run", self.name)
                        return
                    self._logger.warning("could not renew the lease on %s (%s); trying again", self.name, exc)
        finally:
            client.__exit__(None, None, None)

    @property
    def released(self) -> bool:
        return self._stop.is_set()

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        client = _new_client()
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    client.release_concurrency_slots_with_lease(self.lease_id)
                    return
                except Exception as exc:
                    if _status(exc) == 404:
                        return  # the lease had expired: the slot is free
                    if not _transient(exc) or time.monotonic() > deadline:
                        self._logger.warning(
                            "the slot %s was not given back (%s); its lease frees it within %g s", self.name, exc, LEASE_SECONDS
                        )
                        return
                    time.sleep(0.5 + random.random())
        finally:
            client.__exit__(None, None, None)


def acquire(
    name: str,
    *,
    what: str,
    holder: dict,
    logger: Any,
    timeout: float | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> LeasedSlot | None:
    """Take one slot of `name` on a renewed lease, recording `holder`. While it is taken, say
    what is waited for and who holds it (`what`: e.g. "the project acme"), at once and every
    `WAIT_LOG_SECONDS`. None when `timeout` passed first."""
    lease_holder = _lease_holder(holder)
    started = time.monotonic()
    since = time.strftime("%H:%M:%S")
    next_log = started
    client = _new_client()
    try:
        while True:
            lease_id = _increment(client, [name], lease_holder)
            if lease_id is not None:
                break
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                return None
            if now >= next_log:
                logger.warning(
                    "waiting for %s (Prefect concurrency limit %s) since %s: held by %s",
                    what,
                    name,
                    since,
                    describe_holder(read_holder(name)),
                )
                next_log = now + WAIT_LOG_SECONDS
            if on_wait is not None:
                on_wait(now - started)
            time.sleep(POLL_SECONDS * (0.5 + random.random()))
    finally:
        client.__exit__(None, None, None)
    write_holder(name, {**holder, "limit": name}, logger)
    return LeasedSlot(name, lease_id, logger)


def _lease_holder(holder: dict) -> Any:
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder

    try:
        return ConcurrencyLeaseHolder(type="flow_run", id=uuid.UUID(str(holder.get("run_id"))))
    except (ValueError, TypeError):
        return None


def _increment(client: Any, names: list[str], lease_holder: Any) -> uuid.UUID | None:
    """One slot of each of `names`, all or none, on one lease; None when one is taken or the API is busy."""
    try:
        response = client.increment_concurrency_slots_with_lease(
            names=names, slots=1, mode="concurrency", lease_duration=LEASE_SECONDS, holder=lease_holder
        )
        return uuid.UUID(str(response.json()["lease_id"]))
    except Exception as exc:
        if _status(exc) != 423 and not _transient(exc):
            raise
        return None


def try_acquire_all(names: list[str], *, holder: dict, logger: Any) -> LeasedSlot | None:
    """One slot of each of `names` in one request, on one lease renewed as one; None at once when
    any of them is taken (then take them one by one). The holder is recorded for each limit."""
    if not names:
        return None
    client = _new_client()
    try:
        lease_id = _increment(client, list(names), _lease_holder(holder))
    finally:
        client.__exit__(None, None, None)
    if lease_id is None:
        return None
    return LeasedSlot(", ".join(names), lease_id, logger)


@contextmanager
def holding(name: str, *, what: str, holder: dict, logger: Any | None = None) -> Iterator[LeasedSlot]:
    """Hold one slot of `name` for the block (waiting as long as it takes, saying so)."""
    logger = logger or logging.getLogger("stagesweep")
    slot = acquire(name, what=what, holder=holder, logger=logger)
    assert slot is not None
    try:
        yield slot
    finally:
        slot.release()
