"""The Parquet audit: atomic writes, a writability pre-flight, dataset reads (SPEC §10)."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas.errors import AuditError
from schemas.tables import AUDIT_SCHEMA


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


def write_audit(path: Path, table: pa.Table, run_metadata: dict[str, object] | None = None) -> Path:
    """Write the audit table to `path` through a temp file and a rename. `run_metadata` (facts of
    the run as a whole, e.g. the names of the environment variables the werf.yaml read) goes into
    the file's key-value metadata under `stagesweep.run`."""
    table = table.select(AUDIT_SCHEMA.names).cast(AUDIT_SCHEMA)
    if run_metadata:
        table = table.replace_schema_metadata({RUN_METADATA_KEY: json.dumps(run_metadata, sort_keys=True).encode()})
    if is_uri(path):
        # an object store's put is atomic: readers never see a partial file
        filesystem, target = _open_uri(str(path))
        try:
            filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
            pq.write_table(table, target, filesystem=filesystem)
        except (OSError, pa.ArrowInvalid) as exc:
            raise AuditError(f"cannot write the audit {path}: {exc}") from exc
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".parquet.tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_audit(source: str | Path, run_id: str | None = None) -> pa.Table:
    """Read one audit file or the whole Hive-partitioned directory (optionally one run).

    ``source`` may also be a URI ``pyarrow.fs`` knows (``file://``, ``s3://…``). Columns added to
    the audit later (``size_bytes``, ``reclaimable_bytes``) read as nulls from older files."""
    if "://" in str(source):
        return _read_audit_uri(str(source), run_id)
    source = Path(source).expanduser()
    if not source.exists():
        raise AuditError(f"no audit at {source}", hint="Pass an audit file or the --audit-dir of earlier runs.")
    if source.is_file():
        table = pq.read_table(source, schema=AUDIT_SCHEMA)
    else:
        files = sorted(str(p) for p in source.rglob("*.parquet") if not p.name.startswith("."))
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
        if info.type == pafs.FileType.NotFound:
            raise AuditError(f"no audit at {uri}", hint="Pass an audit file or the --audit-dir of earlier runs.")
        if info.type == pafs.FileType.File:
            files = [path]
        else:
            found = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
            files = sorted(
                f.path
                for f in found
                if f.type == pafs.FileType.File and f.base_name.endswith(".parquet") and not f.base_name.startswith(".")
            )
        if not files:
            return AUDIT_SCHEMA.empty_table()
        table = ds.dataset(files, schema=AUDIT_SCHEMA, format="parquet", filesystem=filesystem).to_table()
    except (OSError, pa.ArrowInvalid) as exc:
        raise AuditError(f"cannot read the audit at {uri}: {exc}") from exc
    if run_id is not None:
        table = table.filter(pc.equal(table["run_id"], run_id))
    return table
