"""Two deleting runs never work in one stages storage / images repo at the same time: the second
one stops (exit 1, naming the storage and the other run) or waits, before it reads anything; a
run that died does not keep the storage held."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from adapters.run_lock import storage_key
from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]
ROOT = Path(__file__).resolve().parents[2]
STAGESWEEP = ROOT / ".venv" / "bin" / "stagesweep"
PROBE = "sha256:" + "0" * 64  # the delete pre-flight's digest, which never exists


@pytest.fixture
def home(tmp_path, monkeypatch):
    """One stagesweep home (its `locks/`) for this test's runs, in-process and subprocesses."""
    path = tmp_path / "home"
    monkeypatch.setenv("STAGESWEEP_HOME_DIR", str(path))
    return path


@pytest.fixture
def slow_world(git_project, registry, fault_proxy, unique_repo, tmp_path, home):
    """A world behind the fault proxy whose DELETEs take a second each; `first_delete` is set
    when the first real DELETE arrives; while `deletes_may_go` is clear, DELETEs wait for it."""
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    world.state = basic_world(world)
    world.first_delete = threading.Event()
    # cleared by a test that needs the first run still deleting (still holding its storages)
    # until its own second run has ended, however long that second run takes to start
    world.deletes_may_go = threading.Event()
    world.deletes_may_go.set()

    def slow(method: str, count: int, path: str) -> None:
        if method == "DELETE" and PROBE not in path:
            world.first_delete.set()
            world.deletes_may_go.wait(120)
            time.sleep(1.0)
        return None

    fault_proxy.rule = slow
    return world


def start_cli_run(world, audit_dir: Path, *args: str) -> subprocess.Popen:
    """`stagesweep cleanup` of this world as its own process (the nightly run)."""
    return subprocess.Popen(
        [
            str(STAGESWEEP),
            "cleanup",
            *world.storage_args(audit_dir=audit_dir),
            "--insecure-registry",
            "--without-kube",
            *args,
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def audit_rows(audit_dir: Path):
    files = sorted(audit_dir.rglob("*.parquet"))
    assert len(files) == 1, files
    return pq.read_table(files[0]).to_pandas()


def run_id_of(output: str) -> str:
    return re.search(r"cleanup run ([0-9a-f-]{36})", output).group(1)


@pytest.mark.slow
def test_second_run_on_a_storage_in_use_stops_naming_the_storage_and_the_other_run(slow_world, tmp_path):
    world = slow_world
    world.deletes_may_go.clear()
    nightly = start_cli_run(world, tmp_path / "audit-nightly")
    try:
        assert world.first_delete.wait(120), "the first run never reached its deletions"
        adhoc = world.cleanup("cleanup", "--without-kube", env={"STAGESWEEP_LOCK_WAIT_SECONDS": "1"})
        # the ad-hoc run ended while the nightly one was still deleting
        assert nightly.poll() is None
    finally:
        world.deletes_may_go.set()
        code, output = finish(nightly)
    assert code == 0, output
    assert adhoc.exit_code == 1, adhoc.output
    message = " ".join(adhoc.output.split())
    assert world.stages_address in message and "in use by" in message
    assert run_id_of(output) in message and f"pid {nightly.pid}" in message
    assert "Nothing was read or deleted" in message
    assert "Traceback" not in adhoc.output
    # the audits: the nightly run deleted, the stopped one decided nothing
    nightly_rows = audit_rows(tmp_path / "audit-nightly")
    assert (nightly_rows.outcome == "deleted").sum() > 0
    stopped = world.last_audit()
    assert len(stopped) == 0


@pytest.mark.slow
def test_dry_run_reads_while_another_run_deletes_without_waiting(slow_world, tmp_path):
    world = slow_world
    world.deletes_may_go.clear()
    nightly = start_cli_run(world, tmp_path / "audit-nightly")
    try:
        assert world.first_delete.wait(120), "the first run never reached its deletions"
        preview = world.cleanup("cleanup", "--dry-run", "--without-kube", env={"STAGESWEEP_LOCK_WAIT_SECONDS": "0"})
        # the dry run finished while the nightly run was still deleting
        assert nightly.poll() is None
    finally:
        world.deletes_may_go.set()
        code, output = finish(nightly)
    assert code == 0, output
    assert preview.exit_code == 0, preview.output
    assert "in use by" not in preview.output
    assert (world.last_audit().outcome == "would-delete").sum() > 0


@pytest.mark.slow
def test_second_run_waits_for_the_first_and_then_finds_nothing_left_to_delete(slow_world, tmp_path):
    world = slow_world
    world.deletes_may_go.clear()
    nightly = start_cli_run(world, tmp_path / "audit-nightly")
    # the first run goes on deleting 15 s after its first delete: the second starts well before
    # (it waits for the first, so the deletes cannot wait for it to end)
    opener = threading.Timer(15, world.deletes_may_go.set)
    try:
        assert world.first_delete.wait(120), "the first run never reached its deletions"
        opener.start()
        adhoc = world.cleanup("cleanup", "--without-kube", env={"STAGESWEEP_LOCK_WAIT_SECONDS": "240"})
    finally:
        opener.cancel()
        world.deletes_may_go.set()
        code, output = finish(nightly)
    assert code == 0, output
    assert adhoc.exit_code == 0, adhoc.output
    nightly_rows = audit_rows(tmp_path / "audit-nightly")
    adhoc_rows = world.last_audit()
    deleted = nightly_rows[nightly_rows.outcome == "deleted"]
    assert len(deleted) > 0
    # the waiting run read the storages only after the first one ended: it saw none of the
    # items the first one deleted, so it deleted nothing twice (and nothing at all here)
    assert not set(deleted.tag) & set(adhoc_rows.tag)
    assert (adhoc_rows.outcome == "deleted").sum() == 0
    assert adhoc_rows.started_at.iloc[0] < nightly_rows.decided_at.max() < adhoc_rows.decided_at.iloc[0]


def test_images_repo_in_use_stops_a_run_on_another_stages_storage(slow_world, tmp_path):
    """The images repo is held too: a run with another stages storage but the same images repo
    stops."""
    world = slow_world
    world.deletes_may_go.clear()
    nightly = start_cli_run(world, tmp_path / "audit-nightly")
    try:
        assert world.first_delete.wait(120), "the first run never reached its deletions"
        other = world.cli(
            "images",
            "cleanup",
            "--images-repo",
            world.images_address + "/",
            "--stages-storage",
            world.stages_address + "-other",
            "--dir",
            str(world.git.work),
            "--audit-dir",
            str(tmp_path / "audit-other"),
            "--insecure-registry",
            "--without-kube",
            env={"STAGESWEEP_LOCK_WAIT_SECONDS": "0"},
        )
        assert nightly.poll() is None
    finally:
        world.deletes_may_go.set()
        code, output = finish(nightly)
    assert code == 0, output
    assert other.exit_code == 1, other.output
    assert "images repo" in other.output and "in use by" in other.output


HOLD = """
import sys, time
from adapters.run_lock import FileRunLock, storage_key
lock = FileRunLock(storage_key(sys.argv[1]))
assert lock.acquire({"run_id": "00000000-0000-0000-0000-00000000dead", "command": "cleanup"}, 0)
print("held", flush=True)
time.sleep(600)
"""


def test_a_lock_left_by_a_killed_run_does_not_block_the_next_run(git_project, registry, unique_repo, tmp_path, home):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    w = basic_world(world)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, world.stages_address],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        blocked = world.cleanup("cleanup", "--without-kube", env={"STAGESWEEP_LOCK_WAIT_SECONDS": "0"})
        assert blocked.exit_code == 1, blocked.output
        assert "00000000-0000-0000-0000-00000000dead" in blocked.output
        assert w["f1"] in world.image_tags()
        os.kill(holder.pid, signal.SIGKILL)  # the run dies without releasing anything
        holder.wait(10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
    result = world.cleanup("cleanup", "--without-kube", env={"STAGESWEEP_LOCK_WAIT_SECONDS": "0"})
    assert result.exit_code == 0, result.output
    assert w["f1"] not in world.image_tags()


def test_addresses_of_one_storage_share_one_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage_key("127.0.0.1:5000/acme/stages") == storage_key("127.0.0.1:5000/acme/stages/")
    assert storage_key("Registry.Example.com/acme") == storage_key("registry.example.com/acme")
    assert storage_key("oci:stages") == storage_key(f"oci:{tmp_path}/stages") == storage_key(f"oci:{tmp_path}/./stages/")
    assert storage_key("127.0.0.1:5000/acme/stages") != storage_key("127.0.0.1:5000/acme/images")
    assert storage_key(":local", "unix:///a.sock") != storage_key(":local", "unix:///b.sock")
