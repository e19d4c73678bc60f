"""A real `prefect server start` (SQLite, or PostgreSQL when given a database URL; loopback) for deployment tests, and the processes
around it (the prefect CLI, a worker, `stagesweep serve`), each with an explicit environment
so nothing depends on the API the rest of the session may use."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.registry import free_port

BIN = Path(sys.executable).parent
PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0  # ~20 s on an idle machine, much more on 2 busy cores
STOP_TIMEOUT = 5.0
#: the test server's service loops, shorter than Prefect's defaults. They only set how soon the
#: server notices what already happened (a lease that expired, an event to persist, a proactive
#: automation's window that ended), never how long a window is: the lease stays 60 s, the zombie
#: window stays what the automation says. Defaults: repossessor 15 s, event and task-run
#: flushes 5 s, proactive triggers every 5 s.
SERVICE_LOOPS = {
    "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY": "PT1S",
}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30.0) -> None:
    """Stop a process started in its own session, with its children."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class PrefectServer:
    home: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    #: the server's database (Prefect's `PREFECT_API_DATABASE_CONNECTION_URL`); None: SQLite in `home`
    database_url: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process that talks to this server (and only to it)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "STAGESWEEP_"))}
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_UI_ENABLED="false",
            PREFECT_LOGGING_LEVEL="INFO",
            STAGESWEEP_RETRY_DELAY_SECONDS="0.05",
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        env.update(extra)
        return env

    def start(self) -> None:
        env = self.env(
            # the scheduler would fill the database with future nightly runs nobody executes here
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
            # the address operators open (links in notifications), as deployments/README.md asks
            PREFECT_UI_URL=f"http://127.0.0.1:{self.port}",
            **SERVICE_LOOPS,
        )
        if self.database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.database_url
        env.pop("PREFECT_API_URL")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited with {self.process.returncode}:\n{self.log_tail()}")
            if _healthy(self.api_url + "/health"):
                return
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"prefect server not healthy after {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server; a throwaway one is killed when it takes its time over a graceful
        shutdown (its database goes with the session)."""
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM, timeout=STOP_TIMEOUT)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
        """Run a command (`prefect ...`) from the project root against this server; raise with its
        output when it fails."""
        result = subprocess.run(
            list(args),
            env=env or self.env(),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def spawn(self, *args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
        """Start a long-running command (a worker, `stagesweep serve`) in its own session."""
        with log.open("wb") as out:
            return subprocess.Popen(
                list(args), env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
