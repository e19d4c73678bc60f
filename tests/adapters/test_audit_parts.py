"""The durable audit's files: a running run's part file is read by stagesweep and by a plain
Parquet dataset read; the final file replaces it; of a run's final file and part, readers take
the newer one. On a local directory and on S3 (moto)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from adapters.audit import audit_path, part_path, read_audit, read_run_record, write_audit, write_audit_part
from schemas.tables import AUDIT_SCHEMA

STARTED = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def rows(run_id: str, outcomes: list[str]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "run_id": run_id,
                "command": "cleanup",
                "dry_run": False,
                "project": "acme",
                "started_at": STARTED,
                "decided_at": STARTED,
                "storage": "images-repo",
                "repository": "r/app",
                "tag": f"t{i}",
                "digest": f"sha256:{i:064x}",
                "item_type": "image-tag",
                "image_name": "app",
                "signature": None,
                "commit": None,
                "action": "delete",
                "reason": "no-metadata",
                "detail": None,
                "outcome": outcome,
                "error": None,
                "size_bytes": None,
                "reclaimable_bytes": None,
            }
            for i, outcome in enumerate(outcomes)
        ],
        schema=AUDIT_SCHEMA,
    )


def outcomes(table: pa.Table) -> list[str]:
    return table.sort_by("tag").column("outcome").to_pylist()


def local_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_part_file_and_its_directory_are_on_disk_before_the_write_returns(tmp_path, monkeypatch):
    """Power loss after a batch's part was written must not lose its rows: the file is fsynced
    before its rename, the directory (the rename) after it."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    part = part_path(audit_path(tmp_path, "run-1", STARTED))
    write_audit_part(part, rows("run-1", ["started"]))
    assert len(synced) == 2
    temp, directory = synced
    assert Path(temp).parent == Path(part).parent and Path(temp).name.endswith(".parquet.tmp")
    assert directory == str(Path(part).parent)
    assert outcomes(read_audit(str(part))) == ["started"]


def test_a_running_runs_part_is_read_by_stagesweep_and_by_a_plain_dataset_read(tmp_path):
    final = audit_path(str(tmp_path), "run-1", STARTED)
    part = part_path(final)
    assert part == tmp_path / "date=2026-11-28" / "run-1.part.parquet"
    write_audit_part(part, rows("run-1", ["deleted", "started", "blocked"]))
    assert outcomes(read_audit(tmp_path)) == ["deleted", "started", "blocked"]
    assert outcomes(read_audit(tmp_path, "run-1")) == ["deleted", "started", "blocked"]
    # the run's final path, not written yet, reads as its part (the path a run prints)
    assert outcomes(read_audit(final)) == ["deleted", "started", "blocked"]
    assert outcomes(read_audit(part)) == ["deleted", "started", "blocked"]
    plain = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert sorted(plain.column("outcome").to_pylist()) == ["blocked", "deleted", "started"]
    assert set(plain.column("date").to_pylist()) == {"2026-11-28"}
    # a checkpoint rewrites the part whole: still one file, the newer rows
    write_audit_part(part, rows("run-1", ["deleted", "deleted", "started"]))
    assert local_files(tmp_path) == ["date=2026-11-28/run-1.part.parquet"]
    assert outcomes(read_audit(tmp_path)) == ["deleted", "deleted", "started"]


def test_the_final_file_replaces_the_part_so_no_row_is_read_twice(tmp_path):
    final = audit_path(str(tmp_path), "run-1", STARTED)
    write_audit_part(part_path(final), rows("run-1", ["deleted", "started"]))
    write_audit(final, rows("run-1", ["deleted", "failed"]), {"k": "v"}, replace_part=True)
    assert local_files(tmp_path) == ["date=2026-11-28/run-1.parquet"]
    assert outcomes(read_audit(tmp_path)) == ["deleted", "failed"]
    assert ds.dataset(tmp_path, format="parquet", partitioning="hive").count_rows() == 2
    # a run that never wrote a part (a dry run) writes its one file the same way
    other = audit_path(str(tmp_path), "run-2", STARTED)
    write_audit(other, rows("run-2", ["would-delete"]), replace_part=True)
    assert local_files(tmp_path) == ["date=2026-11-28/run-1.parquet", "date=2026-11-28/run-2.parquet"]


def test_of_a_runs_final_file_and_its_part_readers_take_the_newer(tmp_path):
    final = audit_path(str(tmp_path), "run-1", STARTED)
    # a flow run retried in place, killed after its first attempt had written the final file
    write_audit(final, rows("run-1", ["deleted", "failed"]))
    time.sleep(0.01)
    write_audit_part(part_path(final), rows("run-1", ["deleted", "started"]))
    assert outcomes(read_audit(tmp_path)) == ["deleted", "started"]
    assert outcomes(read_audit(final)) == ["deleted", "started"]
    assert outcomes(read_run_record(final)) == ["deleted", "started"]
    # an object store between the final file's put and the part's delete: the final is newer
    time.sleep(0.01)
    write_audit(final, rows("run-1", ["deleted", "deleted"]))
    assert len(local_files(tmp_path)) == 2
    assert outcomes(read_audit(tmp_path)) == ["deleted", "deleted"]
    assert outcomes(read_run_record(final)) == ["deleted", "deleted"]
    assert read_run_record(audit_path(str(tmp_path), "run-never", STARTED)) is None


def s3_files(s3: pafs.S3FileSystem, prefix: str) -> list[str]:
    found = s3.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return sorted(f.path.removeprefix(prefix + "/") for f in found if f.is_file)


@pytest.mark.slow
def test_parts_on_s3_are_read_by_stagesweep_and_a_dataset_read_and_replaced_by_the_final_object(s3):
    root = "s3://audit-bucket/durable"
    final = audit_path(root, "run-1", STARTED)
    part = part_path(final)
    assert part == "s3://audit-bucket/durable/date=2026-11-28/run-1.part.parquet"
    write_audit_part(part, rows("run-1", ["deleted", "started"]))
    assert s3_files(s3, "audit-bucket/durable") == ["date=2026-11-28/run-1.part.parquet"]
    assert outcomes(read_audit(root)) == ["deleted", "started"]
    assert outcomes(read_audit(final)) == ["deleted", "started"]
    plain = ds.dataset("audit-bucket/durable", filesystem=s3, format="parquet", partitioning="hive").to_table()
    assert sorted(plain.column("outcome").to_pylist()) == ["deleted", "started"]
    # newer of the two on S3 as well
    time.sleep(0.01)
    write_audit(final, rows("run-1", ["deleted", "deleted"]))
    assert outcomes(read_audit(root)) == ["deleted", "deleted"]
    time.sleep(0.01)
    write_audit_part(part, rows("run-1", ["deleted", "started"]))
    assert outcomes(read_audit(root)) == ["deleted", "started"]
    assert outcomes(read_run_record(final)) == ["deleted", "started"]
    # the end of the run: the final object, the part deleted
    write_audit(final, rows("run-1", ["deleted", "already-gone"]), replace_part=True)
    assert s3_files(s3, "audit-bucket/durable") == ["date=2026-11-28/run-1.parquet"]
    assert outcomes(read_audit(root)) == ["deleted", "already-gone"]
