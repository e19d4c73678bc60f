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
