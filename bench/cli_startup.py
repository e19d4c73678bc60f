"""Wall time of a small `stagesweep cleanup --dry-run` (10 image tags) from the command line
with no Prefect API configured: the first run on a new machine (the CLI starts a local Prefect
server and waits for it), later runs (that server reused), and Prefect's ephemeral API cold and
warm for comparison. Reference measured in the same run: `python -c "import prefect"` (the floor
of any CLI call that runs a flow).

Every case runs several times (`--runs`, default 5) and is reported as min and median of the wall
time, so that a shared, noisy machine still gives a fair number, with the median CPU seconds of
the CLI process (what a loaded machine changes least); the load average is printed before and
after.
Each first run has a new `STAGESWEEP_HOME_DIR` (so a new Prefect database), a new port and a new
`PREFECT_UI_STATIC_DIRECTORY` (so the server copies its UI as on a new machine); the two runs after
it reuse the server it started, which is then stopped.

    .venv/bin/python bench/cli_startup.py [--runs 5] [--ephemeral-runs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds of `cmd`, and the CPU seconds of the command's process (and the children it
    waited for; not those of a server it left running): the part of the wall time a loaded
    machine changes least."""
    cpu, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, children_cpu() - cpu


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


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each case but the ephemeral API ones")
    parser.add_argument("--ephemeral-runs", type=int, default=2, help="runs of each ephemeral API case (0: none)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stagesweep-bench-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false")
    world = small_world(work / "world")
    cmd = cleanup_cmd(world, work / "audit")
    first_label = "cleanup --dry-run, first run on a new machine (starts the local server)"
    reused = ("cleanup --dry-run, second run (local server reused)", "cleanup --dry-run, third run (local server reused)")
    cold, warm = "cleanup --dry-run, ephemeral API, cold (new PREFECT_HOME)", "cleanup --dry-run, ephemeral API, warm"
    ref_label = "python -c 'import prefect' (reference)"
    times: dict[str, list[tuple[float, float]]] = {}
    load_before = load()
    for i in range(args.runs):
        times.setdefault(ref_label, []).append(timed([sys.executable, "-c", "import prefect"], env))
        times.setdefault("stagesweep --help", []).append(timed([str(BIN / "stagesweep"), "--help"], env))
        # the default: no API configured, the CLI starts a local server on first use and reuses it
        auto = dict(
            env,
            STAGESWEEP_HOME_DIR=str(work / f"auto-home-{i}"),
            STAGESWEEP_PREFECT_SERVER=f"http://127.0.0.1:{free_port()}/api",
            STAGESWEEP_PREFECT_SERVER_AUTOSTART="true",
            PREFECT_UI_STATIC_DIRECTORY=str(work / f"ui-{i}"),
        )
        try:
            for label in (first_label, *reused):
                times.setdefault(label, []).append(timed(cmd, auto))
        finally:
            subprocess.run([str(BIN / "stagesweep"), "server", "stop"], env=auto, capture_output=True)
    # Prefect's ephemeral API (autostart off), for comparison
    for i in range(args.ephemeral_runs):
        eph = dict(
            env,
            STAGESWEEP_HOME_DIR=str(work / f"eph-home-{i}"),
            STAGESWEEP_PREFECT_SERVER_AUTOSTART="false",
            STAGESWEEP_PREFECT_SERVER=f"http://127.0.0.1:{free_port()}/api",
        )
        for label in (cold, warm):
            times.setdefault(label, []).append(timed(cmd, eph))
    ref = statistics.median(wall for wall, _ in times[ref_label])
    print(f"load average (1 / 5 / 15 min): {load_before} before, {load()} after; {os.cpu_count()} cores")
    print()
    print("| run | n | wall min (s) | wall median (s) | median × reference | CLI CPU median (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, samples in times.items():
        walls = [wall for wall, _ in samples]
        median = statistics.median(walls)
        cpu = statistics.median(c for _, c in samples)
        print(f"| {label} | {len(walls)} | {min(walls):.1f} | {median:.1f} | {median / ref:.1f} | {cpu:.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
