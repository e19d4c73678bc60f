"""One audit store for a fleet: `--audit-dir s3://bucket/prefix` on moto's S3 server (loopback),
partitioned project=/date=/, read back by `report s3://...`."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_fleet import fleet_world
from tests.fixtures.registry import free_port

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture
def s3(tmp_path, monkeypatch):
    """moto's standalone S3 server; the standard AWS environment points at it; a bucket."""
    binary = str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.2)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{port}",
        scheme="http",
        allow_bucket_creation=True,
        access_key="test",
        secret_key="test",
        region="us-east-1",
    )
    fs.create_dir("audit-bucket")
    yield fs
    proc.terminate()
    proc.wait(timeout=10)


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
