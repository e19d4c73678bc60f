"""The fleet bench's world and services (see ``fleet.py``): git origins made with ``git fast-import``
and their images in the registry, a Prefect server with its access log on, the pool's workers, the
load and CPU the runs are measured under."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from scale_world import Http, push, run_parallel, world_items

from tests.deploy.server import BIN, PrefectServer, stop_process
from tests.fixtures.registry import RegistryServer, free_port, require_registry_binary

POOL = "bench-fleet"
WERF_YAML = "project: {name}\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references: {{branch: /.*/}}\n---\nimage: app\n"
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}

_API_CALL = re.compile(r'uvicorn\.access - \S+ - "([A-Z]+) (/api/\S+) HTTP/[0-9.]+" (\d{3})')
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


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


def begin_bench(parser, args, prefix: str) -> tuple[float, LoadSampler, Path, RegistryServer]:
    """The start every registry bench shares: check the arguments, exit cleanly on SIGTERM, sample
    the load, make the work directory and a (not yet started) registry in it."""
    if not 0 < args.stale < args.images:
        parser.error("--stale must be between 1 and --images - 1")
    require_registry_binary()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    load = LoadSampler()
    load.start()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "prefect").mkdir()
    return began, load, work, RegistryServer(root=work, port=free_port())


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


def build_world(work: Path, host: str, args, address: str | None = None) -> list[dict]:
    """Git origins and registry images of every project (pushed to ``host``); the fleet file's
    project entries, whose storages are on ``address`` (the registry as the projects reach it:
    ``host`` itself, or a delay line in front of it)."""
    address = address or host
    now = utcnow().replace(microsecond=0)
    projects, items = [], []
    for i in range(args.projects):
        name = f"p{i:03d}"
        origin = work / "git" / f"{name}.git"
        real = make_origin(origin, name, args.images - args.stale, now)
        items += world_items(address, name, args.images, real, now)
        projects.append(
            {
                "name": name,
                "git": origin.as_uri(),
                "images_repo": f"{address}/bench/{name}/images",
                "stages_storage": f"{address}/bench/{name}/stages",
            }
        )
    http_ = Http(host)
    seconds = run_parallel(16, lambda item: push(http_, item), items)
    print(
        f"fill: {len(items)} images ({3 * len(items)} requests) in {seconds:.0f} s = {3 * len(items) / seconds:.0f} req/s",
        flush=True,
    )
    return projects


# ---------------------------------------------------------------------------------- the services
class LoggedServer(PrefectServer):
    """``prefect server start`` with its access log on (uvicorn's, at INFO): one line per API call."""

    def env(self, **extra: str) -> dict[str, str]:
        return {**super().env(**extra), "PREFECT_SERVER_LOGGING_LEVEL": "INFO"}

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def calls(self, start: int, end: int) -> list[tuple[str, str, int]]:
        """(method, path with ids as {id}, status) of the API calls logged between two offsets."""
        with self.log_path.open("rb") as log:
            log.seek(start)
            text = log.read(end - start).decode(errors="replace")
        return [(m, _ID.sub("{id}", p.split("?")[0]), int(s)) for m, p, s in _API_CALL.findall(text)]


class Workers:
    """The pool's workers, one project at a time each; replaced by new ones (new names) when the
    number asked for changes."""

    def __init__(self, server: PrefectServer, env: dict, work: Path) -> None:
        self.server, self.env, self.work = server, env, work
        self.processes: list[subprocess.Popen] = []
        self.generation = 0

    def ensure(self, count: int) -> None:
        if count == len(self.processes) and all(p.poll() is None for p in self.processes):
            return
        self.stop()
        if not count:
            return
        self.generation += 1
        names = [f"g{self.generation}-w{i}" for i in range(count)]
        for name in names:
            command = (str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", name, "--limit", "1")
            self.processes.append(self.server.spawn(*command, env=self.env, log=self.work / f"worker-{name}.log"))
        self._wait_online(names)

    def stop(self) -> None:
        for process in self.processes:
            stop_process(process)
        self.processes = []

    def _wait_online(self, names: list[str], timeout: float = 240) -> None:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while True:
                online = {w.name for w in client.read_workers_for_work_pool(POOL) if w.status.value == "ONLINE"}
                if set(names) <= online:
                    return
                if any(p.poll() is not None for p in self.processes):
                    raise RuntimeError(f"a worker exited while starting (logs: {self.work}/worker-*.log)")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers {', '.join(sorted(set(names) - online))} not online after {timeout:.0f} s")
                time.sleep(1)
