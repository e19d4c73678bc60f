"""The Parquet audit: atomic writes, a writability pre-flight, dataset reads (SPEC §10).

A deleting run's audit is durable while the run goes on: its rows are written to a part file
``<run_id>.part.parquet`` next to where its final file ``<run_id>.parquet`` goes (same partition
directory, same schema, rewritten whole at each checkpoint, one object per put), and at the end
the final file replaces the part. Every file carries the time it was written
(``stagesweep.written_at``); a reader that finds both files of one run (a run retried in place
that died, or the moment between an object store's final put and the part's delete) takes the
newer one, so it never counts a row twice.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas.errors import AuditError
from schemas.tables import AUDIT_SCHEMA

#: a run's part file: ``<run_id>.part.parquet``, next to its final ``<run_id>.parquet``
PART_SUFFIX = ".part.parquet"
#: key of the time (ns since the epoch) a file was written, in its key-value metadata
WRITTEN_AT_KEY = b"stagesweep.written_at"


def audit_root(audit_dir: str) -> Path:
    return Path(audit_dir).expanduser()


def is_uri(location: str | Path) -> bool:
    """An audit location pyarrow.fs opens (``s3://bucket/prefix``, ``file:///dir``) rather than a path."""
    return isinstance(location, str) and "://" in location


def audit_path(audit_dir: str, run_id: str, started_at: datetime) -> Path:
    """`<audit-dir>/date=YYYY-MM-DD/<run_id>.parquet` (date of the run's start, UTC); a URI audit
    dir gives a URI (a `str`)."""
    if is_uri(audit_dir):
        return f"{audit_dir.rstrip('/')}/date={started_at:%Y-%m-%d}/{run_id}.parquet"  # type: ignore[return-value]
    return audit_root(audit_dir) / f"date={started_at:%Y-%m-%d}" / f"{run_id}.parquet"


def part_path(final: str | Path) -> str | Path:
    """The part file of the run whose final audit file is `final` (same directory)."""
    if isinstance(final, Path):
        return final.with_name(final.name.removesuffix(".parquet") + PART_SUFFIX)
    return final.removesuffix(".parquet") + PART_SUFFIX


def is_part(name: str) -> bool:
    return name.endswith(PART_SUFFIX)


def _final_of(name: str) -> str:
    """The final file name a part or final file `name` stands for."""
    return name.removesuffix(PART_SUFFIX) + ".parquet" if is_part(name) else name


def _open_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and path of a URI; S3 credentials from the standard AWS environment
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``…)."""
    try:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if uri.startswith("s3://") and "?" not in uri:
            # the bucket and key; the endpoint (S3-compatible stores) named by the environment
            # delayed open: an audit file (small) goes up in one PutObject, not a multipart upload
            options: dict[str, object] = {"allow_delayed_open": True}
            if endpoint:
                scheme, _, host = endpoint.partition("://")
                options.update(endpoint_override=host.rstrip("/"), scheme=scheme)
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            if region:
                options["region"] = region
            return pafs.S3FileSystem(**options), uri[len("s3://") :]
        return pafs.FileSystem.from_uri(uri)
    except (OSError, pa.ArrowInvalid) as exc:
        raise AuditError(
            f"cannot open the audit location {uri}: {exc}",
            hint="Pass --audit-dir as a directory or a URI (s3://bucket/prefix, file:///dir).",
        ) from exc


def check_writable(path: Path) -> None:
    """Create the partition directory and prove a file can be written there, before any delete."""
    if is_uri(path):
        uri = str(path)
        filesystem, target = _open_uri(uri)
        parent = target.rsplit("/", 1)[0]
        probe = f"{parent}/.write-check-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            filesystem.create_dir(parent, recursive=True)
            with filesystem.open_output_stream(probe) as out:
                out.write(b"stagesweep write check\n")  # not empty: some stores refuse an empty upload
            filesystem.delete_file(probe)
        except (OSError, pa.ArrowInvalid) as exc:
            raise AuditError(
                f"the audit location {uri.rsplit('/', 1)[0]} is not writable: {exc}",
                hint="Check the URI and the credentials (for S3 the standard AWS environment); nothing was deleted.",
            ) from exc
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AuditError(
            f"the audit directory {path.parent} is not writable: {exc.strerror or exc}",
            hint="Pass --audit-dir with a writable directory; nothing was deleted.",
        ) from exc


#: key of the audit file's run metadata (Parquet key-value metadata, a JSON object)
RUN_METADATA_KEY = b"stagesweep.run"


def write_audit(
    path: Path, table: pa.Table, run_metadata: dict[str, object] | None = None, *, replace_part: bool = False
) -> Path:
    """Write the audit table to `path` through a temp file and a rename. `run_metadata` (facts of
    the run as a whole, e.g. the names of the environment variables the werf.yaml read) goes into
    the file's key-value metadata under `stagesweep.run`.

    `replace_part`: the final file replaces the run's part file (`part_path`). On a local disk the finished
    table is first renamed onto the part, then the part onto the final name, so that at every
    moment exactly one of the two exists; in an object store the final object is put, then the
    part deleted (a reader seeing both in between takes the newer, the final)."""
    table = _with_metadata(table, run_metadata)
    if is_uri(path):
        filesystem, target = _open_uri(str(path))
        try:
            filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
            _put(filesystem, target, table)
            if replace_part:
                _delete_if_present(filesystem, str(part_path(target)))
        except (OSError, pa.ArrowInvalid) as exc:
            raise AuditError(f"cannot write the audit {path}: {exc}") from exc
        return path
    path = Path(path)
    part_file = Path(part_path(path))
    if replace_part and part_file.exists():
        _write_local(part_file, table)
        os.replace(part_file, path)
    else:
        _write_local(path, table)
    return path


def write_audit_part(part: str | Path, table: pa.Table, run_metadata: dict[str, object] | None = None) -> str | Path:
    """Write (or rewrite) a running run's part file in one atomic step: a temp file and a
    rename, or one put to an object store. Readers see the previous part or this one whole."""
    table = _with_metadata(table, run_metadata)
    if is_uri(part):
        filesystem, target = _open_uri(str(part))
        try:
            _put(filesystem, target, table)
        except (OSError, pa.ArrowInvalid) as exc:
            raise AuditError(f"cannot write the audit part {part}: {exc}") from exc
        return part
    try:
        _write_local(Path(part), table)
    except OSError as exc:
        raise AuditError(f"cannot write the audit part {part}: {exc.strerror or exc}") from exc
    return part


def _with_metadata(table: pa.Table, run_metadata: dict[str, object] | None) -> pa.Table:
    table = table.select(AUDIT_SCHEMA.names).cast(AUDIT_SCHEMA)
    meta = {WRITTEN_AT_KEY: str(time.time_ns()).encode()}
    if run_metadata:
        meta[RUN_METADATA_KEY] = json.dumps(run_metadata, sort_keys=True).encode()
    return table.replace_schema_metadata(meta)


def _put(filesystem: pafs.FileSystem, target: str, table: pa.Table) -> None:
    # an object store's put is atomic: readers never see a partial file
    pq.write_table(table, target, filesystem=filesystem)


def _delete_if_present(filesystem: pafs.FileSystem, target: str) -> None:
    try:
        filesystem.delete_file(target)
    except FileNotFoundError:
        pass


def _write_local(path: Path, table: pa.Table) -> None:
    """Write through a temp file, fsync it, rename it into place and fsync the directory: once
    this returns the rows survive a power loss (a part file is written before its batch deletes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".parquet.tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        _fsync_path(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_path(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _fsync_path(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _written_at(path: str, filesystem: pafs.FileSystem | None = None) -> int:
    """When a file was written (0: not recorded, a file older than durable audits)."""
    meta = pq.read_schema(path, filesystem=filesystem).metadata or {}
    try:
        return int(meta.get(WRITTEN_AT_KEY, b"0"))
    except ValueError:
        return 0


def current_files(files: list[str], filesystem: pafs.FileSystem | None = None) -> list[str]:
    """`files` (paths of one audit directory tree) without the ones a newer file of the same run
    supersedes: of a run's final file and its part, the newer (the final on a tie)."""
    by_run: dict[str, list[str]] = {}
    for f in files:
        directory, _, name = f.rpartition("/")
        by_run.setdefault(f"{directory}/{_final_of(name)}", []).append(f)
    out = []
    for final, found in by_run.items():
        if len(found) == 1:
            out.append(found[0])
            continue
        part = next(f for f in found if is_part(f))
        newer_part = _written_at(part, filesystem) > _written_at(final, filesystem)
        out.append(part if newer_part else final)
    return sorted(out)


def read_run_record(final: str | Path) -> pa.Table | None:
    """The audit one run has on record now: its final file or its part, whichever is newer;
    None when it has neither (a run that has not written anything yet)."""
    if is_uri(final):
        filesystem, target = _open_uri(str(final))
        part = str(part_path(target))
        try:
            present = [f.path for f in filesystem.get_file_info([target, part]) if f.type == pafs.FileType.File]
            if not present:
                return None
            return pq.read_table(current_files(present, filesystem)[0], filesystem=filesystem, schema=AUDIT_SCHEMA)
        except (OSError, pa.ArrowInvalid) as exc:
            raise AuditError(f"cannot read the audit at {final}: {exc}") from exc
    final = Path(final)
    present = [str(p) for p in (final, part_path(final)) if Path(p).is_file()]
    if not present:
        return None
    return pq.read_table(current_files(present)[0], schema=AUDIT_SCHEMA)


def read_audit(source: str | Path, run_id: str | None = None) -> pa.Table:
    """Read one audit file or the whole Hive-partitioned directory (optionally one run).

    ``source`` may also be a URI ``pyarrow.fs`` knows (``file://``, ``s3://…``). Columns added to
    the audit later (``size_bytes``, ``reclaimable_bytes``) read as nulls from older files."""
    if "://" in str(source):
        return _read_audit_uri(str(source), run_id)
    source = Path(source).expanduser()
    if not source.exists() and not (source.name.endswith(".parquet") and Path(part_path(source)).is_file()):
        raise AuditError(f"no audit at {source}", hint="Pass an audit file or the --audit-dir of earlier runs.")
    if not source.is_dir():
        # a run's file: its final file or, for a run that died or is still going, its part
        table = read_run_record(source) if not is_part(source.name) else None
        if table is None:
            table = pq.read_table(source, schema=AUDIT_SCHEMA)
    else:
        files = current_files(sorted(str(p) for p in source.rglob("*.parquet") if not p.name.startswith(".")))
        if not files:
            return AUDIT_SCHEMA.empty_table()
        dataset = ds.dataset(files, schema=AUDIT_SCHEMA, format="parquet")
        table = dataset.to_table()
    if run_id is not None:
        table = table.filter(pc.equal(table["run_id"], run_id))
    return table


def read_run_metadata(path: str | Path) -> dict[str, object]:
    """The run metadata of one audit file ({} when it has none)."""
    meta = pq.read_schema(Path(path).expanduser()).metadata or {}
    raw = meta.get(RUN_METADATA_KEY)
    return json.loads(raw) if raw else {}


def _read_audit_uri(uri: str, run_id: str | None) -> pa.Table:
    try:
        filesystem, path = _open_uri(uri)
        info = filesystem.get_file_info(path)
        if info.type != pafs.FileType.Directory and path.endswith(".parquet") and not is_part(path):
            # a run's file: its final file or, for a run that died or is still going, its part
            found_files = filesystem.get_file_info([path, str(part_path(path))])
            files = current_files([f.path for f in found_files if f.type == pafs.FileType.File], filesystem)
            if not files:
                raise AuditError(f"no audit at {uri}", hint="Pass an audit file or the --audit-dir of earlier runs.")
        elif info.type == pafs.FileType.NotFound:
            raise AuditError(f"no audit at {uri}", hint="Pass an audit file or the --audit-dir of earlier runs.")
        elif info.type == pafs.FileType.File:
            files = [path]
        else:
            found = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
            files = current_files(
                sorted(
                    f.path
                    for f in found
                    if f.type == pafs.FileType.File and f.base_name.endswith(".parquet") and not f.base_name.startswith(".")
                ),
                filesystem,
            )
        if not files:
            return AUDIT_SCHEMA.empty_table()
        table = ds.dataset(files, schema=AUDIT_SCHEMA, format="parquet", filesystem=filesystem).to_table()
    except (OSError, pa.ArrowInvalid) as exc:
        raise AuditError(f"cannot read the audit at {uri}: {exc}") from exc
    if run_id is not None:
        table = table.filter(pc.equal(table["run_id"], run_id))
    return table
