"""The demo world's dry run and cleanup decide exactly what they decided before the pipeline
was laid out anew: the audits compared row by row against a golden file (run ids, times,
hashes and temp paths masked)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.golden.normalise import normalised_rows

GOLDEN = Path(__file__).parent / "golden" / "demo_cleanup.json"

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


def test_demo_world_cleanup_audits_equal_the_golden_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from cli.demo import build_world
    from cli.run import run_command
    from schemas.settings import CleanupSettings
    from schemas.vocab import Command

    root = Path(tempfile.mkdtemp())
    world = build_world(root)
    base = dict(
        images_repo=world["images"], stages_storage=world["stages"], dir=world["dir"], audit_dir=world["audit"], without_kube=True
    )
    assert run_command(Command.CLEANUP, CleanupSettings(**base, dry_run=True)) == 0
    assert run_command(Command.CLEANUP, CleanupSettings(**base)) == 0
    rows = normalised_rows(pd.read_parquet(world["audit"]), str(root))
    golden = json.loads(GOLDEN.read_text())
    assert len(rows) == len(golden)
    for got, want in zip(rows, golden):
        assert got == want
