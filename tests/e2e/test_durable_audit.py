"""The audit is durable while a run deletes: before a batch's first request its rows are on record
as `started`, after it their outcomes; a run killed (SIGKILL) mid-deletion leaves a part file
that a plain Parquet dataset read, `report` and `apply --only-failed` see, holding every delete
the registry confirmed; the next runs complete the plan. On a local directory and on S3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from adapters.audit import read_audit
from adapters.run_lock import lock_name, storage_key
from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]
ROOT = Path(__file__).resolve().parents[2]
STAGESWEEP = ROOT / ".venv" / "bin" / "stagesweep"
PROBE = "sha256:" + "0" * 64  # the delete pre-flight's digest, which never exists
#: one delete group (the rows of one digest) per batch, one request at a time: every DELETE
#: belongs to its own batch, so what the audit holds at each request is known exactly
ONE_AT_A_TIME = ("--batch-size", "1", "--parallel-tasks-limit", "1")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """One stagesweep home (its `locks/`) for this test's runs, in-process and subprocesses."""
    path = tmp_path / "home"
    monkeypatch.setenv("STAGESWEEP_HOME_DIR", str(path))
    return path


class AuditStore:
    """An audit location: a local directory or a prefix on moto's S3 server."""

    def __init__(self, kind: str, tmp_path: Path, name: str, s3: pafs.S3FileSystem | None) -> None:
        self.kind, self.s3 = kind, s3
        if kind == "s3":
            self.root, self._fs_root = f"s3://audit-bucket/{name}", f"audit-bucket/{name}"
        else:
            self.root = self._fs_root = str(tmp_path / name)

    def files(self) -> list[str]:
        """Every file under the location, as paths relative to it."""
        if self.s3 is None:
            base = Path(self.root)
            return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.exists() else []
        found = self.s3.get_file_info(pafs.FileSelector(self._fs_root, recursive=True, allow_not_found=True))
        return sorted(f.path.removeprefix(self._fs_root + "/") for f in found if f.is_file)

    def plain_dataset(self):
        """The location read as a plain Hive-partitioned Parquet dataset (no stagesweep code)."""
        table = ds.dataset(self._fs_root, filesystem=self.s3, format="parquet", partitioning="hive").to_table()
        return table.to_pandas()


@pytest.fixture(params=["local", "s3"])
def store_kind(request):
    return request.param


def make_store(kind: str, request, tmp_path: Path, name: str) -> AuditStore:
    return AuditStore(kind, tmp_path, name, request.getfixturevalue("s3") if kind == "s3" else None)


def manifest_path(row) -> str:
    """The DELETE path of an audit row's manifest (`/v2/<repository path>/manifests/<digest>`)."""
    return f"/v2/{row['repository'].split('/', 1)[1]}/manifests/{row['digest']}"


def real_deletes(proxy) -> list[tuple[str, int]]:
    """(path, upstream status) of every DELETE of a real item the registry received."""
    return [(path, status) for path, status in proxy.forwarded_deletes() if PROBE not in path]


def test_every_delete_is_on_record_as_started_before_its_request_and_done_before_the_next_batch(
    git_project, registry, fault_proxy, unique_repo, tmp_path, home, store_kind, request
):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    store = make_store(store_kind, request, tmp_path, "audit")
    seen: list[tuple[str, dict[str, set[str]]]] = []  # per DELETE: its path, outcomes on record by path
    problems: list[str] = []

    def look(method: str, count: int, path: str) -> None:
        if method != "DELETE" or PROBE in path:
            return None
        try:
            on_record: dict[str, set[str]] = {}
            for row in read_audit(store.root).to_pylist():
                if row["digest"]:
                    on_record.setdefault(manifest_path(row), set()).add(row["outcome"])
            seen.append((path, on_record))
        except Exception as exc:  # reported by the test, not by the proxy
            problems.append(f"{path}: {exc!r}")
        return None

    fault_proxy.rule = look
    result = world.cli(
        "cleanup", *world.storage_args(audit_dir=store.root), "--insecure-registry", "--without-kube", *ONE_AT_A_TIME
    )
    assert result.exit_code == 0, result.output
    assert not problems, problems
    assert len(seen) >= 3, seen
    for n, (path, on_record) in enumerate(seen):
        # this delete's rows are on record as started before its request reaches the registry
        assert on_record.get(path) == {"started"}, (path, on_record)
        # every earlier batch's deletes are on record as done
        for earlier, _ in seen[:n]:
            assert on_record[earlier] <= {"deleted", "already-gone"}, (earlier, on_record)
    # the run ended: its one file, the part gone; every row once
    files = store.files()
    assert len(files) == 1 and files[0].endswith(".parquet") and ".part." not in files[0], files
    plain = store.plain_dataset()
    assert not plain.duplicated(["repository", "tag", "item_type"]).any()
    assert set(plain[plain.action == "delete"].outcome) <= {"deleted", "already-gone"}


def free_storages(world) -> None:
    """What the Prefect server does a minute after a run dies (its slot's lease expires), at once."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for address in (world.stages_address, world.images_address):
            try:
                client.delete_global_concurrency_limit_by_name(lock_name(storage_key(address)))
            except ObjectNotFound:
                pass


def test_cleanup_killed_mid_deletion_leaves_every_confirmed_delete_on_record_and_the_next_runs_complete_the_plan(
    git_project, registry, fault_proxy, unique_repo, tmp_path, home, store_kind, request
):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    dry = world.cleanup("cleanup", "--without-kube", "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan = world.last_audit()
    doomed = plan[plan.action == "delete"]
    assert doomed.digest.nunique() >= 4, doomed  # deletes before, at and after the kill
    store = make_store(store_kind, request, tmp_path, "killed")

    # each DELETE is slow; the third one reaches the proxy, the run is killed, then the proxy
    # passes it on: the registry confirms a delete whose answer nobody reads
    third = threading.Event()
    lock, arrived = threading.Lock(), []

    def slow(method: str, count: int, path: str) -> None:
        if method == "DELETE" and PROBE not in path:
            with lock:
                arrived.append(path)
                n = len(arrived)
            if n == 3:
                third.set()
                time.sleep(2.0)
            time.sleep(0.2)
        return None

    fault_proxy.rule = slow
    run = subprocess.Popen(
        [
            str(STAGESWEEP),
            "cleanup",
            *world.storage_args(audit_dir=store.root),
            "--insecure-registry",
            "--without-kube",
            *ONE_AT_A_TIME,
        ],
        cwd=ROOT,
        # this working tree's modules, whatever packages the venv's editable install lists
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not third.wait(0.2) and run.poll() is None and time.monotonic() < deadline:
            pass
        if not third.is_set():
            run.kill()
            out, err = run.communicate(timeout=30)
            pytest.fail(f"the run never reached its third delete (deletes {arrived}):\n{out}\n{err}")
        run.send_signal(signal.SIGKILL)
        _, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert run.returncode == -signal.SIGKILL, err
    deadline = time.monotonic() + 20
    while len(real_deletes(fault_proxy)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    fault_proxy.heal()
    confirmed = {path for path, status in real_deletes(fault_proxy) if status == 202}
    assert len(confirmed) == 3, real_deletes(fault_proxy)

    # what the killed run left: one part file, no final file
    files = store.files()
    assert len(files) == 1 and files[0].endswith(".part.parquet"), files
    run_id = files[0].rsplit("/", 1)[1].removesuffix(".part.parquet")

    # a plain dataset read sees every delete the registry confirmed, each row once
    plain = store.plain_dataset()
    assert set(plain.run_id) == {run_id}
    assert not plain.duplicated(["repository", "tag", "item_type"]).any()
    outcomes: dict[str, set[str]] = {}
    for row in plain.to_dict("records"):
        if row["digest"]:
            outcomes.setdefault(manifest_path(row), set()).add(row["outcome"])
    for path in confirmed:
        assert outcomes.get(path), f"{path}: the registry deleted it, the audit does not say so"
        assert outcomes[path] <= {"deleted", "already-gone", "started"}, (path, outcomes[path])
    # the two deletes answered before the kill are done; the one in flight has no outcome
    assert {"deleted"} <= set().union(*(outcomes[p] for p in confirmed))
    in_flight = [p for p in confirmed if outcomes[p] == {"started"}]
    assert len(in_flight) == 1, outcomes
    assert (plain.outcome == "blocked").any()  # the batches the run never reached

    # report reads the dead run
    report = world.cli("report", store.root, "--format", "json")
    assert report.exit_code == 0, report.output
    (summary,) = json.loads(report.output)["runs"]
    assert summary["run_id"] == run_id and summary["started"] == 1 and summary["deleted"] >= 1

    # apply --only-failed resolves the started row: the registry had deleted it
    free_storages(world)
    part = f"{store.root}/{files[0]}"
    applied = world.cli("apply", part, "--only-failed", "--audit-dir", store.root, "--insecure-registry", "--without-kube")
    assert applied.exit_code == 0, applied.output
    apply_rows = read_audit(store.root).to_pandas()
    apply_rows = apply_rows[apply_rows.command == "apply"]
    assert [manifest_path(r) for r in apply_rows.to_dict("records") if r["outcome"] == "already-gone"] == in_flight
    assert set(apply_rows.outcome) <= {"already-gone", "deleted"}

    # the next cleanup deletes what the killed run never reached: the plan is complete
    again = world.cli("cleanup", *world.storage_args(audit_dir=store.root), "--insecure-registry", "--without-kube")
    assert again.exit_code == 0, again.output
    kept = plan[plan.action == "keep"]
    for what, present in (
        ("image-tag", world.image_tags()),
        ("stage", world.stage_tags()),
    ):
        assert not set(doomed[doomed.item_type == what].tag) & present
        assert set(kept[kept.item_type == what].tag) <= present
    assert not set(doomed[doomed.item_type == "image-metadata"].commit) & world.metadata_commits()
    cleanup_rows = read_audit(store.root).to_pandas()
    cleanup_rows = cleanup_rows[(cleanup_rows.command == "cleanup") & (cleanup_rows.run_id != run_id)]
    assert set(cleanup_rows[cleanup_rows.action == "delete"].outcome) <= {"deleted", "already-gone"}
    # the killed run's record stays as it was left; the two later runs each have their one file
    assert len([f for f in store.files() if f.endswith(".part.parquet")]) == 1
    assert len([f for f in store.files() if not f.endswith(".part.parquet")]) == 2
