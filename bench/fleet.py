"""A fleet of projects on a Prefect work pool vs the same projects one by one.

One run, one local Distribution registry, one ``prefect server`` (SQLite, loopback, UI and
scheduler off), a process work pool and ``--workers`` workers taking one project at a time each,
all started and removed by the script:

1. the world: ``--projects`` projects, each a bare git origin (``git fast-import``, read by
   file:// URL) whose ``main`` holds ``--images`` − ``--stale`` commits and whose werf.yaml keeps
   every image a branch reaches, and ``--images`` end images in the registry (werf v1.1 layout as
   in ``cleanup_scale.py``: end image tagged by commit + its stage + its metadata record). The
   ``--stale`` oldest images' commits are not in git: a cleanup deletes 3·stale items per project;
2. the warm-up, shown: ``fleet cleanup FILE --dry-run`` without a pool (each project a subflow of
   one process) fills the caches (registry reads, git mirrors) every later run shares;
3. interleaved, best of ``--rounds``: the projects one by one (``stagesweep cleanup --dry-run
   --git-url ...``, one CLI call after the other) and the same fleet dry run on the pool;
4. the real ``fleet cleanup`` on the pool, then once more: the rerun must delete nothing.

Wall times are whole CLI processes. From the Prefect API, per project run: its flow body (its
flow run from Running to its final state) and, for a child on the pool, its start-up (first
Pending, the worker taking it → Running: the worker handing it to a new process, imports,
loading the flow) and its creation time. **Overhead per child run** = (fleet wall × workers −
Σ child flow bodies) / projects: the worker-slot seconds per project not spent in the project's
own cleanup. The same for the one-by-one calls: (Σ CLI walls − Σ flow bodies) / projects. Also
the Prefect server's CPU seconds during each run; counts per outcome from each run's audit file.

    .venv/bin/python bench/fleet.py [--projects 50] [--images 200] [--stale 10] [--workers 2]
        [--rounds 1] [--query-seconds 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from cleanup_scale import Http, push, run_parallel, world_items  # noqa: E402

from tests.deploy.server import BIN, PrefectServer, stop_process  # noqa: E402
from tests.fixtures.registry import RegistryServer, free_port, require_registry_binary  # noqa: E402

POOL = "bench-fleet"
WERF_YAML = "project: {name}\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references: {{branch: /.*/}}\n---\nimage: app\n"
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system, with reaped children) of the processes of a process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == pgid:
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


class LoadSampler(threading.Thread):
    """The 1-minute load average every 5 s, to say what load each phase ran under."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []

    def run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), os.getloadavg()[0]))
            time.sleep(5)

    def during(self, start: float, end: float) -> str:
        values = [load for t, load in self.samples if start <= t <= end] or [os.getloadavg()[0]]
        return f"{min(values):.1f}–{max(values):.1f}"


# ---------------------------------------------------------------------------------- the world
def make_origin(path: Path, name: str, commits: int, now: dt.datetime) -> list[str]:
    """A bare repository whose ``main`` has ``commits`` commits an hour apart (the last an hour
    ago), the first adding the werf.yaml; their SHAs, oldest first."""
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)], check=True, env=GIT_ENV)
    werf = WERF_YAML.format(name=name).encode()
    first = int(now.timestamp()) - 3600 * commits
    stream = [b"blob\nmark :1\ndata %d\n%s\n" % (len(werf), werf)]
    for i in range(commits):
        message = b"change %d" % i
        add = b"M 100644 :1 werf.yaml\n" if i == 0 else b""
        stream.append(
            b"commit refs/heads/main\nmark :%d\ncommitter Bench <bench@example.test> %d +0000\ndata %d\n%s\n%s\n"
            % (i + 2, first + 3600 * i, len(message), message, add)
        )
    marks = path / "bench-marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}"], cwd=path, input=b"".join(stream), check=True, env=GIT_ENV
    )
    shas = dict(line.split() for line in marks.read_text().splitlines())
    marks.unlink()
    return [shas[f":{i + 2}"] for i in range(commits)]


def build_world(work: Path, host: str, args) -> list[dict]:
    """Git origins and registry images of every project; the fleet file's project entries."""
    now = utcnow().replace(microsecond=0)
    projects, items = [], []
    for i in range(args.projects):
        name = f"p{i:03d}"
        origin = work / "git" / f"{name}.git"
        real = make_origin(origin, name, args.images - args.stale, now)
        items += world_items(host, name, args.images, real, now)
        projects.append(
            {
                "name": name,
                "git": origin.as_uri(),
                "images_repo": f"{host}/bench/{name}/images",
                "stages_storage": f"{host}/bench/{name}/stages",
            }
        )
    http_ = Http(host)
    seconds = run_parallel(16, lambda item: push(http_, item), items)
    print(
        f"fill: {len(items)} images ({3 * len(items)} requests) in {seconds:.0f} s = {3 * len(items) / seconds:.0f} req/s",
        flush=True,
    )
    return projects


# ---------------------------------------------------------------------------------- measuring
@dataclass
class Run:
    label: str
    wall: float
    load: str
    slots: int  # project runs at a time
    server_cpu: float  # CPU seconds of the Prefect server meanwhile
    bodies: list[float] = field(default_factory=list)  # each project run: Running → final (s)
    startups: list[float] = field(default_factory=list)  # each child on the pool: Pending → Running (s)
    created: list[dt.datetime] = field(default_factory=list)  # when each child on the pool was created
    outcomes: Counter = field(default_factory=Counter)  # audit rows of its project runs, by outcome
    failed: list[str] = field(default_factory=list)

    def overhead(self) -> float:
        """Seconds per project run not spent in a project's flow body (slots × wall)."""
        return (self.wall * self.slots - sum(self.bodies)) / max(len(self.bodies), 1)


class Bench:
    def __init__(self, work: Path, env: dict, load: LoadSampler, server_pid: int) -> None:
        self.work, self.env, self.load, self.server_pid = work, env, load, server_pid
        self.audit = work / "audit"
        self.problems: list[str] = []

    def cli(self, *args: str) -> float:
        """Wall seconds of ``stagesweep ARGS``; a non-zero exit is recorded as a problem."""
        started = time.perf_counter()
        result = subprocess.run(
            [str(BIN / "stagesweep"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            self.problems.append(
                f"stagesweep {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return wall

    def project_runs(self, run: Run, since: dt.datetime, pool: bool) -> Run:
        """Fill ``run`` from the ``cleanup`` flow runs started after ``since`` and their audits."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterStartTime

        with get_client(sync_client=True) as client:
            flow_runs: list = []
            while True:
                page = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=["cleanup"])),
                    flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
                    limit=200,
                    offset=len(flow_runs),
                )
                flow_runs += page
                if len(page) < 200:
                    break
            audits = {path.stem: path for path in self.audit.rglob("*.parquet")}
            for flow_run in flow_runs:
                if flow_run.end_time is None or not flow_run.state.is_completed():
                    run.failed.append(f"{flow_run.name} ({flow_run.state_name}: {flow_run.state.message})")
                    continue
                run.bodies.append((flow_run.end_time - flow_run.start_time).total_seconds())
                if pool:
                    states = client.read_flow_run_states(flow_run.id)
                    claimed = min(s.timestamp for s in states if s.type.value == "PENDING")  # the worker took it
                    run.startups.append((flow_run.start_time - claimed).total_seconds())
                    run.created.append(flow_run.created)
                audit = audits.get(str(flow_run.id))
                if audit is not None:
                    run.outcomes.update(pq.read_table(audit, columns=["outcome"]).column("outcome").to_pylist())
        if run.failed:
            self.problems.append(f"{run.label}: project runs not completed: {', '.join(run.failed)}")
        return run

    def mark(self) -> tuple[dt.datetime, float, float]:
        return utcnow(), time.monotonic(), group_cpu(self.server_pid)

    def measured(self, mark: tuple, label: str, wall: float, slots: int, pool: bool) -> Run:
        since, started, cpu = mark
        run = Run(label, wall, self.load.during(started, time.monotonic()), slots, group_cpu(self.server_pid) - cpu)
        print(f"  {label}: {wall:.1f} s", flush=True)
        return self.project_runs(run, since, pool)

    def fleet(self, label: str, *extra: str, pool: int = 0) -> Run:
        """A fleet run: on the work pool with ``pool`` workers, else in one process."""
        mark = self.mark()
        where = ("--work-pool", POOL) if pool else ()
        wall = self.cli("fleet", "cleanup", str(self.work / "fleet.yaml"), *where, "--audit-dir", str(self.audit), *extra)
        return self.measured(mark, label, wall, max(pool, 1), pool > 0)

    def one_by_one(self, projects: list[dict]) -> Run:
        mark, walls = self.mark(), []
        for p in projects:
            wall = self.cli(
                "cleanup", "--dry-run", "--git-url", p["git"], "--images-repo", p["images_repo"],
                "--stages-storage", p["stages_storage"], "--insecure-registry", "--without-kube",
                "--keep-stages-built-within-last-n-hours", "0", "--audit-dir", f"{self.audit}/project={p['name']}",
            )  # fmt: skip
            walls.append(wall)
        print(f"  one by one: median call {statistics.median(walls):.1f} s")
        return self.measured(mark, "one by one, dry run (Σ of the CLI calls)", sum(walls), 1, pool=False)

    def wait_for_workers(self, count: int, timeout: float = 180) -> None:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while len(client.read_workers_for_work_pool(POOL)) < count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"fewer than {count} workers on pool {POOL} after {timeout:.0f} s")
                time.sleep(1)


# ---------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--images", type=int, default=200, help="end images per project")
    parser.add_argument("--stale", type=int, default=10, help="images per project whose commits are not in git")
    parser.add_argument("--workers", type=int, default=2, help="workers of the pool, one project at a time each")
    parser.add_argument("--rounds", type=int, default=1, help="one-by-one and fleet dry runs, interleaved (best kept)")
    parser.add_argument("--query-seconds", type=float, default=1, help="PREFECT_WORKER_QUERY_SECONDS of the workers")
    args = parser.parse_args()
    if not 0 < args.stale < args.images:
        parser.error("--stale must be between 1 and --images - 1")
    require_registry_binary()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    load = LoadSampler()
    load.start()
    work = Path(tempfile.mkdtemp(prefix="stagesweep-bench-fleet-"))
    registry = RegistryServer(root=work, port=free_port())
    (work / "prefect").mkdir()
    server = PrefectServer(home=work / "prefect")
    workers: list[subprocess.Popen] = []
    bench = None
    try:
        registry.start()
        starting = threading.Thread(target=server.start)
        starting.start()  # the server's start-up overlaps the fill
        projects = build_world(work, registry.host, args)
        starting.join()
        if server.process is None or server.process.poll() is not None:
            raise RuntimeError(f"prefect server did not start:\n{server.log_tail()}")
        defaults = {"insecure_registry": True, "without_kube": True, "keep_stages_built_within_last_n_hours": 0}
        (work / "fleet.yaml").write_text(yaml.safe_dump({"defaults": defaults, "projects": projects}))
        env = server.env(
            HOME=str(work / "home"),
            PREFECT_WORKER_QUERY_SECONDS=str(args.query_seconds),
            STAGESWEEP_PREFECT_SERVER_AUTOSTART="false",
        )
        os.environ.update(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(work / "prefect"))  # this process's API client
        bench = Bench(work, env, load, server.process.pid)
        server.run(str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process", env=env)
        for i in range(args.workers):
            command = (str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", f"w{i}", "--limit", "1")
            workers.append(server.spawn(*command, env=env, log=work / f"worker-{i}.log"))
        bench.wait_for_workers(args.workers)
        print(f"{args.projects} projects × {args.images} images ({args.stale} stale), {args.workers} workers", flush=True)

        # the warm-up fills the caches (registry reads, git mirrors) every later run shares
        cold = bench.fleet("fleet dry run in one process (subflows), empty caches", "--dry-run")
        singles, fleets = [], []
        for _ in range(args.rounds):
            singles.append(bench.one_by_one(projects))
            fleets.append(bench.fleet("fleet dry run on the pool", "--dry-run", pool=args.workers))
        single, fleet = min(singles, key=lambda r: r.wall), min(fleets, key=lambda r: r.wall)
        real = bench.fleet("fleet cleanup on the pool (deletes)", pool=args.workers)
        rerun = bench.fleet("fleet cleanup on the pool, rerun", pool=args.workers)
        expected = args.projects * args.stale * 3
        if real.outcomes["deleted"] != expected or rerun.outcomes["deleted"]:
            bench.problems.append(
                f"deleted {real.outcomes['deleted']} (expected {expected}), then {rerun.outcomes['deleted']} (expected 0)"
            )
        report(args, [cold, single, fleet, real, rerun], time.monotonic() - began)
        return 1 if bench.problems else 0
    finally:
        for worker in workers:
            stop_process(worker)
        server.stop()
        registry.stop()
        if bench is not None and bench.problems:
            print("\nPROBLEMS:\n" + "\n\n".join(bench.problems), file=sys.stderr)
            for log in sorted(work.glob("worker-*.log")):
                print(f"--- {log.name} (tail)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(args, runs: list[Run], total: float) -> None:
    _, single, fleet, real, rerun = runs

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.1f}" if values else "—"

    def outcomes(run: Run) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(run.outcomes.items()))

    print(f"\n{args.projects} projects × {args.images} end images ({3 * args.images + 1} werf tags each), {args.stale} stale")
    print(f"{args.workers} workers × 1 project at a time, worker query interval {args.query_seconds:g} s\n")
    print(
        "| run | wall (s) | children created within (s) | flow body per project, median (s) | child start-up, median (s) | "
        "overhead per project run (s) | Prefect server CPU (s) | audit outcomes | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for run in runs:
        created = f"{(max(run.created) - min(run.created)).total_seconds():.0f}" if run.created else "—"
        print(
            f"| {run.label} | {run.wall:.1f} | {created} | {median(run.bodies)} | {median(run.startups)} | "
            f"{run.overhead():.1f} | {run.server_cpu:.0f} | {outcomes(run)} | {run.load} |"
        )
    print(f"\none by one / fleet on the pool: {single.wall:.1f} s / {fleet.wall:.1f} s = {single.wall / fleet.wall:.2f}×")
    print(
        f"overhead per child run: {fleet.overhead():.1f} s (per one-by-one CLI call: {single.overhead():.1f} s); "
        f"fleet wall × workers / projects = {fleet.wall * args.workers / args.projects:.1f} s"
    )
    print(
        f"real fleet cleanup: {real.wall:.1f} s, {real.outcomes['deleted']} deleted (expected {3 * args.projects * args.stale})"
    )
    print(f"rerun: {rerun.wall:.1f} s, {rerun.outcomes['deleted']} deleted (expected 0)")
    print(f"total run time: {total / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
