"""What the fleet bench measured per run (see ``fleet.py``) and its Markdown tables."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field

ONE_BY_ONE, IN_PROCESS = "one by one (Σ of the CLI calls)", "fleet in one process (subflows)"


def pool_label(count: int, limits: bool = True) -> str:
    return f"pool, {count} worker{'s' if count > 1 else ''}" + ("" if limits else ", no registries: limit")


@dataclass
class Run:
    label: str
    wall: float
    load: str
    slots: int  # project runs at a time
    server_cpu: float  # CPU seconds of the Prefect server and its database meanwhile
    api: list[tuple[str, str, int]] = field(default_factory=list)  # the API calls meanwhile
    bodies: list[float] = field(default_factory=list)  # each project run: Running → final (s)
    startups: list[float] = field(default_factory=list)  # each child on the pool: Pending → Running (s)
    created: list[dt.datetime] = field(default_factory=list)  # when each child of a fleet run was created
    parent_start: dt.datetime | None = None  # when the fleet run started running
    outcomes: Counter = field(default_factory=Counter)  # audit rows of its project runs, by outcome
    failed: list[str] = field(default_factory=list)

    def overhead(self) -> float:
        """Seconds per project run not spent in a project's flow body (slots × wall)."""
        return (self.wall * self.slots - sum(self.bodies)) / max(len(self.bodies), 1)

    def created_after_parent(self) -> list[float]:
        """Seconds from the parent's start to each child's creation, in order."""
        if self.parent_start is None:
            return []
        return sorted((c - self.parent_start).total_seconds() for c in self.created)

    def answers(self, status: int) -> int:
        return sum(1 for *_, s in self.api if s == status)


# ---------------------------------------------------------------------------------- reports
def median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "—"


def report_pool(args, runs: list[Run], total: float, notes: list[str]) -> None:
    _, single, fleet, real, rerun = runs

    def outcomes(run: Run) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(run.outcomes.items()))

    print(f"\n{args.projects} projects × {args.images} end images ({3 * args.images + 1} werf tags each), {args.stale} stale")
    print(f"{args.workers} workers × 1 project at a time, worker query interval {args.query_seconds:g} s\n")
    print(
        "| run | wall (s) | children created within (s) | flow body per project, median (s) | child start-up, median (s) | "
        "overhead per project run (s) | Prefect server CPU (s) | audit outcomes | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for run in runs:
        after = run.created_after_parent()
        created = f"{after[-1] - after[0]:.0f}" if after else "—"
        print(
            f"| {run.label}{' (FAILED)' if run.failed else ''} | {run.wall:.1f} | {created} | {median(run.bodies)} | {median(run.startups)} | "
            f"{run.overhead():.1f} | {run.server_cpu:.0f} | {outcomes(run)} | {run.load} |"
        )
    print(f"\none by one / fleet on the pool: {single.wall:.1f} s / {fleet.wall:.1f} s = {single.wall / fleet.wall:.2f}×")
    print(
        f"overhead per child run: {fleet.overhead():.1f} s (per one-by-one CLI call: {single.overhead():.1f} s); "
        f"fleet wall × workers / projects = {fleet.wall * args.workers / args.projects:.1f} s"
    )
    print(
        f"real fleet cleanup: {real.wall:.1f} s, {real.outcomes['deleted']} deleted (expected {3 * args.projects * args.stale})"
    )
    print(f"rerun: {rerun.wall:.1f} s, {rerun.outcomes['deleted']} deleted (expected 0)")
    for note in notes:
        print(note)
    print(f"total run time: {total / 60:.1f} min")


def report_full(args, runs: list[Run], total: float, notes: list[str]) -> None:
    warm, *measured = runs
    by_label = {run.label: run for run in measured}
    one, four, here = by_label[pool_label(1)], by_label[pool_label(4)], by_label[IN_PROCESS]
    print(
        f"\n{args.projects} projects × {args.images} end images ({3 * args.images + 1} werf tags each), {args.stale} stale; "
        f"registry {args.latency_ms:g} ms away each way (+{args.latency_ms:g} ms per new connection); "
        f"`registries:` max_concurrent_requests {args.limit} unless said; Prefect server on {args.database}; workers "
        f"`--limit 1`, query interval {args.query_seconds:g} s"
        + (", children started by `python -m prefect.engine`" if args.engine_command else "")
        + f"; dry runs, warm caches, best of {args.rounds}\n"
    )
    print(
        "| scenario | wall (s) | vs 1 worker | child start-up, median (s) | children created after the parent's start, "
        "first / 8th / last (s) | overhead per child (s) | API calls per project | 503 answers | server + database CPU (s) | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for run in [warm, *measured]:
        after = run.created_after_parent()
        created = f"{after[0]:.1f} / {f'{after[7]:.1f}' if len(after) > 7 else '—'} / {after[-1]:.1f}" if after else "—"
        ratio = "—" if run is warm else f"{one.wall / run.wall:.2f}×"
        print(
            f"| {run.label}{' (FAILED)' if run.failed else ''} | {run.wall:.1f} | {ratio} | {median(run.startups)} | {created} | {run.overhead():.1f} | "
            f"{len(run.api) / args.projects:.0f} | {run.answers(503)} | {run.server_cpu:.0f} | {run.load} |"
        )
    print(f"\nAPI calls of the 4-worker pool by path (per project; {len(four.api)} in all):")
    for (method, path), n in Counter((m, p) for m, p, _ in four.api).most_common(10):
        print(f"  {n / args.projects:6.1f}  {method} {path}")
    others = Counter(s for run in runs for *_, s in run.api if s >= 500 and s != 503)
    if others:
        print(f"other 5xx answers: {dict(others)}")
    eighth = four.created_after_parent()[7:8]
    answers_503 = sum(run.answers(503) for run in runs)
    targets = [
        (
            "4 workers ≥ 3× one worker",
            one.wall / four.wall >= 3,
            f"{one.wall:.1f} s / {four.wall:.1f} s = {one.wall / four.wall:.2f}×",
        ),
        (
            "the 4-worker pool faster than the fleet in one process",
            four.wall < here.wall,
            f"{four.wall:.1f} s vs {here.wall:.1f} s",
        ),
        (
            "8 children created within 2 s of the parent's start",
            bool(eighth) and eighth[0] <= 2,
            f"the 8th at {eighth[0]:.1f} s" if eighth else "fewer than 8 children",
        ),
        ("the server answers no 503", answers_503 == 0, f"{answers_503} in all scenarios"),
    ]
    print("\ntargets:")
    for what, met, figures in targets:
        print(f"  {'met    ' if met else 'NOT met'}  {what}: {figures}")
    for note in notes:
        print(note)
    print(f"total run time: {total / 60:.1f} min")
