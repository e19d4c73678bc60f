"""`host cleanup` and `host purge` through the CLI, against a private dockerd and a temp home."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.audit import read_audit
from cli.app import app

pytestmark = [pytest.mark.docker, pytest.mark.prefect]

WERF = {"werf": "acme"}
DAY = 24 * 3600


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def host_args(host, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--docker-host",
        host.address,
        "--home-dir",
        str(tmp_path / "home"),
        "--audit-dir",
        str(tmp_path / "home" / "audit"),
        *extra,
    ]


def audit_rows(tmp_path: Path) -> list[dict]:
    return read_audit(tmp_path / "home" / "audit").to_pylist()


def text(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


def write_file(path: Path, *, age_seconds: float = 0, content: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    moment = time.time() - age_seconds
    os.utime(path, (moment, moment))
    return path


def test_cleanup_removes_werf_images_least_recently_used_first_and_keeps_protected_ones(host, prefect_api, tmp_path) -> None:
    host.load_image(["acme/a:1"], age=timedelta(hours=3), labels=WERF)
    host.load_image(["acme/b:1"], age=timedelta(hours=2), labels=WERF)
    host.load_image(["acme/c:1"], age=timedelta(hours=5), labels=WERF)
    host.daemon.create_container("acme/c:1", "werf.build.c")  # C was used just now
    host.load_image(["ubuntu:test"], age=timedelta(hours=5))
    host.load_image(["acme/r:1"], age=timedelta(hours=5), labels=WERF)
    host.daemon.run_container("acme/r:1", "app-r")
    host.daemon.run_container("ubuntu:test", "werf.build.running")
    fresh_dangling = host.load_image([], age=timedelta(minutes=5), labels=WERF)
    old_dangling = host.load_image([], age=timedelta(minutes=30), labels=WERF)

    result = run_cli("host", "cleanup", *host_args(host, tmp_path, "--allowed-docker-storage-volume-usage", "0"))

    assert result.exit_code == 0, text(result)
    assert host.references() == {"ubuntu:test", "acme/r:1"}
    assert fresh_dangling in host.image_ids()
    assert old_dangling not in host.image_ids()
    assert host.container_names() == {"app-r", "werf.build.running"}
    rows = audit_rows(tmp_path)
    lru = [r["repository"] for r in rows if r["reason"] == "storage-volume-usage" and r["action"] == "delete"]
    assert lru == ["acme/a", "acme/b", "acme/c"], "least recently used first: c ran a container just now"
    outcomes = {(r["item_type"], r["repository"], r["tag"]): (r["action"], r["reason"], r["outcome"]) for r in rows}
    assert outcomes[("local-image", "<none>", old_dangling)] == ("delete", "host-cleanup", "deleted")
    assert outcomes[("local-image", "<none>", fresh_dangling)][:2] == ("keep", "host-cleanup")
    assert outcomes[("local-image", "acme/r", "1")] == ("keep", "used-by-container", "kept")
    assert outcomes[("local-image", "ubuntu", "test")] == ("keep", "host-cleanup", "kept")
    assert outcomes[("container", host.address, "werf.build.c")] == ("delete", "host-cleanup", "deleted")
    assert outcomes[("container", host.address, "werf.build.running")] == ("keep", "host-cleanup", "kept")
    assert {r["command"] for r in rows} == {"host-cleanup"} and {r["project"] for r in rows} == {""}


def test_cleanup_removes_no_image_while_the_volume_is_within_the_limit(host, prefect_api, tmp_path) -> None:
    host.load_image(["acme/a:1"], age=timedelta(days=3), labels=WERF)

    result = run_cli("host", "cleanup", *host_args(host, tmp_path, "--allowed-docker-storage-volume-usage", "100"))

    assert result.exit_code == 0, text(result)
    assert host.references() == {"acme/a:1"}
    [row] = [r for r in audit_rows(tmp_path) if r["item_type"] == "local-image"]
    assert (row["action"], row["reason"]) == ("keep", "storage-volume-usage")
    assert "within the allowed 100%" in row["detail"]


def test_dry_run_removes_nothing_and_lists_everything_it_would_remove(host, prefect_api, tmp_path) -> None:
    image = host.load_image(["acme/a:1"], age=timedelta(days=1), labels=WERF)
    host.daemon.create_container("acme/a:1", "werf.build.done")
    old = write_file(tmp_path / "home" / "tmp" / "old.log", age_seconds=2 * DAY)

    result = run_cli("host", "cleanup", "--dry-run", *host_args(host, tmp_path, "--allowed-docker-storage-volume-usage", "0"))

    assert result.exit_code == 0, text(result)
    assert image in host.image_ids() and host.container_names() == {"werf.build.done"} and old.exists()
    would = {(r["item_type"], r["tag"]) for r in audit_rows(tmp_path) if r["outcome"] == "would-delete"}
    assert would == {("local-image", "1"), ("container", "werf.build.done"), ("cache-entry", "old.log")}
    assert {r["dry_run"] for r in audit_rows(tmp_path)} == {True}


def test_home_temp_files_older_than_a_day_go_and_fresh_ones_stay(host, prefect_api, tmp_path) -> None:
    home = tmp_path / "home"
    old = write_file(home / "tmp" / "old.txt", age_seconds=DAY + 3600)
    nested = write_file(home / "tmp" / "build-1" / "patch.diff", age_seconds=2 * DAY)
    fresh = write_file(home / "tmp" / "new.txt", age_seconds=DAY - 3600)
    cached = write_file(home / "cache" / "git-archive", age_seconds=10 * DAY)
    prefect_db = write_file(home / "prefect" / "prefect.db", age_seconds=10 * DAY)

    result = run_cli("host", "cleanup", *host_args(host, tmp_path, "--allowed-local-cache-volume-usage", "100"))

    assert result.exit_code == 0, text(result)
    assert not old.exists() and not nested.exists() and not nested.parent.exists()
    assert fresh.exists() and cached.exists() and prefect_db.exists()
    assert list((home / "audit").rglob("*.parquet")), "the audit in the home stays"
    decided = {r["tag"]: (r["action"], r["outcome"]) for r in audit_rows(tmp_path) if r["item_type"] == "cache-entry"}
    assert decided == {
        "old.txt": ("delete", "deleted"),
        "build-1/patch.diff": ("delete", "deleted"),
        "new.txt": ("keep", "kept"),
        "git-archive": ("keep", "kept"),
    }


def purge_world(host, tmp_path: Path) -> dict:
    host.load_image(["acme/r:1"], age=timedelta(days=1), labels=WERF)
    host.daemon.run_container("acme/r:1", "werf.build.r")
    stage = host.load_image(["werf-stages-storage/acme:s-1"], age=timedelta(minutes=1))
    host.daemon.create_container("werf-stages-storage/acme:s-1", "werf.build.s")
    host.load_image(["ubuntu:test"], age=timedelta(days=1))
    host.daemon.run_container("ubuntu:test", "web")
    home = tmp_path / "home"
    return {
        "stage": stage,
        "tmp": write_file(home / "tmp" / "a" / "b"),
        "cache": write_file(home / "cache" / "entry" / "file"),
        "prefect": write_file(home / "prefect" / "prefect.db"),
    }


def test_purge_without_force_keeps_running_werf_containers_and_their_images(host, prefect_api, tmp_path) -> None:
    world = purge_world(host, tmp_path)

    result = run_cli("host", "purge", *host_args(host, tmp_path))

    assert result.exit_code == 0, text(result)
    assert host.container_names() == {"werf.build.r", "web"}
    assert host.references() == {"acme/r:1", "ubuntu:test"}
    assert world["stage"] not in host.image_ids()
    assert not world["tmp"].exists() and not (tmp_path / "home" / "cache" / "entry").exists()
    assert world["prefect"].exists()
    kept = {r["tag"]: r["detail"] for r in audit_rows(tmp_path) if r["item_type"] == "container" and r["action"] == "keep"}
    assert kept == {"werf.build.r": "running werf container; pass --force to remove it", "web": "not a werf container"}


def test_purge_with_force_removes_running_werf_containers(host, prefect_api, tmp_path) -> None:
    purge_world(host, tmp_path)

    result = run_cli("host", "purge", "--force", *host_args(host, tmp_path))

    assert result.exit_code == 0, text(result)
    assert host.container_names() == {"web"}
    assert host.references() == {"ubuntu:test"}
    assert {r["command"] for r in audit_rows(tmp_path)} == {"host-purge"}


def test_unreachable_daemon_stops_the_run_naming_the_address(prefect_api, tmp_path) -> None:
    address = f"unix://{tmp_path}/missing.sock"

    result = run_cli(
        "host",
        "cleanup",
        "--docker-host",
        address,
        "--home-dir",
        str(tmp_path / "home"),
        "--audit-dir",
        str(tmp_path / "home" / "audit"),
    )

    assert result.exit_code == 1
    assert f"cannot reach the Docker daemon at {address}" in text(result)
    assert "--docker-host" in text(result)
    assert audit_rows(tmp_path) == [], "an empty audit file is still written"
    assert list((tmp_path / "home" / "audit").rglob("*.parquet"))
