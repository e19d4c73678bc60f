"""A busy or slow Prefect API, at the wire: a fault proxy in front of the session's real Prefect
server answers 503, loses the answer of a call the server performed, or answers late.

* a registry request's slot of `registry:HOST` is taken and given back through 503s;
* a fleet's project run whose create answer was lost is created once (the idempotency key);
* the storage exclusion takes a free storage while the API answers later than the wait, and still
  reports a held one held.

Where a fault is one the Prefect client itself retries (503, a reset connection), its own
retries are turned off (`client_retries=0`): what rides the fault out is then stagesweep's retry,
as once the client's retries are spent on a busy server."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
from prefect import flow
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

from adapters.run_lock import lock_name, storage_key
from schemas.errors import StorageError
from schemas.settings import CleanupSettings, RegistryLimit
from tests.fixtures.prefect_fault_proxy import direct_client

pytestmark = [pytest.mark.slow, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

INCREMENT = "/v2/concurrency_limits/increment-with-lease"
DECREMENT = "/v2/concurrency_limits/decrement-with-lease"
#: how long these tests' runs wait for a held storage (STAGESWEEP_LOCK_WAIT_SECONDS; 10 s by default)
WAIT_SECONDS = 2.0
#: later than a run's wait for a storage, which once bounded taking its slot
SLOW_ANSWER_SECONDS = WAIT_SECONDS + 1.5


def _active_slots(api_url: str, name: str) -> int:
    with direct_client(api_url) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def _create_limit(api_url: str, name: str, limit: int) -> None:
    with direct_client(api_url) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))


def _delete_limit(api_url: str, name: str) -> None:
    from prefect.exceptions import ObjectNotFound

    with direct_client(api_url) as client, contextlib.suppress(ObjectNotFound):
        client.delete_global_concurrency_limit_by_name(name)


@pytest.mark.parametrize("busy", [503, 429, 502])
def test_a_registry_request_slot_is_taken_and_given_back_through_a_busy_api(busy, prefect_api, prefect_fault_proxy):
    from coordination import adapters_from_settings
    from coordination.adapters_from_settings import registry_request_slot

    proxy = prefect_fault_proxy
    host = f"registry-{uuid.uuid4().hex[:8]}.test:5000"
    name = f"registry:{host}"
    _create_limit(prefect_api, name, 2)
    proxy.answer_first(3, busy, "POST", INCREMENT)
    proxy.answer_first(3, busy, "POST", DECREMENT)
    slot = registry_request_slot({host: RegistryLimit(max_concurrent_requests=2)})
    held_while_running = []
    try:
        with proxy.as_api(client_retries=0), slot(host):
            held_while_running.append(_active_slots(prefect_api, name))
    finally:
        client = adapters_from_settings._clients.pop(proxy.api_url, None)
        if client is not None:
            client.__exit__(None, None, None)  # type: ignore[attr-defined]
    assert held_while_running == [1], "the request ran once, holding one slot"
    assert _active_slots(prefect_api, name) == 0, "the slot was given back, not left to its lease"
    _delete_limit(prefect_api, name)
    # each busy answer went to stagesweep's own call: asked again until the server took it
    assert [c[2] for c in proxy.calls_to("POST", INCREMENT)] == [busy, busy, busy, None]
    assert [c[2] for c in proxy.calls_to("POST", DECREMENT)] == [busy, busy, busy, None]


def test_a_project_run_whose_create_answer_was_lost_is_created_once(prefect_api, prefect_fault_proxy):
    from prefect.runtime import flow_run

    from tasks.fleet_pool import start_project_runs

    proxy = prefect_fault_proxy
    flow_name = f"project-cleanup-{uuid.uuid4().hex[:8]}"
    with direct_client(prefect_api) as client:
        # a deployment no worker runs: its runs only need to be created
        deployment_id = client.create_deployment(flow_id=client.create_flow_from_name(flow_name), name="fleet-project")
    create = f"/deployments/{deployment_id}/create_flow_run"
    lost = proxy.lose_first_answer("POST", create)
    settings = CleanupSettings(stages_storage="127.0.0.1:5999/acme/stages", dry_run=True, without_kube=True)

    @flow(name="fleet-with-a-lost-answer")
    def fleet() -> tuple[str, str]:
        return str(flow_run.id), start_project_runs(f"{flow_name}/fleet-project", {"project-a": settings})["project-a"]

    try:
        # a flow run's Prefect client is made when it starts: the whole run talks to the proxy
        with proxy.as_api(client_retries=0):
            parent_id, child_id = fleet()

        assert lost == [f"/api{create}"], "a create reached the server, took effect, and its answer was lost"
        with direct_client(prefect_api) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
            )
            assert [str(r.id) for r in runs] == [child_id], "one run of the project, the one returned"
            assert runs[0].idempotency_key == f"{parent_id}:project-a:1"
            assert runs[0].parent_task_run_id is not None
            assert str(client.read_task_run(runs[0].parent_task_run_id).flow_run_id) == parent_id
        # created by the first ask; the second one, with the same key, was given that run
        statuses = [status for method, path, status in proxy.forwarded if path.endswith(create)]
        assert [s for s in statuses if s < 500] == [201, 200], statuses
    finally:
        with direct_client(prefect_api) as client:
            client.delete_deployment(deployment_id)


@pytest.fixture
def storage(prefect_api, tmp_path, monkeypatch):
    """A stages storage address of its own, the file locks of this test's home, a short wait."""
    from coordination.exclusive import WAIT_ENV

    monkeypatch.setenv("STAGESWEEP_HOME_DIR", str(tmp_path / "home"))
    monkeypatch.setenv(WAIT_ENV, str(WAIT_SECONDS))
    address = f"127.0.0.1:5999/slow-{uuid.uuid4().hex[:8]}/stages"
    name = lock_name(storage_key(address))
    yield address, name
    _delete_limit(prefect_api, name)


def _exclusion(command: str = "cleanup"):
    from prefect.runtime import flow_run

    from coordination.exclusive import StorageExclusion

    return StorageExclusion(str(flow_run.id), command, datetime.now(timezone.utc))


def test_a_free_storage_is_taken_while_the_api_answers_slowly(prefect_api, prefect_fault_proxy, storage):
    proxy = prefect_fault_proxy
    address, name = storage
    proxy.delay(SLOW_ANSWER_SECONDS, "GET", f"/v2/concurrency_limits/{name}")
    proxy.delay(SLOW_ANSWER_SECONDS, "POST", INCREMENT)

    @flow(name="cleanup-on-a-slow-api")
    def run() -> int:
        exclusion = _exclusion()
        exclusion.hold(stages_storage=address)
        try:
            return _active_slots(prefect_api, name)
        finally:
            exclusion.release()

    with proxy.as_api():
        held = run()
    assert held == 1, "the storage was held by this run, on the server"
    increments = proxy.calls_to("POST", INCREMENT)
    assert len(increments) == 1 and increments[0][3] > WAIT_SECONDS, "its slot was answered after the wait"
    assert _active_slots(prefect_api, name) == 0


def test_a_held_storage_is_reported_held_even_when_the_api_is_slow(
    prefect_api, prefect_fault_proxy, storage, tmp_path, monkeypatch
):
    from prefect.runtime import flow_run

    proxy = prefect_fault_proxy
    address, name = storage
    holding, done = threading.Event(), threading.Event()
    other: dict = {}

    @flow(name="cleanup-holding-the-storage")
    def other_run() -> None:
        exclusion = _exclusion()
        exclusion.hold(stages_storage=address)  # straight to the API, not through the proxy
        try:
            other["id"] = str(flow_run.id)
            holding.set()
            done.wait(300)
        finally:
            exclusion.release()

    def other_run_in_its_thread() -> None:
        try:
            other_run()
        except BaseException as exc:
            other["error"] = exc
        finally:
            holding.set()

    @flow(name="cleanup-on-a-slow-api")
    def run() -> tuple[str, float]:
        exclusion = _exclusion()
        started = time.monotonic()
        try:
            exclusion.hold(stages_storage=address)
        except StorageError as exc:
            return str(exc), time.monotonic() - started
        exclusion.release()
        return "", time.monotonic() - started

    thread = threading.Thread(target=other_run_in_its_thread, daemon=True)
    thread.start()
    try:
        assert holding.wait(180) and "id" in other, other.get("error")
        assert _active_slots(prefect_api, name) == 1
        # the other run is on another machine: its file lock is not this run's
        monkeypatch.setenv("STAGESWEEP_HOME_DIR", str(tmp_path / "home-of-this-run"))
        proxy.delay(SLOW_ANSWER_SECONDS, "GET", f"/v2/concurrency_limits/{name}")
        with proxy.as_api():
            message, took = run()
        assert _active_slots(prefect_api, name) == 1, "the other run still holds the storage, and only it"
    finally:
        done.set()
        thread.join(120)
    assert message, "the storage the other run holds was taken"
    assert f"is in use by cleanup run {other['id']}" in message and f"(Prefect concurrency limit {name})" in message
    assert "Nothing was read or deleted." in message
    assert proxy.calls_to("GET", f"/v2/concurrency_limits/{name}"), "the limit was read through the slow API"
    # told after the wait and the slow reads, not after the patience for a slow answer (120 s)
    assert took < WAIT_SECONDS + 3 * SLOW_ANSWER_SECONDS, took
    assert "error" not in other and _active_slots(prefect_api, name) == 0
