"""Registry request slots taken from Prefect in bulk (`coordination/registry_slots.py`), against the
session's real Prefect API and the real registry behind the counting fault proxy: the limit holds
at the wire across processes, the API is asked about once per many requests, rate tokens are spent
no faster than the rate, and a process gives its slots back when it goes idle.

A "process" here is an `ApiSlots` with a Prefect client of its own: the server cannot tell them
from two processes. (A killed process's slots free when their lease expires; the session's
Prefect API is an ephemeral server, which runs no repossessor, so that is not checked here.)"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from adapters.registry import RegistryClient, RegistryOptions
from coordination import registry_slots
from coordination.registry_slots import ApiSlots, request_slot
from schemas.settings import RegistryLimit
from tests.fixtures.fault_proxy import SLOW, FaultProfile
from tests.fixtures.prefect_fault_proxy import direct_client

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

#: each registry GET is held this long at the proxy, so threads really overlap
SLOW_GET_SECONDS = 0.01


@contextlib.contextmanager
def global_limit(api_url: str, name: str, limit: int, decay: float = 0.0):
    """A global concurrency limit of its own for one test, deleted afterwards."""
    from prefect.exceptions import ObjectNotFound

    with direct_client(api_url) as client:
        with contextlib.suppress(ObjectNotFound):
            client.delete_global_concurrency_limit_by_name(name)
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit, slot_decay_per_second=decay))
    try:
        yield
    finally:
        with direct_client(api_url) as client, contextlib.suppress(ObjectNotFound):
            client.delete_global_concurrency_limit_by_name(name)


def active_slots(api_url: str, name: str) -> int:
    with direct_client(api_url) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


@pytest.fixture
def image(registry, unique_repo) -> tuple[str, str]:
    """(repository path, tag) of one image pushed straight to the registry."""
    with RegistryClient(registry.options()) as client:
        client.push_manifest_only_image(registry.repo(unique_repo), "v1", {"config": {}})
    return unique_repo, "v1"


@pytest.fixture
def slow_proxy(fault_proxy):
    """The counting proxy in front of the registry, every GET held `SLOW_GET_SECONDS`."""
    fault_proxy.seed(FaultProfile(0, rates={"GET": 1.0}, kinds=(SLOW,), slow_seconds=SLOW_GET_SECONDS))
    return fault_proxy


def read_manifests(proxy, image, slot, count: int, threads: int) -> None:
    """`count` manifest GETs through `proxy` on `threads` threads, each holding `slot`
    and each in a copy of the caller's context (its Prefect settings)."""
    repo, tag = image
    options = RegistryOptions(insecure_registry=True, timeout=30.0, request_slot=slot)
    with RegistryClient(options) as client, ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(contextvars.copy_context().run, client.get_manifest, proxy.repo(repo), tag) for _ in range(count)]
        for future in futures:
            future.result()


class InFlight:
    """Requests between taking their slot and giving it back, per process and in all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most = 0  # of all processes at once
        self.most_together = 0  # at once, while every process had one in flight

    def counted(self, who: str, slot):
        @contextlib.contextmanager
        def counting(host: str):
            with slot(host):
                with self.lock:
                    self.now[who] += 1
                    total = sum(self.now.values())
                    self.most = max(self.most, total)
                    if all(self.now.values()) and len(self.now) > 1:
                        self.most_together = max(self.most_together, total)
                try:
                    yield
                finally:
                    with self.lock:
                        self.now[who] -= 1

        return counting


def test_threads_of_two_processes_sharing_the_limit_never_have_more_requests_in_flight_than_it(prefect_api, slow_proxy, image):
    host = slow_proxy.host
    limit = RegistryLimit(max_concurrent_requests=5)
    in_flight = InFlight()
    with global_limit(prefect_api, f"registry:{host}", 5):
        # 4 threads each: one process alone cannot fill the limit, so both have slots at once
        with ApiSlots(prefect_api) as one, ApiSlots(prefect_api) as two:
            slow_proxy.max_in_flight = 0
            runs = [
                threading.Thread(
                    target=read_manifests,
                    args=(slow_proxy, image, in_flight.counted(who, request_slot({host: limit}, slots)), 200, 4),
                )
                for who, slots in (("one", one), ("two", two))
            ]
            for run in runs:
                run.start()
            for run in runs:
                run.join(300)
        assert active_slots(prefect_api, f"registry:{host}") == 0, "both gave their slots back when they ended"
    assert sum(slow_proxy.requests.values()) >= 400
    assert slow_proxy.max_in_flight <= 5, "never more than the limit in flight at the registry"
    assert in_flight.most <= 5
    assert in_flight.most_together >= 2, "both processes had requests in flight at once"


def test_hundreds_of_requests_ask_the_prefect_api_at_most_once_per_twenty(prefect_api, prefect_fault_proxy, slow_proxy, image):
    from coordination.adapters_from_settings import _clients, registry_request_slot

    host = slow_proxy.host
    slot = registry_request_slot({host: RegistryLimit(max_concurrent_requests=4)})
    with global_limit(prefect_api, f"registry:{host}", 4):
        slow_proxy.max_in_flight = 0
        with prefect_fault_proxy.as_api():  # the requests' threads use the Prefect API through the proxy
            read_manifests(slow_proxy, image, slot, 400, 8)
        held_after = active_slots(prefect_api, f"registry:{host}")
        _clients.pop(prefect_fault_proxy.api_url).close()
        assert active_slots(prefect_api, f"registry:{host}") == 0
    requests = sum(slow_proxy.requests.values())
    calls = prefect_fault_proxy.calls  # every call, the slots' releases at the end included
    assert requests >= 400
    assert len(calls) <= 0.05 * requests, calls
    assert 1 <= held_after <= 4, "the slots stayed with the process between requests"
    assert slow_proxy.max_in_flight <= 4


def test_rate_tokens_taken_in_bulk_are_spent_no_faster_than_the_rate(prefect_api, prefect_fault_proxy, fault_proxy, image):
    host, rate = fault_proxy.host, 100.0
    started: list[float] = []
    lock = threading.Lock()
    with global_limit(prefect_api, f"registry:{host}", 8), global_limit(prefect_api, f"registry-rate:{host}", 100, rate):
        with ApiSlots(prefect_fault_proxy.api_url) as slots:
            slot = request_slot({host: RegistryLimit(max_concurrent_requests=8, requests_per_second=rate)}, slots)

            @contextlib.contextmanager
            def timed(host: str):
                with slot(host):
                    with lock:
                        started.append(time.monotonic())
                    yield

            read_manifests(fault_proxy, image, timed, 400, 8)
    assert len(started) >= 400
    started.sort()
    took = started[-1] - started[0]
    assert took >= (len(started) - 1) / rate * 0.95, f"{len(started)} requests started within {took:.2f} s"
    for i, at in enumerate(started):  # no one-second window holds more than the rate (and thread wake-up jitter)
        assert sum(1 for t in started[i : i + 200] if t < at + 1.0) <= rate + 3
    calls = prefect_fault_proxy.calls
    assert len(calls) <= 0.05 * len(started), calls


def test_slots_a_process_no_longer_uses_go_back_and_a_waiting_process_proceeds(prefect_api):
    host = f"registry-{uuid.uuid4().hex[:8]}.test:5000"
    name, limit = f"registry:{host}", RegistryLimit(max_concurrent_requests=2)
    with global_limit(prefect_api, name, 2), ApiSlots(prefect_api) as busy, ApiSlots(prefect_api) as waiting:
        both_held, done = threading.Barrier(3), threading.Event()

        def request() -> None:
            with busy.holding(host, limit):
                both_held.wait(60)
                done.wait(60)

        threads = [threading.Thread(target=request) for _ in range(2)]
        for thread in threads:
            thread.start()
        both_held.wait(60)
        assert active_slots(prefect_api, name) == 2
        got: list[float] = []

        def other_request() -> None:
            with waiting.holding(host, limit):
                got.append(time.monotonic())
                finish.wait(60)

        finish = threading.Event()
        other = threading.Thread(target=other_request)
        other.start()
        time.sleep(1.0)
        assert not got, "the limit was full: the other process waited"
        done.set()
        for thread in threads:
            thread.join(60)
        ended = time.monotonic()
        assert active_slots(prefect_api, name) == 2, "the idle process still holds its slots for a short while"
        deadline = time.monotonic() + 2 * registry_slots.IDLE_SECONDS + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            assert got, "the other process got a slot once the first went idle"
            assert got[0] - ended <= 2 * registry_slots.IDLE_SECONDS + 5, got[0] - ended
            assert active_slots(prefect_api, name) == 1, "the first process holds nothing, the other one slot"
        finally:
            finish.set()
            other.join(60)
