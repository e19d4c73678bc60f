"""Where the CLI's flow runs go, decided before Prefect is imported.

* `PREFECT_API_URL` set: that server.
* Otherwise the local server at `STAGESWEEP_PREFECT_SERVER` (default 127.0.0.1:4200) when its
  health endpoint answers — one started by `prefect server start`, or by stagesweep itself:
* when none answers, the CLI starts one in the background on first use (`prefect server start`
  with stagesweep's `PREFECT_HOME`), waits until it is healthy and reuses it from then on, so a
  later call pays no start-up and every run stays in the UI at the printed address;
  `stagesweep server stop` stops it. `STAGESWEEP_PREFECT_SERVER_AUTOSTART=false` turns this off.
* Otherwise (autostart off, or the server would not start) Prefect's ephemeral API, with the same
  persistent `PREFECT_HOME` so its database migrations run once, not on every call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from schemas.errors import StagesweepError

DEFAULT_LOCAL_SERVER = "http://127.0.0.1:4200/api"
AUTOSTART_ENV = "STAGESWEEP_PREFECT_SERVER_AUTOSTART"
START_TIMEOUT = 120.0


def healthy(api_url: str, timeout: float = 0.3) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def prefect_home(home_dir: str | None = None) -> Path:
    home = Path(home_dir or os.environ.get("STAGESWEEP_HOME_DIR", "~/.stagesweep")).expanduser()
    return Path(os.environ.get("PREFECT_HOME") or home / "prefect").expanduser()


def local_server() -> str:
    return os.environ.get("STAGESWEEP_PREFECT_SERVER", DEFAULT_LOCAL_SERVER)


def _autostart_enabled() -> bool:
    return os.environ.get(AUTOSTART_ENV, "true").lower() not in ("0", "false", "no")


def configure(home_dir: str | None = None, *, autostart: bool = True) -> str:
    """Set Prefect's environment for this process; returns the API used ("ephemeral" or a URL)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # run logs reach the API; the terminal is quiet
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_HOME", str(prefect_home(home_dir)))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    local = local_server()
    if healthy(local) or (autostart and _autostart_enabled() and start_local_server(local)):
        os.environ["PREFECT_API_URL"] = local
        return local
    return "ephemeral"


def api_description() -> str:
    """The API this process's runs use, as `configure` reported it."""
    return os.environ.get("PREFECT_API_URL") or "ephemeral"


def _pid_file() -> Path:
    return Path(os.environ["PREFECT_HOME"]) / "stagesweep-server.pid"


def start_local_server(api_url: str, timeout: float = START_TIMEOUT) -> bool:
    """Start `prefect server start` for `api_url` in the background (its own session, so it
    outlives this process) and wait until it is healthy. False when it does not come up."""
    address = urllib.parse.urlsplit(api_url)
    if address.hostname not in ("127.0.0.1", "localhost", "::1"):
        return False  # only a server on this machine is ours to start
    log = Path(os.environ["PREFECT_HOME"]) / "server.log"
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
    env.pop("PREFECT_API_URL", None)
    print(
        f"starting a local Prefect server at {api_url.removesuffix('/api')} (kept for later runs; "
        "`stagesweep server stop` stops it)",
        file=sys.stderr,
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                address.hostname or "127.0.0.1",
                "--port",
                str(address.port or 4200),
                "--no-background",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    _pid_file().write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(api_url, timeout=1.0):
            return True
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    print(f"the local Prefect server did not start (see {log}); using Prefect's ephemeral API", file=sys.stderr)
    stop_local_server()
    return False


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
