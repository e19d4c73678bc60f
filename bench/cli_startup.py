"""Wall time of a small `stagesweep cleanup --dry-run` (10 image tags) from the command line
with no Prefect API configured: the first run on a new machine (the CLI starts a local Prefect
server and waits for it), later runs (that server reused), and Prefect's ephemeral API cold and
warm for comparison. Reference measured in the same run: `python -c "import prefect"` (the floor
of any CLI call that runs a flow).

    .venv/bin/python bench/cli_startup.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent


def small_world(root: Path) -> dict:
    from adapters.demo_world import GitWorld, utc_now, weeks_ago
    from adapters.storage import open_images_repo, open_stages_storage
    from adapters.storage.publisher import Publisher

    now = utc_now()
    git = GitWorld(root / "git")
    (git.work / "werf.yaml").write_text("project: bench\nconfigVersion: 1\n---\nimage: app\n")
    stages = open_stages_storage(f"oci:{root / 'stages'}", "bench")
    images = open_images_repo(f"oci:{root / 'images'}", "bench", "multirepo")
    with Publisher(stages, images) as pub:
        for i in range(5):
            when = weeks_ago(now, days=10 - i)
            c = git.commit("main", when, f"c{i}")
            built = pub.build("app", built_at=when)
            pub.publish(built, c, c)
            pub.publish(built, f"build-{i}", c)
    git.push_all()
    return {"dir": str(git.work), "stages": f"oci:{root / 'stages'}", "images": f"oci:{root / 'images'}"}


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def cleanup_cmd(world: dict, audit: Path) -> list[str]:
    return [
        str(BIN / "stagesweep"),
        "cleanup",
        "--images-repo",
        world["images"],
        "--stages-storage",
        world["stages"],
        "--dir",
        world["dir"],
        "--audit-dir",
        str(audit),
        "--without-kube",
        "--dry-run",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="stagesweep-bench-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false")
    rows = []
    ref = timed([sys.executable, "-c", "import prefect"], env)
    rows.append(("python -c 'import prefect' (reference)", ref))
    rows.append(("stagesweep --help", timed([str(BIN / "stagesweep"), "--help"], env)))
    # the default: no API configured, the CLI starts a local server on first use and reuses it
    auto = dict(
        env,
        STAGESWEEP_HOME_DIR=str(work / "auto-home"),
        STAGESWEEP_PREFECT_SERVER=f"http://127.0.0.1:{free_port()}/api",
        STAGESWEEP_PREFECT_SERVER_AUTOSTART="true",
    )
    try:
        for label in (
            "cleanup --dry-run, first run on a new machine (starts the local server)",
            "cleanup --dry-run, second run (local server reused)",
            "cleanup --dry-run, third run (local server reused)",
        ):
            world = small_world(Path(tempfile.mkdtemp(dir=work)))
            rows.append((label, timed(cleanup_cmd(world, work / "audit"), auto)))
    finally:
        subprocess.run([str(BIN / "stagesweep"), "server", "stop"], env=auto, capture_output=True)
    # Prefect's ephemeral API (autostart off), for comparison
    eph = dict(
        env,
        STAGESWEEP_HOME_DIR=str(work / "eph-home"),
        STAGESWEEP_PREFECT_SERVER_AUTOSTART="false",
        STAGESWEEP_PREFECT_SERVER=f"http://127.0.0.1:{free_port()}/api",
    )
    for label in ("cleanup --dry-run, ephemeral API, cold (new PREFECT_HOME)", "cleanup --dry-run, ephemeral API, warm"):
        world = small_world(Path(tempfile.mkdtemp(dir=work)))
        rows.append((label, timed(cleanup_cmd(world, work / "audit"), eph)))
    print("| run | wall time (s) | × reference |")
    print("|---|---:|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} | {seconds / ref:.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
