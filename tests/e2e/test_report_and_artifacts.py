"""`stagesweep report` over the audit dataset, the artifacts each step publishes, and the demo."""

from __future__ import annotations

import asyncio
import uuid

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def world(git_project, registry, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    basic_world(world)
    return world


@pytest.mark.registry
def test_report_lists_runs_newest_first_with_their_counts(world):
    assert world.cleanup("cleanup", "--without-kube", "--dry-run").exit_code == 0
    assert world.cleanup("cleanup", "--without-kube").exit_code == 0
    audits = world.audits()
    dry_id = pq.read_table(audits[0]).column("run_id")[0].as_py()
    real_id = pq.read_table(audits[1]).column("run_id")[0].as_py()
    result = CliRunner().invoke(app, ["report", str(world.audit_dir)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert result.output.index(real_id) < result.output.index(dry_id)
    assert "would-delete" in result.output and "deleted" in result.output
    assert "not-reached-by-policy" in result.output
    one = CliRunner().invoke(app, ["report", str(world.audit_dir), "--run", dry_id], env={"COLUMNS": "250"})
    assert one.exit_code == 0 and dry_id in one.output and real_id not in one.output


def test_report_on_a_missing_directory_says_so(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nothing-here")])
    assert result.exit_code == 1
    assert "no audit" in result.output


@pytest.mark.registry
def test_each_step_publishes_an_artifact_readable_through_the_api(world):
    assert world.cleanup("cleanup", "--without-kube").exit_code == 0
    run_id = uuid.UUID(world.last_audit().run_id.iloc[0])

    async def keys():
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
            return {a.key for a in found}, [a for a in found if a.key == "run-summary"]

    found, summaries = asyncio.run(keys())
    assert {
        "stages-storage-inventory",
        "images-repo-inventory",
        "git-inventory",
        "deletion-plan",
        "deletion-progress",
        "run-summary",
    } <= found
    assert "audit" in summaries[0].data


def test_demo_builds_a_world_and_shows_what_was_kept_and_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = CliRunner().invoke(app, ["demo"], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for needle in (
        "dry run",
        "not-reached-by-policy",
        "unused-stage",
        "git-policy",
        "built-within-last-n-hours",
        "Audit dataset",
        "werf 2.x: cleanup --repo",
        "custom-tag",
        "unhit-commit",
    ):
        assert needle in result.output, needle
    # the werf 2.x repository was cleaned for real: its audit rows are there, some deleted
    from adapters.audit import read_audit

    audit = read_audit(str(next(tmp_path.glob("stagesweep-demo-*")) / "audit")).to_pandas()
    werf2 = audit[(audit.storage == "repo") & ~audit.dry_run]
    assert (werf2.outcome == "deleted").any() and (werf2.item_type == "custom-tag").any()
