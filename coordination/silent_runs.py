"""Which running project runs stopped heartbeating, and when Prefect will declare each dead
(its last heartbeat + the zombie automation's window): what a waiting fleet run says."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from coordination.automations import zombie_window
from coordination.heartbeats import heartbeat_seconds

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
