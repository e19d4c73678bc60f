"""One audit store for a fleet: `--audit-dir s3://bucket/prefix` on moto's S3 server (loopback),
partitioned project=/date=/, read back by `report s3://...`."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.test_fleet import fleet_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


def test_fleet_audit_lands_on_s3_partitioned_and_report_reads_it(registry, unique_repo, tmp_path, s3):
    worlds, fleet = fleet_world(registry, unique_repo, tmp_path, ["north", "south"])
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    cli = worlds["north"][0].cli
    result = cli(
        "fleet",
        "cleanup",
        str(path),
        "--audit-dir",
        "s3://audit-bucket/stagesweep",
        env={"HOME": str(tmp_path), "COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    import pyarrow.fs as pafs

    files = [f.path for f in s3.get_file_info(pafs.FileSelector("audit-bucket/stagesweep", recursive=True)) if f.is_file]
    assert len(files) == 2 and all(f.endswith(".parquet") for f in files)
    assert {f.split("/")[2] for f in files} == {"project=north", "project=south"}
    assert all(f.split("/")[3].startswith("date=") for f in files)
    report = cli("report", "s3://audit-bucket/stagesweep", "--format", "json")
    assert report.exit_code == 0, report.output
    for f in files:
        assert f.rsplit("/", 1)[1].removesuffix(".parquet") in report.output
    # an unwritable store stops a run before anything else
    bad = cli(
        "cleanup",
        "--images-repo",
        worlds["north"][0].images_address,
        "--stages-storage",
        worlds["north"][0].stages_address,
        "--insecure-registry",
        "--without-kube",
        "--dir",
        str(worlds["north"][0].git.work),
        "--audit-dir",
        "s3://no-such-bucket/x",
    )
    assert bad.exit_code == 1, bad.output
    assert "not writable" in bad.output
