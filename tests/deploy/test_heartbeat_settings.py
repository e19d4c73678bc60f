"""stagesweep's heartbeat period: one setting, carried by every deployment it applies and made into
the zombie automation's window (the run at the wire: tests/deploy/test_dead_runs.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import yaml

from coordination.automations import load_spec, zombie_automation
from coordination.heartbeats import HEARTBEAT_ENV, PREFECT_HEARTBEAT_ENV, heartbeat_job_variables, use_stagesweep_heartbeat
from schemas.errors import ConfigError
from tests.deploy.server import PROJECT_ROOT


@pytest.fixture
def no_heartbeat_setting(monkeypatch):
    monkeypatch.delenv(HEARTBEAT_ENV, raising=False)
    monkeypatch.delenv(PREFECT_HEARTBEAT_ENV, raising=False)
    return monkeypatch


def test_without_a_setting_runs_heartbeat_every_30_s_and_a_run_is_dead_after_90_s(no_heartbeat_setting):
    assert heartbeat_job_variables() == {"env": {PREFECT_HEARTBEAT_ENV: "30"}}
    assert zombie_automation(load_spec()["crash_zombie_runs"]).trigger.within == timedelta(seconds=90)


def test_an_operators_period_is_the_one_deployments_carry_and_the_window_is_made_of(no_heartbeat_setting):
    no_heartbeat_setting.setenv(HEARTBEAT_ENV, "45")
    assert heartbeat_job_variables() == {"env": {PREFECT_HEARTBEAT_ENV: "45"}}
    assert zombie_automation(load_spec()["crash_zombie_runs"]).trigger.within == timedelta(seconds=135)


@pytest.mark.parametrize("value", ["10", "half a minute"])
def test_a_period_prefect_would_refuse_is_refused_naming_the_setting(no_heartbeat_setting, value):
    no_heartbeat_setting.setenv(HEARTBEAT_ENV, value)
    with pytest.raises(ConfigError, match=f"{HEARTBEAT_ENV}=.*at least 30"):
        heartbeat_job_variables()


def test_the_cli_process_heartbeats_at_stagesweeps_period_whatever_prefects_setting_said(no_heartbeat_setting):
    import os

    no_heartbeat_setting.setenv(PREFECT_HEARTBEAT_ENV, "180")
    use_stagesweep_heartbeat()
    assert os.environ[PREFECT_HEARTBEAT_ENV] == "30"


def test_every_deployment_of_the_deployments_file_carries_the_default_period(no_heartbeat_setting):
    document = yaml.safe_load((PROJECT_ROOT / "deployments" / "prefect.yaml").read_text())
    carried = {d["name"]: d["work_pool"].get("job_variables") for d in document["deployments"]}
    assert carried == dict.fromkeys(carried, heartbeat_job_variables())


def test_the_zombie_automation_watches_every_flow_of_stagesweep_and_only_those():
    flows = set()
    for source in (PROJECT_ROOT / "flows").glob("*.py"):
        flows |= set(re.findall(r'@flow\(\s*name="([^"]+)"', source.read_text()))
    spec = load_spec()["crash_zombie_runs"]
    assert flows and set(spec["flows"]) == flows
    related = zombie_automation(spec).trigger.match_related
    assert related.model_dump() == {
        "prefect.resource.role": "flow",
        "prefect.resource.name": sorted(flows, key=spec["flows"].index),
    }


@pytest.mark.prefect
def test_applying_the_same_automations_again_keeps_the_zombie_triggers_open_windows(prefect_api, no_heartbeat_setting):
    # The server gives an updated trigger a new id, and the windows it had open for running flow
    # runs are never evaluated again: a run dead before its next heartbeat would never be Crashed.
    # The trigger's event sets come back from the server in any order; that is no change.
    from itertools import permutations

    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    from coordination.automations import apply_automations

    no_heartbeat_setting.delenv("STAGESWEEP_ALERT_WEBHOOK_URL", raising=False)
    fields = set(AutomationCore.model_fields) - {"owner_resource"}
    name = load_spec()["crash_zombie_runs"]["name"]
    apply_automations()
    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(name)
        try:
            stored = client._client.get(f"/automations/{automation.id}").json()
            for order in list(permutations(sorted(stored["trigger"]["expect"])))[::40]:
                body = {k: stored[k] for k in fields}
                body["trigger"] = {k: v for k, v in stored["trigger"].items() if k != "id"} | {"expect": list(order)}
                client._client.put(f"/automations/{automation.id}", json=body).raise_for_status()
                trigger_id = client._client.get(f"/automations/{automation.id}").json()["trigger"]["id"]

                lines = apply_automations()

                assert [line for line in lines if line.startswith(f"{name}: unchanged")], (order, lines)
                assert client._client.get(f"/automations/{automation.id}").json()["trigger"]["id"] == trigger_id
        finally:  # the other tests' runs on this API are not watched by it
            client.delete_automation(automation.id)


def test_an_automation_whose_event_sets_come_back_in_another_order_is_unchanged_but_reordered_actions_are_a_change():
    from coordination.automations import _canonical

    automation = zombie_automation(load_spec()["crash_zombie_runs"]).model_dump(mode="json")
    expect = automation["trigger"]["expect"]
    back = {**automation, "trigger": {**automation["trigger"], "expect": list(reversed(expect))}}
    assert expect != back["trigger"]["expect"]
    assert _canonical(back) == _canonical(automation)
    actions = [{"type": "a"}, {"type": "b"}]
    assert _canonical({**automation, "actions": actions}) != _canonical({**automation, "actions": actions[::-1]})
