"""A fleet of projects on a Prefect work pool vs the same projects in one process and one by one.

One run, everything started and removed by the script: one local Distribution registry, behind
a delay line with ``--latency-ms`` (``delay_line.py``: that much each way and once per new
connection; the projects name the line's address, so every registry request pays it), one
``prefect server`` (loopback, UI and scheduler off, its access log on; its database a PostgreSQL
cluster of its own, or SQLite with ``--database sqlite``), a process work pool and its workers
(``prefect worker start --limit 1``, polling every ``--query-seconds``):

1. the world: ``--projects`` projects, each a bare git origin (``git fast-import``, read by
   file:// URL) whose ``main`` holds ``--images`` − ``--stale`` commits and whose werf.yaml keeps
   every image a branch reaches, and ``--images`` end images in the registry (werf v1.1 layout as
   in ``cleanup_scale.py``: end image tagged by commit + its stage + its metadata record). The
   ``--stale`` oldest images' commits are not in git: a cleanup deletes 3·stale items per project;
2. the warm-up, shown: ``fleet cleanup FILE --dry-run`` without a pool (each project a subflow of
   one process) fills the caches (registry reads, git mirrors) every later run shares;
3. ``--scenarios pool``: interleaved, best of ``--rounds``, the projects one by one
   (``stagesweep cleanup --dry-run --git-url ...``, one CLI call after the other) and the fleet
   dry run on ``--workers`` workers; then the real ``fleet cleanup`` on the pool and once more (the
   rerun must delete nothing). No ``registries:`` limits.
   ``--scenarios full`` (16 projects × 100 images, 25 ms by default): dry runs only, best of
   ``--rounds`` — the projects one by one, the fleet in one process, the pool on 1, 2 and 4
   workers (restarted between scenarios; none run outside the pool's scenarios), all with the
   fleet file's ``registries:`` limit (``max_concurrent_requests: --limit`` on the line's host),
   and the 4-worker pool once more without it.

Wall times are whole CLI processes. From the Prefect API, per project run: its flow body (its
flow run from Running to its final state), for a child on the pool its start-up (first Pending,
the worker taking it → Running: the worker handing it to a new process, imports, loading the
flow) and, for a fleet, when each child was created relative to the parent's start. **Overhead
per child run** = (wall × slots − Σ child flow bodies) / projects: the worker-slot seconds per
project not spent in the project's own cleanup (one slot for a fleet in one process and for the
one-by-one calls). From the server's access log: the API calls during the run (workers' polls
included) and its 503 answers. The CPU seconds of the server and its database during the run;
counts per outcome from each run's audit file. With ``--engine-command`` the pool's default
command is ``python -m prefect.engine``: a worker starts a child as one process, without Prefect's
workspace supervisor process in front of it.

    .venv/bin/python bench/fleet.py [--scenarios pool|full] [--projects 50] [--images 200] [--stale 10]
        [--workers 2] [--rounds 1] [--query-seconds 1] [--latency-ms 0] [--limit 8] [--database postgresql]
        [--engine-command]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from delay_line import DelayLineProcess  # noqa: E402
from fleet_report import IN_PROCESS, ONE_BY_ONE, Run, pool_label, report_full, report_pool  # noqa: E402
from fleet_world import POOL, LoadSampler, LoggedServer, Workers, begin_bench, build_world, group_cpu, utcnow  # noqa: E402

from tests.deploy.server import BIN  # noqa: E402

#: the defaults of each mode: (projects, images, latency ms)
MODES = {"pool": (50, 200, 0.0), "full": (16, 100, 25.0)}


# ---------------------------------------------------------------------------------- measuring
class Bench:
    def __init__(self, work: Path, env: dict, load: LoadSampler, server: LoggedServer, cpu_groups: list[int]) -> None:
        self.work, self.env, self.load, self.server, self.cpu_groups = work, env, load, server, cpu_groups
        self.audit = work / "audit"
        self.problems: list[str] = []
        self.exits: list[int] = []  # exit codes of the CLI calls of the run being measured

    def cli(self, *args: str) -> float:
        """Wall seconds of ``stagesweep ARGS``; a non-zero exit is recorded as a problem."""
        started = time.perf_counter()
        result = subprocess.run(
            [str(BIN / "stagesweep"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - started
        self.exits.append(result.returncode)
        if result.returncode != 0:
            self.problems.append(
                f"stagesweep {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return wall

    def project_runs(self, run: Run, since: dt.datetime, pool: bool) -> Run:
        """Fill ``run`` from the flow runs started after ``since`` and their audits."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterStartTime

        def started_since(flow: str) -> list:
            found: list = []
            while True:
                page = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                    flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
                    limit=200,
                    offset=len(found),
                )
                found += page
                if len(page) < 200:
                    return found

        with get_client(sync_client=True) as client:
            parents = started_since("fleet_cleanup")
            run.parent_start = min((p.start_time for p in parents), default=None)
            audits = {path.stem: path for path in self.audit.rglob("*.parquet")}
            for flow_run in started_since("cleanup"):
                if flow_run.end_time is None or not flow_run.state.is_completed():
                    run.failed.append(f"{flow_run.name} ({flow_run.state_name}: {flow_run.state.message})")
                    continue
                run.bodies.append((flow_run.end_time - flow_run.start_time).total_seconds())
                if parents:
                    run.created.append(flow_run.created)
                if pool:
                    states = client.read_flow_run_states(flow_run.id)
                    claimed = min(s.timestamp for s in states if s.type.value == "PENDING")  # the worker took it
                    run.startups.append((flow_run.start_time - claimed).total_seconds())
                audit = audits.get(str(flow_run.id))
                if audit is not None:
                    run.outcomes.update(pq.read_table(audit, columns=["outcome"]).column("outcome").to_pylist())
        if run.failed:
            self.problems.append(f"{run.label}: not completed: {', '.join(run.failed)}")
        return run

    def cpu(self) -> float:
        return sum(group_cpu(pgid) for pgid in self.cpu_groups)

    def mark(self) -> tuple[dt.datetime, float, float, int]:
        self.exits = []
        return utcnow(), time.monotonic(), self.cpu(), self.server.log_offset()

    def measured(self, mark: tuple, label: str, wall: float, slots: int, pool: bool) -> Run:
        since, started, cpu, offset = mark
        time.sleep(1)  # the run's last calls reach the access log
        run = Run(label, wall, self.load.during(started, time.monotonic()), slots, self.cpu() - cpu)
        run.api = self.server.calls(offset, self.server.log_offset())
        print(f"  {label}: {wall:.1f} s, {len(run.api)} API calls", flush=True)
        run.failed += [f"a CLI call exited {code}" for code in self.exits if code]
        return self.project_runs(run, since, pool)

    def fleet(self, label: str, fleet_file: Path, *extra: str, pool: int = 0) -> Run:
        """A fleet run: on the work pool with ``pool`` workers, else in one process."""
        mark = self.mark()
        where = ("--work-pool", POOL) if pool else ()
        wall = self.cli("fleet", "cleanup", str(fleet_file), *where, "--audit-dir", str(self.audit), *extra)
        return self.measured(mark, label, wall, max(pool, 1), pool > 0)

    def one_by_one(self, projects: list[dict], label: str = "one by one, dry run (Σ of the CLI calls)") -> Run:
        mark, walls = self.mark(), []
        for p in projects:
            wall = self.cli(
                "cleanup", "--dry-run", "--git-url", p["git"], "--images-repo", p["images_repo"],
                "--stages-storage", p["stages_storage"], "--insecure-registry", "--without-kube",
                "--keep-stages-built-within-last-n-hours", "0", "--audit-dir", f"{self.audit}/project={p['name']}",
            )  # fmt: skip
            walls.append(wall)
        print(f"  one by one: median call {statistics.median(walls):.1f} s")
        return self.measured(mark, label, sum(walls), 1, pool=False)

    def expect(self, run: Run, outcome: str, count: int) -> None:
        if run.outcomes[outcome] != count:
            self.problems.append(f"{run.label}: {run.outcomes[outcome]} {outcome} in the audits, expected {count}")


# ---------------------------------------------------------------------------------- scenarios
def pool_scenarios(bench: Bench, workers: Workers, args, projects: list[dict], fleet_file: Path) -> list[Run]:
    """One by one vs the fleet on ``--workers`` workers, then the real cleanup and its rerun."""
    workers.ensure(args.workers)
    cold = bench.fleet("fleet dry run in one process (subflows), empty caches", fleet_file, "--dry-run")
    singles, fleets = [], []
    for _ in range(args.rounds):
        singles.append(bench.one_by_one(projects))
        fleets.append(bench.fleet("fleet dry run on the pool", fleet_file, "--dry-run", pool=args.workers))
    single, fleet = (min(runs, key=lambda r: (bool(r.failed), r.wall)) for runs in (singles, fleets))
    real = bench.fleet("fleet cleanup on the pool (deletes)", fleet_file, pool=args.workers)
    rerun = bench.fleet("fleet cleanup on the pool, rerun", fleet_file, pool=args.workers)
    bench.expect(real, "deleted", args.projects * args.stale * 3)
    bench.expect(rerun, "deleted", 0)
    return [cold, single, fleet, real, rerun]


def full_scenarios(bench: Bench, workers: Workers, args, projects: list[dict], files: dict[str, Path]) -> list[Run]:
    """The warm-up, then every scenario dry, best of ``--rounds``."""
    workers.ensure(0)
    warm = bench.fleet("warm-up: fleet in one process, empty caches", files["limited"], "--dry-run")
    plan = [(ONE_BY_ONE, 0, None), (IN_PROCESS, 0, "limited")]
    plan += [(pool_label(n), n, "limited") for n in (1, 2, 4)] + [(pool_label(4, limits=False), 4, "unlimited")]
    results: dict[str, list[Run]] = {label: [] for label, *_ in plan}
    for _ in range(args.rounds):
        for label, count, fleet in plan:
            workers.ensure(count)
            if fleet is None:
                run = bench.one_by_one(projects, label)
            else:
                run = bench.fleet(label, files[fleet], "--dry-run", pool=count)
            results[label].append(run)
    workers.ensure(0)
    best = [min(runs, key=lambda r: (bool(r.failed), r.wall)) for runs in results.values()]
    for run in [warm, *best]:
        bench.expect(run, "would-delete", args.projects * args.stale * 3)
    return [warm, *best]


# ---------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", choices=sorted(MODES), default="pool")
    parser.add_argument("--projects", type=int, help="default: 50 (pool), 16 (full)")
    parser.add_argument("--images", type=int, help="end images per project; default: 200 (pool), 100 (full)")
    parser.add_argument("--stale", type=int, default=10, help="images per project whose commits are not in git")
    parser.add_argument("--workers", type=int, default=2, help="workers of the pool with --scenarios pool")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the measured scenarios (best kept)")
    parser.add_argument("--query-seconds", type=float, default=1, help="PREFECT_WORKER_QUERY_SECONDS of the workers")
    parser.add_argument("--latency-ms", type=float, help="delay line each way; default: 0 (pool), 25 (full)")
    parser.add_argument("--limit", type=int, default=8, help="max_concurrent_requests of the registry (full)")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql", help="the server's database")
    parser.add_argument(
        "--engine-command",
        action="store_true",
        help="the pool's default command `python -m prefect.engine` (a child without the workspace supervisor process)",
    )
    args = parser.parse_args()
    projects_default, images_default, latency_default = MODES[args.scenarios]
    args.projects = args.projects or projects_default
    args.images = args.images or images_default
    args.latency_ms = latency_default if args.latency_ms is None else args.latency_ms
    began, load, work, registry = begin_bench(parser, args, "stagesweep-bench-fleet-")
    server = LoggedServer(home=work / "prefect")
    cluster = line = workers = bench = None
    notes: list[str] = []
    try:
        registry.start()
        address = registry.host
        if args.latency_ms:
            line = DelayLineProcess(registry.host, args.latency_ms, work / "delay-line.log")
            address = line.address
        if args.database == "postgresql":
            from tests.fixtures.postgres import PostgresCluster

            os.chmod(work, 0o755)  # the cluster runs as the postgres user
            cluster = PostgresCluster(work / "postgres")

        def start_server() -> None:
            if cluster is not None:
                cluster.start()
                server.database_url = cluster.new_database()
            server.start()

        starting = threading.Thread(target=start_server)
        starting.start()  # the server's start-up overlaps the fill
        projects = build_world(work, registry.host, args, address)
        starting.join()
        if server.process is None or server.process.poll() is not None:
            raise RuntimeError(f"prefect server did not start:\n{server.log_tail()}")
        defaults = {"insecure_registry": True, "without_kube": True, "keep_stages_built_within_last_n_hours": 0}
        files = {"unlimited": work / "fleet.yaml", "limited": work / "fleet-limited.yaml"}
        files["unlimited"].write_text(yaml.safe_dump({"defaults": defaults, "projects": projects}))
        registries = {address: {"max_concurrent_requests": args.limit}}
        files["limited"].write_text(yaml.safe_dump({"defaults": defaults, "projects": projects, "registries": registries}))
        env = server.env(
            HOME=str(work / "home"),
            PREFECT_WORKER_QUERY_SECONDS=str(args.query_seconds),
            STAGESWEEP_PREFECT_SERVER_AUTOSTART="false",
        )
        os.environ.update(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(work / "prefect"))  # this process's API client
        groups = [server.process.pid] + ([cluster.process.pid] if cluster and cluster.process else [])
        bench = Bench(work, env, load, server, groups)
        template = []
        if args.engine_command:
            default = server.run(str(BIN / "prefect"), "work-pool", "get-default-base-job-template", "--type", "process", env=env)
            job = json.loads(default.stdout)
            job["variables"]["properties"]["command"]["default"] = f"{BIN / 'python'} -m prefect.engine"
            (work / "base-job-template.json").write_text(json.dumps(job))
            template = ["--base-job-template", str(work / "base-job-template.json")]
        server.run(str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process", *template, env=env)
        workers = Workers(server, env, work)
        print(
            f"{args.projects} projects × {args.images} images ({args.stale} stale), registry latency {args.latency_ms:g} ms "
            f"each way, Prefect server on {args.database}"
            + (", children started by `python -m prefect.engine`" if args.engine_command else ""),
            flush=True,
        )
        if args.scenarios == "full":
            runs = full_scenarios(bench, workers, args, projects, files)
        else:
            runs = pool_scenarios(bench, workers, args, projects, files["unlimited"])
        workers.stop()
        if line is not None:
            notes.append(line.stop())
        (report_full if args.scenarios == "full" else report_pool)(args, runs, time.monotonic() - began, notes)
        return 1 if bench.problems else 0
    finally:
        if workers is not None:
            workers.stop()
        server.stop()
        if cluster is not None:
            cluster.stop()
        if line is not None:
            line.stop()
        registry.stop()
        if bench is not None and bench.problems:
            print("\nPROBLEMS:\n" + "\n\n".join(bench.problems), file=sys.stderr)
            for log in sorted(work.glob("worker-*.log")):
                print(f"--- {log.name} (tail)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
