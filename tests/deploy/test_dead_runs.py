"""Runs whose process dies, at the wire: the worker's real `prefect server start`, a process work
pool of each test's own, workers and the fleet CLI, killed with SIGKILL.

No heartbeat setting anywhere (Prefect's default 180 s on the server, the workers and the CLI):
stagesweep's runs heartbeat every 30 s by themselves; the killed-CLI test shortens the zombie
automation to 2 missed heartbeats (a test copy of deployments/automations.yaml). The test server
notices an expired lease or an ended window sooner than Prefect's default loops do
(`tests/deploy/server.py`, `SERVICE_LOOPS`); the lease and the windows are Prefect's and
stagesweep's own.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterParentFlowRunId,
)

from adapters.audit import read_audit
from tests.deploy.helpers import api_client, create_process_pool
from tests.deploy.server import BIN, PROJECT_ROOT, stop_process
from tests.e2e.test_fleet import fleet_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.slow]
#: the pool runs on a Prefect server backed by PostgreSQL, as deployments/README.md recommends
PREFECT_SERVER_DATABASE = "postgresql"


class WebhookReceiver:
    """A local webhook: every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.append(json.loads(data or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionResetError):  # a sender closing early
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()


def short_timings_env(
    prefect_server, tmp_path: Path, webhook: WebhookReceiver, *, missed_heartbeats: int = 2, **extra: str
) -> dict[str, str]:
    """Workers polling every second, zombies crashed after `missed_heartbeats` of stagesweep's
    30 s heartbeats, failures of fleet-project runs notified to `webhook`; no heartbeat setting."""
    spec = yaml.safe_load((PROJECT_ROOT / "deployments" / "automations.yaml").read_text())
    spec["crash_zombie_runs"]["missed_heartbeats"] = missed_heartbeats
    spec["notify_failed_runs"]["deployments"] = ["fleet-project"]
    automations = tmp_path / "automations.yaml"
    automations.write_text(yaml.safe_dump(spec))
    env = prefect_server.env(
        HOME=str(tmp_path),
        PREFECT_WORKER_QUERY_SECONDS="1",
        STAGESWEEP_PREFECT_SERVER_AUTOSTART="false",
        STAGESWEEP_AUTOMATIONS_FILE=str(automations),
        STAGESWEEP_ALERT_WEBHOOK_URL=webhook.url,
        COLUMNS="300",
        **extra,
    )
    assert not {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "STAGESWEEP_HEARTBEAT_SECONDS"} & set(env)
    return env


def fleet_command(path: Path, pool: str, audit: Path) -> list[str]:
    return [str(BIN / "stagesweep"), "fleet", "cleanup", str(path), "--work-pool", pool, "--audit-dir", str(audit)]


def wait_for(predicate, timeout: float, what: str, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(poll)


def test_a_killed_fleet_cli_frees_its_slots_within_about_a_minute_and_the_next_run_says_what_it_waited_for(
    prefect_server, registry, webhook, tmp_path, monkeypatch
):
    names = ["alpha", "beta", "gamma"]
    worlds, fleet = fleet_world(registry, f"tests/killed-cli-{uuid.uuid4().hex[:8]}", tmp_path, names)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    # a child of the dead run may still be cleaning when the next run's child starts: it waits
    env = short_timings_env(prefect_server, tmp_path, webhook, STAGESWEEP_LOCK_WAIT_SECONDS="300")
    pool = "killed-cli"
    create_process_pool(prefect_server, pool)
    command = fleet_command(path, pool, tmp_path / "audit")
    first_log = tmp_path / "first.log"
    worker = None
    with api_client(prefect_server) as client:
        from coordination.automations import apply_automations

        monkeypatch.delenv("STAGESWEEP_HEARTBEAT_SECONDS", raising=False)  # no heartbeat setting here either
        # the automations exist before the first run's first heartbeat (as once they are created
        # anywhere); `stagesweep server automations` itself is run by the killed-worker test
        applied = "\n".join(apply_automations(webhook_url=webhook.url, path=env["STAGESWEEP_AUTOMATIONS_FILE"]))
        assert "stagesweep-crash-zombie-flow-runs: " in applied and "no heartbeat for 60 s" in applied, applied
        assert "stagesweep-notify-failed-runs: " in applied, applied
        from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

        from coordination.slots import write_holder

        # another holder has gamma: the fleet run creates alpha's and beta's runs, then waits
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="project:gamma", limit=1))
        taken = client.increment_concurrency_slots_with_lease(
            names=["project:gamma"], slots=1, mode="concurrency", lease_duration=600
        )
        write_holder("project:gamma", {"run_id": "the-test", "command": "a test"}, logging.getLogger("test"))
        since = datetime.now(timezone.utc)
        with first_log.open("w") as out:
            first = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: "waiting for the project gamma" in first_log.read_text(), 300, "the first run to wait for gamma")
            # the zombie automation watches runs that have heartbeated: kill once the server has one
            dead = _fleet_runs_since(client, since)[0]
            wait_for(lambda: _heartbeats(client, dead.id), 120, "the first run's first heartbeat on the server")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            killed_at = datetime.now(timezone.utc)
            client.release_concurrency_slots_with_lease(taken.json()["lease_id"])
            worker = prefect_server.spawn(
                str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", "after-kill", "--limit", "4",
                env=env, log=tmp_path / "worker.log",
            )  # fmt: skip
            second = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
            fleet_runs = _fleet_runs_since(client, since)
            # the automation may end the dead parent after the next run is done (up to two windows
            # after its last heartbeat)
            fleet_runs[0] = wait_for_final(client, fleet_runs[0].id, 240)
            # the next run created its children once it held their slots
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[fleet_runs[-1].id]))
            )
        finally:
            if first.poll() is None:
                first.kill()
            if worker is not None:
                stop_process(worker)
    first_output = first_log.read_text()
    output = second.stdout + second.stderr
    assert "waiting for the project gamma (Prefect concurrency limit project:gamma)" in first_output
    assert "held by a test run the-test" in first_output
    assert second.returncode == 0, output
    # the next run waited for the dead run's slots, said for what and who held them, and got
    # them within about a minute of the kill
    assert "waiting for the project alpha (Prefect concurrency limit project:alpha)" in output, output
    assert "held by fleet_cleanup run" in output
    assert sorted(r.name for r in children) == names
    freed_after = (max(r.created for r in children) - killed_at).total_seconds()
    assert freed_after < 120, f"the dead run's slots were taken again {freed_after:.0f} s after the kill"
    # gamma, never started by the dead run, is named in the next run's summary
    assert [line for line in output.splitlines() if "gamma" in line and "not run last time" in line], output
    assert [line for line in output.splitlines() if "alpha" in line and "not run last time" in line] == [], output
    for world, facts in worlds.values():
        assert facts["f1"] not in world.image_tags()
    # the dead parent stopped heartbeating: Prefect's zombie automation ended it Crashed
    assert [r.state.type.value for r in fleet_runs] == ["CRASHED", "COMPLETED"], [(r.id, r.state) for r in fleet_runs]
    assert f"held by fleet_cleanup run {fleet_runs[0].id}" in output


def _parent(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _flow_run_process(roots: list[int], flow_run_id: str) -> tuple[int, int] | None:
    """(pid, the root it descends from) of the process running `flow_run_id` (its
    PREFECT__FLOW_RUN_ID), a descendant of one of `roots`."""
    wanted = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            environ = (pid_dir / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted not in environ:
            continue
        ancestor = int(pid_dir.name)
        while ancestor > 1:
            if ancestor in roots:
                return int(pid_dir.name), ancestor
            ancestor = _parent(ancestor)
    return None


def test_with_prefect_defaults_a_worker_killed_mid_project_ends_it_crashed_within_two_minutes_and_the_fleet_reruns_it(
    prefect_server, registry, fault_proxy, webhook, tmp_path
):
    names = ["steady", "victim", "third"]
    worlds, fleet = fleet_world(registry, f"tests/killed-worker-{uuid.uuid4().hex[:8]}", tmp_path, names, host=fault_proxy.host)
    fleet["registries"] = {}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    env = short_timings_env(prefect_server, tmp_path, webhook, missed_heartbeats=3)
    pool = "killed-worker"
    prefect = str(BIN / "prefect")
    create_process_pool(prefect_server, pool)
    with api_client(prefect_server) as client:
        # the automation as it was made under Prefect's default heartbeat: 3 × 180 s
        from coordination.automations import _upsert, load_spec, zombie_automation

        _upsert(client, zombie_automation(load_spec(env["STAGESWEEP_AUTOMATIONS_FILE"])["crash_zombie_runs"], 180))
    applied = prefect_server.run(str(BIN / "stagesweep"), "server", "automations", env=env).stdout
    assert (
        "stagesweep-crash-zombie-flow-runs: updated (no heartbeat for 90 s → Crashed, was 540 s; 3 × the 30 s heartbeat"
        in applied
    )
    # the victim's deletes hang until the test lets them go: its run is mid-deletion
    gate = threading.Event()
    held: list[str] = []

    def hold_victim_deletes(method: str, n: int, path: str) -> None:
        if method == "DELETE" and "/victim" in path and not gate.is_set():
            held.append(path)
            gate.wait(600)
        return None

    fault_proxy.rule = hold_victim_deletes
    workers = [
        prefect_server.spawn(
            prefect, "worker", "start", "--pool", pool, "--name", f"w{i}", "--limit", "1", env=env, log=tmp_path / f"w{i}.log"
        )
        for i in range(2)
    ]
    fleet_log = tmp_path / "fleet.log"
    with fleet_log.open("w") as out:
        fleet_run = subprocess.Popen(
            fleet_command(path, pool, tmp_path / "audit"),
            env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    by_name = FlowRunFilter(name=FlowRunFilterName(any_=["victim"]))
    since = datetime.now(timezone.utc)
    try:
        with api_client(prefect_server) as client:
            wait_for(lambda: held, 600, "the victim to delete")
            victim = wait_for(
                lambda: [r for r in client.read_flow_runs(flow_run_filter=by_name) if r.state.is_running()], 120, "victim running"
            )[0]
            pid, owner = wait_for(lambda: _flow_run_process([w.pid for w in workers], str(victim.id)), 60, "the victim's process")
            # the zombie automation watches runs that have heartbeated: kill once the server has one
            wait_for(lambda: _heartbeats(client, victim.id), 120, "the victim's first heartbeat on the server")
            os.killpg(owner, signal.SIGKILL)  # the worker, and its flow-run process with it
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            gate.set()
            crashed = wait_for_final(client, victim.id, 400)
            last_heartbeat = _last_heartbeat(client, victim.id)
            fleet_run.wait(timeout=900)
            runs = sorted(client.read_flow_runs(flow_run_filter=by_name), key=lambda r: r.created)
            final = {name: _newest_run(client, name) for name in names}
            # the limits this fleet's runs made (the server is the test worker's, shared by its tests)
            held_slots = [
                (gcl.name, gcl.active_slots)
                for gcl in client.read_global_concurrency_limits(limit=200)
                if gcl.active_slots and gcl.created >= since
            ]
    finally:
        gate.set()
        if fleet_run.poll() is None:
            fleet_run.kill()
        for worker in workers:
            stop_process(worker)
    output = fleet_log.read_text()
    # the dead project ends Crashed by Prefect's zombie automation within 2 minutes of its last heartbeat
    assert crashed.state.is_crashed() and "no heartbeat for 90 s" in (crashed.state.message or ""), crashed.state
    silent_for = (crashed.state.timestamp - last_heartbeat).total_seconds()
    assert silent_for < 120, f"Crashed {silent_for:.0f} s after its last heartbeat"
    # while it waited, the fleet said the run had stopped heartbeating and when it would be declared dead
    dead_at = (last_heartbeat + timedelta(seconds=90)).astimezone().strftime("%H:%M:%S")
    assert f"Prefect declares it dead (Crashed) at about {dead_at}" in output, output
    # the fleet reran it once (on the living worker), cleaned every project and ended 3, naming it
    assert [r.state.type.value for r in runs] == ["CRASHED", "COMPLETED"], [(r.id, r.state) for r in runs]
    assert fleet_run.returncode == 3, output
    assert "1 of 3 projects failed: victim (crashed)" in output
    for name, (world, facts) in worlds.items():
        assert facts["f1"] not in world.image_tags(), name
        assert final[name].state.is_completed(), (name, final[name].state)
        audit = read_audit(tmp_path / "audit" / f"project={name}", str(final[name].id))
        outcomes = set(audit.column("outcome").to_pylist())
        assert audit.num_rows and "failed" not in outcomes and outcomes & {"deleted", "already-gone"}, (name, outcomes)
    assert held_slots == []
    # the crashed run was notified through the webhook block, with its link and its id
    texts = wait_for(
        lambda: [b.get("text", "") for b in webhook.bodies if str(crashed.id) in b.get("text", "")], 120, "the notification"
    )
    assert "Crashed" in texts[0] and f"/runs/flow-run/{crashed.id}" in texts[0], texts[0]


def _fleet_runs_since(client, since: datetime) -> list:
    """The `fleet_cleanup` runs created since `since`, oldest first."""
    found = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["fleet_cleanup"])))
    return sorted((r for r in found if r.created >= since), key=lambda r: r.created)


def _heartbeats(client, flow_run_id) -> list:
    """The newest heartbeat event of the flow run the server has, if any."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    page = client.read_events(
        EventFilter(
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
        ),
        limit=1,
    )
    return list(page.events)


def _last_heartbeat(client, flow_run_id) -> datetime:
    found = _heartbeats(client, flow_run_id)
    assert found, f"flow run {flow_run_id} sent no heartbeat"
    return found[0].occurred


def _newest_run(client, name: str):
    found = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
    return max(found, key=lambda r: r.created)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for_final(client, flow_run_id, timeout: float):
    return wait_for(
        lambda: (r := client.read_flow_run(flow_run_id)).state.is_final() and r, timeout, f"flow run {flow_run_id} to end"
    )
