"""What the terminal shows when a run stops on an expected error: one message, no Python
traceback, exit 1; the traceback only with `stagesweep --debug`. The CLI runs as a real process,
so Prefect's console logging is the real one."""

from __future__ import annotations

import pytest

from tests.e2e.test_run_logs import cli_process
from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    world.state = basic_world(world)
    return world


BAD_REGEX = "cleanup:\n  keepPolicies:\n  - references: {branch: '/feature-(/'}\n"


@pytest.mark.slow
def test_an_expected_error_is_one_message_without_traceback_and_debug_shows_it(world):
    world.write_config(BAD_REGEX)
    stopped = cli_process(world, "cleanup", "--without-kube")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr and "Traceback" not in stopped.stdout
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stopped.stderr
    assert "werf.yaml" in errors[0] and "keepPolicies" in errors[0]
    # nothing else on stderr but that message (and its hint lines)
    assert "Flow run" not in stopped.stderr and "Task run" not in stopped.stderr, stopped.stderr

    debug = cli_process(world, "cleanup", "--without-kube", debug=True)
    assert debug.returncode == 1, debug.stdout + debug.stderr
    assert "Traceback" in debug.stderr
    assert "ConfigError" in debug.stderr
    assert debug.stderr.count("error:") >= 1


@pytest.mark.slow
def test_an_unreachable_registry_is_one_message_without_traceback(world):
    from tests.fixtures.registry import free_port

    world.images_address = f"127.0.0.1:{free_port()}/nowhere/images"
    world.stages_address = f"127.0.0.1:{free_port()}/nowhere/stages"
    stopped = cli_process(world, "cleanup", "--without-kube")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr + stopped.stdout
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "127.0.0.1" in errors[0], stopped.stderr
