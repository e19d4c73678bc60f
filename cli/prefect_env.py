"""Where the CLI's flow runs go, decided before Prefect is imported.

* `PREFECT_API_URL` set: that server.
* Otherwise the local server at `STAGESWEEP_PREFECT_SERVER` (default 127.0.0.1:4200) when its
  health endpoint answers — one started by `prefect server start`, or by stagesweep itself:
* when none answers, the CLI starts one in the background on first use (`cli.local_server`:
  Prefect's server with stagesweep's `PREFECT_HOME`) and reuses it from then on, so a later call
  pays no start-up and every run stays in the UI at the printed address; `stagesweep server stop`
  stops it. `STAGESWEEP_PREFECT_SERVER_AUTOSTART=false` turns this off. A command of the CLI's own
  process (`allow_restart`) does not wait for that server before importing its flow: the two
  overlap, and `ready()` waits for the server before the run starts.
* Otherwise (autostart off, or the server would not start) Prefect's ephemeral API, with the same
  persistent `PREFECT_HOME` so its database migrations run once, not on every call. A command that
  went on without waiting restarts itself on the ephemeral API (Prefect, once imported, keeps the
  API address it was imported with).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import StagesweepError

DEFAULT_LOCAL_SERVER = "http://127.0.0.1:4200/api"
AUTOSTART_ENV = "STAGESWEEP_PREFECT_SERVER_AUTOSTART"
START_TIMEOUT = 120.0
#: how long a server that accepts connections but does not answer its health check yet (a loaded
#: machine) is waited for before the CLI gives up on it
ANSWER_TIMEOUT = 15.0
POLL_SECONDS = 0.1


def healthy(api_url: str, timeout: float = 0.3) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def listening(api_url: str) -> bool:
    """Whether something accepts connections at the address of `api_url`."""
    address = urllib.parse.urlsplit(api_url)
    try:
        with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


def probe(api_url: str) -> str:
    """What is at `api_url`: "up", a server that answers its health check; "free", nothing that
    accepts connections; "taken", something that does but gives no healthy answer within
    `ANSWER_TIMEOUT` seconds (a slow answer, on a loaded machine, is waited for)."""
    if healthy(api_url):
        return "up"
    if not listening(api_url):
        return "free"
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        if healthy(api_url, timeout=2.0):
            return "up"
        time.sleep(POLL_SECONDS)
    return "taken"


def prefect_home(home_dir: str | None = None) -> Path:
    home = Path(home_dir or os.environ.get("STAGESWEEP_HOME_DIR", "~/.stagesweep")).expanduser()
    return Path(os.environ.get("PREFECT_HOME") or home / "prefect").expanduser()


def local_server() -> str:
    return os.environ.get("STAGESWEEP_PREFECT_SERVER", DEFAULT_LOCAL_SERVER)


def _autostart_enabled() -> bool:
    return os.environ.get(AUTOSTART_ENV, "true").lower() not in ("0", "false", "no")


@dataclass
class _Start:
    """A local server this process started and has not yet seen healthy."""

    api_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    deadline: float
    lock_fd: int


#: the server start `ready()` waits for
_starting: _Start | None = None
#: the command line that runs this command again (set by the CLI's `main`), or None
_restart_argv: list[str] | None = None


def allow_restart(argv: list[str] | None = None) -> None:
    """Let `configure(wait=False)` go on while a server starts: this process can run its command
    again (`argv`, default: its own command line) should the server not come up."""
    global _restart_argv
    _restart_argv = list(argv) if argv is not None else [sys.executable, *sys.orig_argv[1:]]


def configure(home_dir: str | None = None, *, autostart: bool = True, wait: bool = True) -> str:
    """Set Prefect's environment for this process; returns the API used ("ephemeral" or a URL).

    With `wait=False`, where `allow_restart` was called, a server this call starts is not waited
    for here: call `ready()` before the first flow run."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # run logs reach the API; the terminal is quiet
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_HOME", str(prefect_home(home_dir)))
    # runs heartbeat at stagesweep's period, the one its zombie automation's window is made of
    from coordination.heartbeats import use_stagesweep_heartbeat

    use_stagesweep_heartbeat()
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    local = local_server()
    state = probe(local)
    if state == "up" or (
        state == "free" and autostart and _autostart_enabled() and start_local_server(local, wait=wait or _restart_argv is None)
    ):
        os.environ["PREFECT_API_URL"] = local
        return local
    if state == "taken":
        print(f"{local} accepts connections but gives no healthy answer; using Prefect's ephemeral API", file=sys.stderr)
    return "ephemeral"


def api_description() -> str:
    """The API this process's runs use, as `configure` reported it."""
    return os.environ.get("PREFECT_API_URL") or "ephemeral"


def _pid_file() -> Path:
    return Path(os.environ["PREFECT_HOME"]) / "stagesweep-server.pid"


def _lock_start(timeout: float) -> int | None:
    """Hold the start lock of this `PREFECT_HOME` (one CLI call starts the server; another one
    waits until that server is up); None when it stays taken for `timeout` seconds."""
    import fcntl

    fd = os.open(Path(os.environ["PREFECT_HOME"]) / "stagesweep-server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                os.close(fd)
                return None
        time.sleep(POLL_SECONDS)


def start_local_server(api_url: str, timeout: float = START_TIMEOUT, *, wait: bool = True) -> bool:
    """Start the local server for `api_url` in the background (its own session, so it outlives
    this process). With `wait`, wait until it is healthy (False when it does not come up);
    without, `ready()` does."""
    global _starting
    address = urllib.parse.urlsplit(api_url)
    if address.hostname not in ("127.0.0.1", "localhost", "::1"):
        return False  # only a server on this machine is ours to start
    lock_fd = _lock_start(timeout)
    if lock_fd is None:
        return False
    state = probe(api_url)  # another CLI call may have started it while this one waited for the lock
    if state != "free":
        os.close(lock_fd)
        return state == "up"
    log = Path(os.environ["PREFECT_HOME"]) / "server.log"
    host, port = address.hostname or "127.0.0.1", str(address.port or 4200)
    env = dict(
        os.environ,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        # the server's own address, which the UI calls the API at
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=port,
    )
    env.pop("PREFECT_API_URL", None)
    print(
        f"starting a local Prefect server at {api_url.removesuffix('/api')} (kept for later runs; "
        "`stagesweep server stop` stops it)",
        file=sys.stderr,
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.local_server", host, port],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    _pid_file().write_text(str(proc.pid))
    _starting = _Start(api_url, proc, log, time.monotonic() + timeout, lock_fd)
    return _wait_for_start() if wait else True


def _wait_for_start() -> bool:
    """Wait for the server this process started; True once it is healthy."""
    global _starting
    start, _starting = _starting, None
    if start is None:
        return True
    try:
        while time.monotonic() < start.deadline:
            if healthy(start.api_url, timeout=1.0):
                return True
            if start.proc.poll() is not None:
                break
            time.sleep(POLL_SECONDS)
        print(f"the local Prefect server did not start (see {start.log}); using Prefect's ephemeral API", file=sys.stderr)
        _stop_started(start.proc)
        return False
    finally:
        os.close(start.lock_fd)


def ready() -> None:
    """Return once the server `configure(wait=False)` started answers. When it does not come up,
    run this command again on Prefect's ephemeral API (this process does not return)."""
    if _wait_for_start() or _restart_argv is None:
        return
    env = dict(os.environ, **{AUTOSTART_ENV: "false"})
    env.pop("PREFECT_API_URL", None)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(_restart_argv[0], _restart_argv, env)


def _stop_started(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server this process started that did not come up (and forget its pid file)."""
    pid_file = _pid_file()
    try:
        if int(pid_file.read_text()) == proc.pid:
            pid_file.unlink()
    except (OSError, ValueError):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def stop_local_server() -> bool:
    """Stop the server stagesweep started (True when there was one)."""
    os.environ.setdefault("PREFECT_HOME", str(prefect_home()))
    pid_file = _pid_file()
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    pid_file.unlink(missing_ok=True)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        raise StagesweepError(f"cannot stop the local Prefect server (pid {pid}): {exc}") from exc
    for _ in range(100):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return True
