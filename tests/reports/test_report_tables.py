"""The report's tables over audit files, old ones (before sizes were recorded) included."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from adapters.audit import read_audit
from cli.app import app
from reports import tables as t
from reports.html import render
from schemas.tables import AUDIT_SCHEMA

OLD_COLUMNS = [f for f in AUDIT_SCHEMA if f.name not in ("size_bytes", "reclaimable_bytes")]


def audit_rows(run_id: str, dry: bool, rows: list[tuple], started: datetime) -> list[dict]:
    out = []
    for item_type, image, tag, action, reason, outcome, size, freed in rows:
        out.append(
            {
                "run_id": run_id,
                "command": "cleanup",
                "dry_run": dry,
                "project": "acme",
                "started_at": started,
                "decided_at": started,
                "storage": "images-repo" if item_type == "image-tag" else "stages-storage",
                "repository": "r/app" if item_type == "image-tag" else "r/stages",
                "tag": tag,
                "digest": None,
                "item_type": item_type,
                "image_name": image,
                "signature": None,
                "commit": None,
                "action": action,
                "reason": reason,
                "detail": None,
                "outcome": outcome,
                "error": "boom" if outcome == "failed" else None,
                "size_bytes": size,
                "reclaimable_bytes": freed,
            }
        )
    return out


ROWS = [
    ("image-tag", "app", "t1", "delete", "not-reached-by-policy", "deleted", 5000, 1200),
    ("image-tag", "app", "t2", "keep", "git-policy", "kept", 9000, None),
    ("image-tag", "api", "t3", "delete", "not-reached-by-policy", "failed", 3000, None),
    ("stage", None, "s1", "delete", "unused-stage", "deleted", 4000, 3800),
    ("stage", None, "s2", "keep", "parent-of-kept-image", "kept", 8000, None),
]


@pytest.fixture
def audit_dir(tmp_path):
    new = pa.Table.from_pylist(audit_rows("run-new", False, ROWS, datetime(2026, 11, 2, tzinfo=UTC)), schema=AUDIT_SCHEMA)
    old_rows = audit_rows("run-old", True, ROWS[:2], datetime(2026, 11, 1, tzinfo=UTC))
    old = pa.Table.from_pylist([{f.name: r[f.name] for f in OLD_COLUMNS} for r in old_rows], schema=pa.schema(OLD_COLUMNS))
    for table, name, day in ((new, "run-new", "2026-11-02"), (old, "run-old", "2026-11-01")):
        (tmp_path / f"date={day}").mkdir()
        pq.write_table(table, tmp_path / f"date={day}" / f"{name}.parquet")
    return tmp_path


def test_tables_sum_reclaimable_bytes_per_run_and_image_and_old_audits_read_as_unknown(audit_dir):
    df = read_audit(audit_dir).to_pandas()
    runs = t.runs(df)
    assert runs["run_id"].tolist() == ["run-new", "run-old"]
    assert runs.loc[0, "reclaimable_bytes"] == 5000 and runs.loc[0, "failed"] == 1
    assert runs.loc[1, "reclaimable_bytes"] is None  # written before sizes were recorded
    images = t.images(df)
    new = images[images["run_id"] == "run-new"].set_index("image_name")
    assert new.loc["app", "tags_before"] == 2 and new.loc["app", "tags_after"] == 1
    assert new.loc["api", "tags_after"] == 1  # its delete failed: the tag stays
    assert new.loc["(stages)", "reclaimable_bytes"] == 3800
    kept = t.largest_kept(df)
    assert kept[kept["run_id"] == "run-new"]["tag"].tolist() == ["t2", "s2"]
    assert t.failures(df)["tag"].tolist() == ["t3"]
    page = render(df, str(audit_dir))
    # nothing to fetch: the only URLs are the SVG namespace names
    assert "http://" not in page.replace('="http://www.w3.org/', "") and "https://" not in page
    assert page.count("<svg") >= 4


def test_report_formats_and_an_unreadable_location(audit_dir, tmp_path):
    as_json = CliRunner().invoke(app, ["report", str(audit_dir), "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert '"reclaimable_bytes": 5000' in as_json.output
    as_csv = CliRunner().invoke(app, ["report", f"file://{audit_dir}", "--format", "csv", "--table", "failures"])
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.output.splitlines()[0] == "run_id,repository,tag,item_type,error"
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    result = CliRunner().invoke(app, ["report", str(broken), "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "cannot read the audit" in result.output
    assert not (tmp_path / "r.html").exists()
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(app, ["report", str(tmp_path / "empty"), "--html", str(tmp_path / "r.html")])
    assert empty.exit_code == 1 and "no audited runs" in empty.output
