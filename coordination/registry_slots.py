"""Registry request slots taken from Prefect in bulk and lent to this process's threads.

Every process that talks to a limited registry host shares the Prefect global concurrency limit
``registry:HOST`` and, where a rate is set, the rate limit ``registry-rate:HOST``: they stay the one
truth across processes and workers. A process does not ask the API for a slot per request: it
leases a share of the limit (several slots in one call) and lends them to its threads, and

* grows its share while threads wait and the limit has free slots (asking for what the waiting
  threads need, for fewer down to one when the limit cannot give that), never past the limit;
* renews its leases every ``RENEW_SECONDS`` (a lease lasts ``LEASE_SECONDS``);
* gives a lease back once its threads have not needed those slots for ``IDLE_SECONDS``, every
  lease when the process ends, and never a slot in use (a lease given up waits for its requests);
* holding the whole limit, gives its smallest lease older than ``TURN_SECONDS`` back and does not
  grow for ``TURN_PAUSE_SECONDS``, so a process waiting for its first slot gets a turn (the API
  does not say whether anyone waits: alone, this costs a slot for 1.5 s out of 30 s);
* dies holding slots: they free when their lease expires (the server's repossessor).

Rate tokens are taken ``RATE_BATCH_SECONDS`` of the rate at a time and spent no faster than the
rate; tokens left when the server has counted them spent are dropped. A busy API (429/502/503/504,
a dropped connection) is asked again with jitter; 423 means the limit is full; a lease the server
no longer knows (404/410) is free already.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from coordination.registry_shares import (
    _GONE,
    API_BUSY_STATUSES,
    CLOSE_RETRY_SECONDS,
    IDLE_SECONDS,
    LEASE_SECONDS,
    POLL_MAX_SECONDS,
    RELEASE_RETRY_SECONDS,
    TICK_SECONDS,
    _busy,
    _jitter,
    _Lease,
    _log,
    _RateTokens,
    _retry_after,
    _SlotPool,
    _status_of,
)
from schemas.errors import ConfigError
from schemas.settings import RegistryLimit

__all__ = ["API_BUSY_STATUSES", "IDLE_SECONDS", "LEASE_SECONDS", "ApiSlots", "request_slot"]


class _Held:
    """A registry request's slot (and rate token): the context manager the transport holds."""

    __slots__ = ("pool", "rate")

    def __init__(self, pool: _SlotPool, rate: _RateTokens | None) -> None:
        self.pool, self.rate = pool, rate

    def __enter__(self) -> None:
        self.pool.acquire()
        if self.rate is not None:
            try:
                self.rate.take()
            except BaseException:
                self.pool.release()
                raise

    def __exit__(self, *exc: object) -> None:
        self.pool.release()


class ApiSlots:
    """The slots and tokens this process holds through one Prefect API, with a client of its own."""

    def __init__(self, api_url: str | None = None) -> None:
        self.api_url = api_url
        self.pid = os.getpid()
        self.closed = False
        self._finished = False  # the client is closed: no more API calls
        self._lock = threading.Lock()
        self._pools: dict[str, _SlotPool] = {}
        self._rates: dict[str, _RateTokens] = {}
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self._client: Any = None
        _LIVING.add(self)

    # ------------------------------------------------------------------ what a request holds
    def holding(self, host: str, limit: RegistryLimit) -> _Held:
        with self._lock:
            if self.closed:
                raise RuntimeError("the registry slots of this Prefect API were closed")
            name, cap = f"registry:{host}", limit.max_concurrent_requests
            pool = self._pools.get(name) or self._pools.setdefault(name, _SlotPool(self, name, cap))
            if pool.configured != cap:
                with pool.cond:
                    pool.configured = pool.cap = cap
            rate, per_second = None, limit.requests_per_second
            if per_second:
                name = f"registry-rate:{host}"
                rate = self._rates.get(name) or self._rates.setdefault(name, _RateTokens(self, name, per_second))
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="registry-slots", daemon=True)
                self._keeper.start()
        return _Held(pool, rate)

    # ------------------------------------------------------------------ the API
    def client(self) -> Any:
        with self._lock:
            if self._finished:
                raise RuntimeError("the registry slots of this Prefect API were closed")
            if self._client is None:
                if self.api_url:
                    from prefect.client.orchestration import SyncPrefectClient
                    from prefect.settings import PREFECT_API_KEY

                    client = SyncPrefectClient(self.api_url, api_key=PREFECT_API_KEY.value())
                else:
                    from prefect.client.orchestration import get_client

                    client = get_client(sync_client=True)
                client.__enter__()
                self._client = client
                _hook_exit()
            return self._client

    def _increment(self, name: str, want: int, lease: bool) -> tuple[Any, int, float]:
        """Ask for `want` slots of `name` (fewer, down to one, when that many are not free):
        (the answer's body, slots got, 0), or (None, 0, seconds to wait) when the limit is full."""
        while True:
            try:
                if lease:
                    response = self.client().increment_concurrency_slots_with_lease(
                        names=[name], slots=want, mode="concurrency", lease_duration=LEASE_SECONDS
                    )
                else:
                    response = self.client().increment_concurrency_slots(names=[name], slots=want, mode="rate_limit")
                return response.json(), want, 0.0
            except Exception as exc:
                status = _status_of(exc)
                if status in (422, 423) and want > 1:  # 422: more than the limit itself
                    want //= 2
                elif status == 423:
                    return None, 0, _retry_after(exc, 0.1)
                elif _busy(exc):
                    time.sleep(_jitter(min(_retry_after(exc, 0.1), POLL_MAX_SECONDS)))
                else:
                    raise

    def take_slots(self, pool: _SlotPool, want: int) -> tuple[_Lease | None, float]:
        """A lease of up to `want` slots of `pool`'s limit, or (None, seconds to wait)."""
        body, got, wait = self._increment(pool.name, want, lease=True)
        if body is None:
            return None, wait
        with pool.cond:
            pool.cap = min([pool.cap, *(int(limit["limit"]) for limit in body.get("limits") or [])])
        now = time.monotonic()
        lease = _Lease(str(body["lease_id"]), got, now, now)
        if self.closed:  # closed meanwhile: nobody would renew or give it back
            self._give_back(lease, CLOSE_RETRY_SECONDS)
            raise RuntimeError("the registry slots of this Prefect API were closed")
        return lease, 0.0

    def take_tokens(self, rate: _RateTokens, want: int) -> tuple[int, float]:
        """Up to `want` tokens of `rate`'s limit: (how many, 0), or (0, seconds to wait)."""
        body, got, wait = self._increment(rate.name, want, lease=False)
        if body is None:
            return 0, wait
        if not body:
            raise ConfigError(
                f"the Prefect rate limit {rate.name} does not exist",
                hint="A fleet run creates it from the `registries:` of its fleet file.",
            )
        rate.cap = min(rate.cap, int(body[0]["limit"]))
        return got, 0.0

    def _give_back(self, lease: _Lease, patience: float = RELEASE_RETRY_SECONDS) -> None:
        deadline = time.monotonic() + patience
        delay = 0.1
        while True:
            try:
                self.client().release_concurrency_slots_with_lease(lease.id)
                return
            except Exception as exc:
                if _status_of(exc) in _GONE:
                    return  # the lease expired already: the slots are free
                if time.monotonic() > deadline or not _busy(exc):
                    _log.warning("%d registry request slots not given back (%s): their lease frees them", lease.slots, exc)
                    return
                time.sleep(_jitter(delay))
                delay = min(delay * 2, 2.0)

    def _renew(self, pool: _SlotPool, lease: _Lease) -> None:
        try:
            self.client().renew_concurrency_lease(lease.id, lease_duration=LEASE_SECONDS)
        except Exception as exc:
            if _status_of(exc) in _GONE:
                _log.warning("the lease of %d slots of %s expired; they are not held any more", lease.slots, pool.name)
                pool.lost(lease)
            elif not _busy(exc):
                _log.warning("renewing the lease of %d slots of %s failed: %s", lease.slots, pool.name, exc)
            return  # a busy API: the next tick asks again
        lease.renewed = time.monotonic()

    # ------------------------------------------------------------------ keeping and closing
    def _tend(self, closing: bool = False) -> None:
        with self._lock:
            pools = list(self._pools.values())
        now = time.monotonic()
        for pool in pools:
            give_back, renew = pool.tend(now, closing)
            for lease in give_back:
                self._give_back(lease, CLOSE_RETRY_SECONDS if closing else RELEASE_RETRY_SECONDS)
            for lease in renew:
                if lease not in give_back:
                    self._renew(pool, lease)

    def _keep(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self._tend()
            except Exception as exc:  # the keeper must outlive one bad tick; the leases bound the harm
                _log.warning("keeping registry request slots failed: %s", exc)

    def close(self) -> None:
        """Give every lease back and close the client."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            keeper = self._keeper
        self._stop.set()
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join(CLOSE_RETRY_SECONDS)  # a keeper stuck on a busy API is left behind (a daemon)
        if os.getpid() == self.pid:
            self._tend(closing=True)
        with self._lock:
            self._finished = True
            client, self._client = self._client, None
        if client is not None:
            client.__exit__(None, None, None)

    def __enter__(self) -> ApiSlots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: this process's slots per Prefect API URL
SESSIONS: dict[str, ApiSlots] = {}
#: every `ApiSlots` not yet collected (closed when the process ends)
_LIVING: weakref.WeakSet[ApiSlots] = weakref.WeakSet()
_sessions_lock = threading.Lock()


def current_slots() -> ApiSlots:
    """This process's slots on the Prefect API the calling thread is set to use."""
    from prefect.settings import PREFECT_API_URL

    key = str(PREFECT_API_URL.value())
    with _sessions_lock:
        slots = SESSIONS.get(key)
        if slots is None or slots.closed or slots.pid != os.getpid():
            slots = SESSIONS[key] = ApiSlots(key if key and key != "None" else None)
        return slots


_hooked: set[int] = set()  # processes whose exit gives their slots back


def _hook_exit() -> None:
    """Give every slot back when the process ends; hooked at the first client, after an
    ephemeral Prefect server's own exit hook, so that this one runs first."""
    with _sessions_lock:
        if os.getpid() not in _hooked:
            _hooked.add(os.getpid())
            atexit.register(_close_all)


def _close_all() -> None:
    with _sessions_lock:
        sessions = [s for s in list(_LIVING) if s.pid == os.getpid()]
        SESSIONS.clear()
    for slots in sessions:
        slots.close()


def request_slot(
    limits: Mapping[str, RegistryLimit], slots: ApiSlots | None = None
) -> Callable[[str], AbstractContextManager[object]]:
    """``host -> context manager``: a slot of ``registry:HOST`` (and a token of
    ``registry-rate:HOST`` where a rate is set) for the hosts of `limits`, from `slots` or else
    this process's share on the Prefect API the entering thread uses; nothing for other hosts."""
    hosts = {host.lower(): limit for host, limit in limits.items()}

    def slot(host: str) -> AbstractContextManager[object]:
        limit = hosts.get(host.lower())
        return nullcontext() if limit is None else (slots or current_slots()).holding(host.lower(), limit)

    return slot
