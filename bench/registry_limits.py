"""What a fleet file's `registries:` limit costs a fleet run in one process.

One run, one local Distribution registry (access log on: every request counted), one
``prefect server`` (SQLite, loopback, UI and scheduler off, its access log on: every API call
counted), the world of ``fleet.py`` (``--projects`` projects × ``--images`` end images, git origins
read by file:// URL), all started and removed by the script:

1. warm-up, shown: ``fleet cleanup FILE --dry-run`` without limits fills the caches (registry
   reads, git mirrors) that every later run shares;
2. interleaved, ``--rounds`` times: the same fleet dry run in one process (each project a
   subflow) without ``registries:`` and with ``registries: {HOST: {max_concurrent_requests:
   --limit}}`` (the default 10 request threads, so the limit binds); with ``--narrow`` also
   without ``registries:`` but with ``parallel_tasks_limit: --limit`` (as many requests in flight
   as the limit allows, no Prefect slots: what the limit costs beyond having fewer requests in
   flight). With ``--no-cache`` every run reads everything from the registry (about three times
   the requests of a warm run).

Per run: wall time (the whole CLI process), registry requests, Prefect API calls (all of them, and
those on global concurrency limits). Then, from the best and the median round of each kind,
limited / unlimited wall time (and limited / as many in flight without slots), and the Prefect
API calls the limit added per registry request.

    .venv/bin/python bench/registry_limits.py [--projects 4] [--images 200] [--stale 10] [--limit 8] [--rounds 3]
        [--narrow] [--no-cache]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fleet_world import LoadSampler, begin_bench, build_world  # noqa: E402

from tests.deploy.server import BIN, PrefectServer  # noqa: E402
from tests.fixtures.registry import RegistryServer  # noqa: E402

#: a request line of the Prefect server's access log
_API_CALL = re.compile(r'uvicorn\.access - \S+ - "([A-Z]+) (/api/\S+) HTTP/[0-9.]+" (\d{3})')


class CountingPrefectServer(PrefectServer):
    """`prefect server start` logging every API call (uvicorn's access log at INFO)."""

    def env(self, **extra: str) -> dict[str, str]:
        return {**super().env(**extra), "PREFECT_SERVER_LOGGING_LEVEL": "INFO"}

    def calls_since(self, offset: int) -> tuple[list[tuple[str, str, int]], int]:
        """(method, path, status) of the API calls logged from byte `offset` on; the new offset."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            data = log.read()
        data = data[: data.rfind(b"\n") + 1]  # whole lines only; a line being written is read next time
        text = data.decode(errors="replace")
        return [(m, p, int(s)) for m, p, s in _API_CALL.findall(text)], offset + len(data)


@dataclass
class Run:
    label: str
    wall: float
    registry_requests: int
    api_calls: int
    limit_calls: int  # calls on global concurrency limits (/api/v2/concurrency_limits/...)
    load: str


class Bench:
    def __init__(self, work: Path, registry: RegistryServer, server: CountingPrefectServer, env: dict, load: LoadSampler):
        self.work, self.registry, self.server, self.env, self.load = work, registry, server, env, load
        self.problems: list[str] = []
        _, self.registry_offset = registry.access_log_requests()
        _, self.api_offset = server.calls_since(0)

    def fleet(self, label: str, fleet_file: Path) -> Run:
        """A fleet dry run in one process; what it cost."""
        time.sleep(1)  # the access logs of the run before are written
        _, self.registry_offset = self.registry.access_log_requests(self.registry_offset)
        _, self.api_offset = self.server.calls_since(self.api_offset)
        began = time.monotonic()
        result = subprocess.run(
            [str(BIN / "stagesweep"), "fleet", "cleanup", str(fleet_file), "--dry-run", "--audit-dir", str(self.work / "audit")],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - began
        if result.returncode != 0:
            self.problems.append(f"{label}: exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        time.sleep(1)
        requests, self.registry_offset = self.registry.access_log_requests(self.registry_offset)
        calls, self.api_offset = self.server.calls_since(self.api_offset)
        limit_calls = sum(1 for _, path, _ in calls if path.startswith("/api/v2/concurrency_limits/"))
        run = Run(label, wall, len(requests), len(calls), limit_calls, self.load.during(began, time.monotonic()))
        print(f"  {label}: {wall:.1f} s, {run.registry_requests} registry requests, {run.api_calls} API calls", flush=True)
        return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=4)
    parser.add_argument("--images", type=int, default=200, help="end images per project")
    parser.add_argument("--stale", type=int, default=10, help="images per project whose commits are not in git")
    parser.add_argument("--limit", type=int, default=8, help="max_concurrent_requests of the registry")
    parser.add_argument("--rounds", type=int, default=3, help="unlimited and limited dry runs, interleaved")
    parser.add_argument("--narrow", action="store_true", help="also parallel_tasks_limit = --limit without limits")
    parser.add_argument("--no-cache", action="store_true", help="every run reads everything from the registry")
    args = parser.parse_args()
    began, load, work, registry = begin_bench(parser, args, "stagesweep-bench-limits-")
    server = CountingPrefectServer(home=work / "prefect")
    bench = None
    try:
        registry.start(access_log=True)
        starting = threading.Thread(target=server.start)
        starting.start()  # the server's start-up overlaps the fill
        projects = build_world(work, registry.host, args)
        starting.join()
        if server.process is None or server.process.poll() is not None:
            raise RuntimeError(f"prefect server did not start:\n{server.log_tail()}")
        defaults = {"insecure_registry": True, "without_kube": True, "keep_stages_built_within_last_n_hours": 0}
        if args.no_cache:
            defaults["no_cache"] = True
        unlimited, limited, narrow = work / "fleet.yaml", work / "fleet-limited.yaml", work / "fleet-narrow.yaml"
        unlimited.write_text(yaml.safe_dump({"defaults": defaults, "projects": projects}))
        narrow.write_text(yaml.safe_dump({"defaults": {**defaults, "parallel_tasks_limit": args.limit}, "projects": projects}))
        registries = {registry.host: {"max_concurrent_requests": args.limit}}
        limited.write_text(yaml.safe_dump({"defaults": defaults, "projects": projects, "registries": registries}))
        env = server.env(HOME=str(work / "home"), STAGESWEEP_PREFECT_SERVER_AUTOSTART="false")
        bench = Bench(work, registry, server, env, load)
        cache = "no cache" if args.no_cache else "warm cache"
        print(f"{args.projects} projects × {args.images} images, registry limit {args.limit}, {cache}", flush=True)

        bench.fleet("warm-up, no limits", unlimited)
        frees: list[Run] = []
        limits: list[Run] = []
        narrows: list[Run] = []
        for _ in range(args.rounds):
            frees.append(bench.fleet("no limits", unlimited))
            limits.append(bench.fleet(f"max_concurrent_requests: {args.limit}", limited))
            if args.narrow:
                narrows.append(bench.fleet(f"no limits, parallel_tasks_limit: {args.limit}", narrow))
        report(args, frees, limits, narrows, time.monotonic() - began)
        return 1 if bench.problems else 0
    finally:
        server.stop()
        registry.stop()
        if bench is not None and bench.problems:
            print("\nPROBLEMS:\n" + "\n\n".join(bench.problems), file=sys.stderr)
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(args, frees: list[Run], limits: list[Run], narrows: list[Run], total: float) -> None:
    cache = "no cache" if args.no_cache else "warm cache"
    print(f"\n{args.projects} projects × {args.images} end images, fleet dry run in one process, {cache}, {args.rounds} rounds\n")
    print(
        "| run | wall, best (s) | wall, median (s) | registry requests | Prefect API calls | of them on concurrency limits | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for runs in (frees, limits, narrows):
        if runs:
            best = min(runs, key=lambda r: r.wall)
            median = statistics.median(r.wall for r in runs)
            print(
                f"| {best.label} | {best.wall:.1f} | {median:.1f} | {best.registry_requests} | {best.api_calls} | "
                f"{best.limit_calls} | {', '.join(r.load for r in runs)} |"
            )

    def ratio(a: list[Run], b: list[Run]) -> str:
        best = min(r.wall for r in a) / min(r.wall for r in b)
        median = statistics.median(r.wall for r in a) / statistics.median(r.wall for r in b)
        return f"{best:.3f} (best), {median:.3f} (median)"

    print(f"\nlimited / unlimited wall: {ratio(limits, frees)}")
    if narrows:
        print(f"limited / as many in flight without slots: {ratio(limits, narrows)}")
    requests = statistics.median(r.registry_requests for r in limits)
    added = statistics.median(r.api_calls for r in limits) - statistics.median(r.api_calls for r in frees)
    on_limits = statistics.median(r.limit_calls for r in limits) - statistics.median(r.limit_calls for r in frees)
    print(
        f"Prefect API calls the limit added (medians): {added:g} for {requests:g} registry requests = "
        f"{added / max(requests, 1):.4f} per request (on concurrency limits: {on_limits:g}, {on_limits / max(requests, 1):.4f})"
    )
    print(f"total run time: {total / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
