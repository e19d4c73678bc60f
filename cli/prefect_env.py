"""Where the CLI's flow runs go, decided before Prefect is imported.

* `PREFECT_API_URL` set: that server.
* Otherwise a local server started with `prefect server start --background` (default address
  127.0.0.1:4200, or `STAGESWEEP_PREFECT_SERVER`) when its health endpoint answers.
* Otherwise Prefect's ephemeral API, with a persistent `PREFECT_HOME` under stagesweep's home so
  its database migrations run once, not on every call.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

DEFAULT_LOCAL_SERVER = "http://127.0.0.1:4200/api"


def _healthy(api_url: str, timeout: float = 0.3) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def configure(home_dir: str | None = None) -> str:
    """Set Prefect's environment for this process; returns a description of the API used."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # run logs reach the API; the terminal is quiet
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    home = Path(home_dir or os.environ.get("STAGESWEEP_HOME_DIR", "~/.stagesweep")).expanduser()
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    local = os.environ.get("STAGESWEEP_PREFECT_SERVER", DEFAULT_LOCAL_SERVER)
    if _healthy(local):
        os.environ["PREFECT_API_URL"] = local
        return local
    return "ephemeral"


def api_description() -> str:
    """The API this process's runs use, as `configure` reported it."""
    return os.environ.get("PREFECT_API_URL") or "ephemeral"
