"""The shares of registry request limits a process holds (see ``coordination/registry_slots.py``): the
slots of a ``registry:HOST`` global concurrency limit it leased and lends to its threads, the
tokens of a ``registry-rate:HOST`` rate limit it took, and the timings both keep."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Protocol

#: the shortest lease the Prefect server accepts; a dead process's slots are free this long after
LEASE_SECONDS = 60.0
#: renewed well within the lease, so a renewal the busy API refuses is tried again in time
RENEW_SECONDS = 15.0
#: slots no thread of this process needed for this long go back to the limit
IDLE_SECONDS = 2.0
#: holding the whole limit, a lease this old goes back ...
TURN_SECONDS = 30.0
#: ... and the share does not grow again for this long (a waiting process polls at least as often)
TURN_PAUSE_SECONDS = 1.5
#: a share that found the limit full asks again after this, doubling up to `GROW_BACKOFF_MAX`
GROW_BACKOFF_SECONDS = 0.5
GROW_BACKOFF_MAX = 8.0
#: a process holding no slot asks a full limit again after its Retry-After, at most this
POLL_MAX_SECONDS = 1.0
#: rate tokens taken in one call: this many seconds of the rate
RATE_BATCH_SECONDS = 0.5
#: how long giving a lease back is retried while the API is busy; then its lease frees it
RELEASE_RETRY_SECONDS = 30.0
#: the same when the process ends (its exit waits no longer for a busy API)
CLOSE_RETRY_SECONDS = 5.0
#: how often the keeper renews, shrinks and gives back
TICK_SECONDS = 0.25

#: answers of a Prefect API that is busy (SQLite under many workers, a proxy in front): ask again
API_BUSY_STATUSES = frozenset({429, 502, 503, 504})
_GONE = frozenset({404, 410})

_log = logging.getLogger("stagesweep")


def _status_of(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


def _busy(exc: BaseException) -> bool:
    import httpx

    return _status_of(exc) in API_BUSY_STATUSES or isinstance(exc, httpx.TransportError)


def _retry_after(exc: BaseException, default: float) -> float:
    value = getattr(getattr(exc, "response", None), "headers", {}).get("Retry-After")
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _jitter(seconds: float) -> float:
    return seconds * (0.5 + random.random())


class LimitApi(Protocol):
    """What a share asks of the process's Prefect API (``registry_slots.ApiSlots``)."""

    def take_slots(self, pool: _SlotPool, want: int) -> tuple[_Lease | None, float]: ...

    def take_tokens(self, rate: _RateTokens, want: int) -> tuple[int, float]: ...


@dataclass
class _Lease:
    id: str
    slots: int
    taken: float
    renewed: float


class _SlotPool:
    """The slots of one global concurrency limit this process holds, lent to its threads."""

    def __init__(self, api: LimitApi, name: str, cap: int) -> None:
        self.api, self.name = api, name
        self.configured = self.cap = cap  # `cap` drops to the server's limit when that is lower
        self.cond = threading.Condition()
        self.leases: list[_Lease] = []
        self.retiring: list[_Lease] = []  # given up; released once their slots are not in use
        self.held = 0  # slots of `leases`
        self.in_use = 0
        self.waiting = 0
        self.peak = 0  # most slots wanted at once (in use + waiting) since `window_start`
        self.window_start = time.monotonic()
        self.growing = False
        self.grow_after = 0.0
        self.backoff = GROW_BACKOFF_SECONDS
        self.probe = False  # the limit was full: ask for one slot first

    def acquire(self) -> None:
        with self.cond:
            self.waiting += 1
            self.peak = max(self.peak, self.in_use + self.waiting)
            try:
                while self.in_use >= self.held:
                    now = time.monotonic()
                    if not self.growing and self.held < self.cap and now >= self.grow_after:
                        self._grow()
                    else:
                        wake = self.grow_after - now if not self.growing and self.held < self.cap else POLL_MAX_SECONDS
                        self.cond.wait(min(max(wake, 0.01), POLL_MAX_SECONDS))
                self.in_use += 1
            finally:
                self.waiting -= 1

    def release(self) -> None:
        with self.cond:
            self.in_use -= 1
            self.cond.notify()

    def _grow(self) -> None:
        """Take more slots (called holding `cond`, which is let go during the API call)."""
        self.growing = True
        want = 1 if self.probe else max(1, min(self.cap - self.held, self.waiting))
        self.cond.release()
        try:
            lease, wait = self.api.take_slots(self, want)
        finally:
            self.cond.acquire()
            self.growing = False
            self.cond.notify_all()
        now = time.monotonic()
        if lease is not None:
            self.leases.append(lease)
            self.held += lease.slots
            self.probe, self.backoff = False, GROW_BACKOFF_SECONDS
        elif self.held == 0:
            self.probe, self.grow_after = True, now + _jitter(min(wait, POLL_MAX_SECONDS))
        else:  # threads are served by the slots held; ask for more later, less often
            self.probe, self.grow_after = True, now + _jitter(self.backoff)
            self.backoff = min(self.backoff * 2, GROW_BACKOFF_MAX)

    def _retire(self, lease: _Lease) -> None:
        self.leases.remove(lease)
        self.held -= lease.slots
        self.retiring.append(lease)

    def tend(self, now: float, closing: bool) -> tuple[list[_Lease], list[_Lease]]:
        """(leases to give back now, leases to renew now)."""
        with self.cond:
            if closing:
                for lease in list(self.leases):
                    self._retire(lease)
            elif now - self.window_start >= IDLE_SECONDS:
                spare = self.held - self.peak
                for lease in sorted(self.leases, key=lambda lease: lease.slots):
                    if lease.slots <= spare:
                        self._retire(lease)
                        spare -= lease.slots
                self.window_start, self.peak = now, self.in_use + self.waiting
            old = [lease for lease in self.leases if now - lease.taken >= TURN_SECONDS]
            if old and self.held >= self.cap:
                self._retire(min(old, key=lambda lease: lease.slots))
                self.grow_after = max(self.grow_after, now + TURN_PAUSE_SECONDS)
            give_back: list[_Lease] = []
            if self.retiring and (closing or self.in_use <= self.held):
                give_back, self.retiring = self.retiring, []
            renew = [lease for lease in self.leases + self.retiring if now - lease.renewed >= RENEW_SECONDS]
            return give_back, renew

    def lost(self, lease: _Lease) -> None:
        """The server no longer knows `lease`: its slots are not this process's any more."""
        with self.cond:
            if lease in self.leases:
                self.leases.remove(lease)
                self.held -= lease.slots
            elif lease in self.retiring:
                self.retiring.remove(lease)


class _RateTokens:
    """Tokens of one rate limit this process took, spent no faster than the rate."""

    def __init__(self, api: LimitApi, name: str, per_second: float) -> None:
        self.api, self.name, self.per_second = api, name, per_second
        self.cap = max(1, math.ceil(per_second))  # the limit a fleet run gives the rate limit
        self.cond = threading.Condition()
        self.tokens = 0
        self.expires = 0.0
        self.next_at = 0.0
        self.taking = False
        self.retry_at = 0.0

    def take(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                if self.tokens and now < self.expires:
                    self.tokens -= 1
                    at = max(now, self.next_at)
                    self.next_at = at + 1 / self.per_second
                    break
                if not self.taking and now >= self.retry_at:
                    self._refill()
                else:
                    wake = POLL_MAX_SECONDS if self.taking else self.retry_at - now
                    self.cond.wait(min(max(wake, 0.01), POLL_MAX_SECONDS))
        pause = at - time.monotonic()
        if pause > 0:
            time.sleep(pause)

    def _refill(self) -> None:
        self.taking = True
        want = max(1, min(self.cap, math.ceil(self.per_second * RATE_BATCH_SECONDS)))
        self.cond.release()
        try:
            got, wait = self.api.take_tokens(self, want)
        finally:
            self.cond.acquire()
            self.taking = False
            self.cond.notify_all()
        now = time.monotonic()
        if got:
            # the server counts them spent over got / rate seconds from now
            self.tokens, self.expires = got, now + (got + 1) / self.per_second
        else:
            self.retry_at = now + _jitter(min(wait, POLL_MAX_SECONDS))
