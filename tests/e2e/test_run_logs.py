"""What a run leaves in its Prefect log: what a scheduled run's operator reads. The CLI runs as
a real process, so Prefect's logging set-up is the real one."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]
ROOT = Path(__file__).resolve().parents[2]
STAGESWEEP = ROOT / ".venv" / "bin" / "stagesweep"


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    world.state = basic_world(world)
    return world


def cli_process(world, *args: str, debug: bool = False) -> subprocess.CompletedProcess:
    """`stagesweep [--debug] ARGS` of this world as its own process, as a schedule or a shell runs
    it (Prefect's log level is the CLI's own choice, not the test session's)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_LOGGING_LEVEL", "STAGESWEEP_DEBUG")}
    env["COLUMNS"] = "200"
    command = [
        str(STAGESWEEP),
        *(["--debug"] if debug else []),
        *args,
        *world.storage_args(),
        "--insecure-registry",
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def run_log(flow_run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(flow_run_id)])), limit=200, sort=LogSort.TIMESTAMP_ASC
        )
    return [log.message for log in logs]


@pytest.mark.slow
def test_a_cleanup_run_log_says_what_was_read_planned_deleted_and_audited(world):
    done = cli_process(world, "cleanup", "--without-kube")
    assert done.returncode == 0, done.stdout + done.stderr
    audit_file = world.audits()[-1]
    audit = world.last_audit()
    text = "\n".join(run_log(audit_file.stem))
    deleted = int((audit.outcome == "deleted").sum())
    tags = len(world.state["A"].stage_tags) + len(world.state["B"].stage_tags) - 1 + len(world.state["F"].stage_tags)
    expected = [
        # what was read, with counts
        rf"stages storage {re.escape(world.stages_address)}: {tags} stages, 3 metadata records, 1 managed images",
        r"werf tags in the images repo: image tags 5",
        r"git .*: \d+ references, \d+ commits",
        # the plan, by reason, and its size
        r"plan: delete images-repo image-tag \(not-reached-by-policy\): 2",
        r"plan: \d+ rows, \d+ to delete",
        # what was deleted, and where the audit is
        rf"cleanup done: .*deleted {deleted}\b",
        rf"audit written: {re.escape(str(audit_file))} \({len(audit)} rows\)",
    ]
    for pattern in expected:
        assert re.search(pattern, text), f"{pattern!r} not in the run log:\n{text}"
    # the terminal shows the summary, not Prefect's own lines
    assert "Finished in state" not in done.stdout + done.stderr
