"""How often stagesweep's flow runs heartbeat, and what a missed heartbeat means.

Every flow run sends a heartbeat every `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` seconds of its own
process; Prefect's zombie automation (coordination/automations.py) marks a run `Crashed` when
`missed_heartbeats` periods pass without one. stagesweep sets that period itself, to one value
(`STAGESWEEP_HEARTBEAT_SECONDS`, 30 s by default — Prefect's minimum): in its own CLI processes,
in the process environment of the runs it serves and in the job variables of the deployments it
applies, so a worker needs no configuration and the automation's window is derived from the same
value. Importing this module does not import Prefect (the CLI reads the value before it does).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from schemas.errors import ConfigError

#: the one place an operator chooses another period (whole seconds, at least Prefect's minimum)
HEARTBEAT_ENV = "STAGESWEEP_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30
MINIMUM_HEARTBEAT_SECONDS = 30  # Prefect refuses less
#: Prefect's setting the period is handed to
PREFECT_HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"
#: a run heartbeats at its worker's Prefect setting when its deployment carries none: by default
PREFECT_DEFAULT_HEARTBEAT_SECONDS = 180
#: how many heartbeat periods without one make a run dead (deployments/automations.yaml)
DEFAULT_MISSED_HEARTBEATS = 3


def heartbeat_seconds(environ: Mapping[str, str] | None = None) -> int:
    """The heartbeat period of stagesweep's flow runs: `STAGESWEEP_HEARTBEAT_SECONDS`, else 30."""
    raw = (os.environ if environ is None else environ).get(HEARTBEAT_ENV, "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT_SECONDS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < MINIMUM_HEARTBEAT_SECONDS:
        raise ConfigError(
            f"{HEARTBEAT_ENV}={raw!r}: expected a whole number of seconds, at least {MINIMUM_HEARTBEAT_SECONDS}",
            hint=f"Unset it for {DEFAULT_HEARTBEAT_SECONDS} s (a dead run then ends Crashed within about "
            f"{DEFAULT_HEARTBEAT_SECONDS * DEFAULT_MISSED_HEARTBEATS} s).",
        )
    return value


def heartbeat_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that makes a flow run heartbeat at stagesweep's period."""
    return {PREFECT_HEARTBEAT_ENV: str(heartbeat_seconds(environ))}


def heartbeat_job_variables(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A deployment's job variables carrying stagesweep's heartbeat period (a process, Docker or
    Kubernetes work pool passes `env` to the run's process)."""
    return {"env": heartbeat_environment(environ)}


def carried_heartbeat(job_variables: Mapping[str, Any] | None) -> int | None:
    """The heartbeat period a deployment's job variables carry; None when they carry none."""
    env = (job_variables or {}).get("env")
    value = env.get(PREFECT_HEARTBEAT_ENV) if isinstance(env, Mapping) else None
    try:
        return max(int(str(value)), MINIMUM_HEARTBEAT_SECONDS) if value is not None else None
    except ValueError:
        return None


def use_stagesweep_heartbeat() -> None:
    """Make this process's flow runs heartbeat at stagesweep's period (before Prefect is imported):
    the automation's window is derived from it, whatever the environment said before."""
    os.environ.update(heartbeat_environment())
