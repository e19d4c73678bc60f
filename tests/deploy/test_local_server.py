"""With no Prefect API configured, the CLI starts a local Prefect server on first use, reuses it
on later calls (its runs stay visible), and `stagesweep server stop` stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def small_world(root: Path) -> dict[str, str]:
    from adapters.demo_world import GitWorld, utc_now, weeks_ago
    from adapters.storage import open_images_repo, open_stages_storage
    from adapters.storage.publisher import Publisher

    now = utc_now()
    git = GitWorld(root / "git")
    (git.work / "werf.yaml").write_text("project: small\nconfigVersion: 1\n---\nimage: app\n")
    stages = open_stages_storage(f"oci:{root / 'stages'}", "small")
    images = open_images_repo(f"oci:{root / 'images'}", "small", "multirepo")
    with Publisher(stages, images) as pub:
        for i in range(3):
            when = weeks_ago(now, days=10 - i)
            commit = git.commit("main", when, f"c{i}")
            pub.publish(pub.build("app", built_at=when), commit, commit)
    git.push_all()
    return {"dir": str(git.work), "stages": f"oci:{root / 'stages'}", "images": f"oci:{root / 'images'}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(api: str) -> bool:
    try:
        with urllib.request.urlopen(api + "/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_cli_starts_a_local_server_once_reuses_it_and_stops_it(tmp_path):
    world = small_world(tmp_path / "world")
    api = f"http://127.0.0.1:{free_port()}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        STAGESWEEP_HOME_DIR=str(tmp_path / "home"),
        STAGESWEEP_PREFECT_SERVER=api,
        STAGESWEEP_PREFECT_SERVER_AUTOSTART="true",
    )
    cleanup = [
        str(BIN / "stagesweep"),
        "cleanup",
        "--dry-run",
        "--without-kube",
        "--images-repo",
        world["images"],
        "--stages-storage",
        world["stages"],
        "--dir",
        world["dir"],
        "--audit-dir",
        str(tmp_path / "audit"),
    ]
    try:
        first = subprocess.run(cleanup, env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "starting a local Prefect server" in first.stderr
        assert answers(api)
        second = subprocess.run(cleanup, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "starting a local Prefect server" not in second.stderr
        ui = api.removesuffix("/api")
        run_ids = [
            line.rsplit("/", 1)[-1] for line in (first.stdout + second.stdout).splitlines() if f"{ui}/runs/flow-run/" in line
        ]
        assert len(run_ids) == 2
        for run_id in run_ids:  # both runs are in the server's history
            with urllib.request.urlopen(f"{api}/flow_runs/{run_id}", timeout=5) as resp:
                assert resp.status == 200
    finally:
        stop = subprocess.run([str(BIN / "stagesweep"), "server", "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "stopped" in stop.stdout
    assert not answers(api)
