"""The plan a fleet run records before it starts any project (which projects it will run), read by
the next run to name the projects a dead run never started — at the sizes fleets reach."""

from __future__ import annotations

import pytest
from prefect import flow

from tasks.fleet import projects_not_run_last_time, record_fleet_plan

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@flow(name="fleet_cleanup")
def _dead_fleet_run(fleet_file: str, projects: list[str]) -> None:
    """A fleet run that recorded its plan and died before starting any project."""
    record_fleet_plan(fleet_file, projects)


@flow(name="fleet_cleanup")
def _next_fleet_run(fleet_file: str, projects: list[str]) -> dict[str, str]:
    return projects_not_run_last_time(record_fleet_plan(fleet_file, projects))


def test_the_next_run_names_every_project_a_dead_fleet_run_of_600_projects_never_started(tmp_path):
    # 600 names of 30 characters: far over what a Prefect variable holds (5,000 characters)
    projects = [f"team-payments-service-{i:04d}-eu" for i in range(600)]
    fleet_file = str(tmp_path / "fleet.yaml")
    _dead_fleet_run(fleet_file, projects)
    not_run = _next_fleet_run(fleet_file, projects)
    assert sorted(not_run) == projects
    assert all(note.startswith("not run last time: fleet run ") for note in not_run.values())


def test_a_fleet_file_elsewhere_has_its_own_plan(tmp_path):
    _dead_fleet_run(str(tmp_path / "a.yaml"), ["alpha", "beta"])
    assert _next_fleet_run(str(tmp_path / "b.yaml"), ["alpha", "beta"]) == {}
    assert sorted(_next_fleet_run(str(tmp_path / "a.yaml"), ["alpha"])) == ["alpha", "beta"]


def test_a_plan_recorded_in_the_variable_alone_is_still_read(tmp_path):
    """Plans recorded before the artifact existed held the names in the variable itself."""
    import json

    from prefect.variables import Variable

    from tasks.fleet import _plan_variable

    fleet_file = str(tmp_path / "fleet.yaml")
    _dead_fleet_run(fleet_file, ["alpha"])  # a run to name; its plan then replaced by the old form
    run_id = json.loads(Variable.get(_plan_variable(fleet_file)))["run_id"]
    Variable.set(_plan_variable(fleet_file), json.dumps({"run_id": run_id, "projects": ["gamma", "delta"]}), overwrite=True)
    assert sorted(_next_fleet_run(fleet_file, ["alpha"])) == ["delta", "gamma"]
