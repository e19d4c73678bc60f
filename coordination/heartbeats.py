"""How often stagesweep's flow runs heartbeat, and what a missed heartbeat means.

Every flow run sends a heartbeat every `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` seconds of its own
process; Prefect's zombie automation (tasks/automations.py) marks a run `Crashed` when
`missed_heartbeats` periods pass without one. stagesweep sets that period itself, to one value
(`STAGESWEEP_HEARTBEAT_SECONDS`, 30 s by default — Prefect's minimum): in its own CLI processes,
in the process environment of the runs it serves and in the job variables of the deployments it
applies, so a worker needs no configuration and the automation's window is derived from the same
value. Importing this module does not import Prefect (the CLI reads the value before it does).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
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


#: a run is said to have stopped heartbeating once this many periods passed without one
SILENT_PERIODS = 1.5


def silent_runs(client: Any, run_ids: list[str]) -> dict[str, datetime]:
    """Run id → its last heartbeat, for each of `run_ids` (running flow runs) that sent one and then
    none for `SILENT_PERIODS` periods. Two event queries: the recent heartbeats of all, then the
    last one of the silent."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

    if not run_ids:
        return {}
    period = heartbeat_seconds()
    now = datetime.now(timezone.utc)

    def heartbeats(ids: list[str], since: datetime, first_only: bool) -> dict[str, datetime]:
        page = client.read_events(
            EventFilter(
                occurred=EventOccurredFilter(since=since, until=now + timedelta(minutes=1)),
                event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                resource=EventResourceFilter(id=[f"prefect.flow-run.{i}" for i in ids]),
            ),
            limit=50,
        )
        last: dict[str, datetime] = {}
        for _ in range(20):  # pages, newest first
            for event in page.events:
                last.setdefault(event.resource.id.removeprefix("prefect.flow-run."), event.occurred)
            if not page.next_page or (first_only and len(last) == len(ids)):
                break
            page = client.read_events_page(str(page.next_page))
        return last

    fresh = heartbeats(run_ids, now - timedelta(seconds=period * SILENT_PERIODS), first_only=False)
    silent = [i for i in run_ids if i not in fresh]
    if not silent:
        return {}
    # a run silent for longer than any window is already being declared dead: an hour back is plenty
    return heartbeats(silent, now - timedelta(hours=1), first_only=True)


class SilenceWatch:
    """Says, while a fleet run waits, which running project runs stopped heartbeating and when
    Prefect will declare each dead (its last heartbeat + the zombie automation's window, read from
    the server): checked every half heartbeat period, each silence said once when first seen, and
    again in every 'waiting on' line."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.silent: dict[str, datetime] = {}
        self.window: timedelta | None = None
        self.window_read = False
        self.next_check = 0.0

    def check(self, client: Any, running: dict[str, str]) -> None:
        """`running`: run id → project name of the runs in a Running state."""
        if time.monotonic() < self.next_check:
            return
        self.next_check = time.monotonic() + heartbeat_seconds() / 2
        try:
            found = silent_runs(client, list(running))
            if found and not self.window_read:
                from tasks.automations import zombie_window

                self.window, self.window_read = zombie_window(client), True
        except Exception as exc:  # a busy API: the next check asks again
            self.logger.debug("could not read the project runs' heartbeats: %s", exc)
            return
        for run_id, beat in found.items():
            if run_id not in self.silent:
                self.logger.warning(
                    "the run of %s (%s) has sent no heartbeat since %s: its process may have died; %s",
                    running[run_id],
                    run_id,
                    _clock(beat),
                    self._verdict(beat),
                )
        self.silent = found

    def _verdict(self, beat: datetime) -> str:
        if self.window is None:
            return "no automation declares it dead (run `stagesweep server automations`)"
        return f"Prefect declares it dead (Crashed) at about {_clock(beat + self.window)} unless it heartbeats again"

    def note(self, run_id: str) -> str:
        """'; no heartbeat since 03:02:10, declared dead at about 03:03:40' for a silent run."""
        if run_id not in self.silent:
            return ""
        beat = self.silent[run_id]
        if self.window is None:
            return f"; no heartbeat since {_clock(beat)}"
        return f"; no heartbeat since {_clock(beat)}, declared dead at about {_clock(beat + self.window)}"


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")
