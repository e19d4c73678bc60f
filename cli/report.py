"""`stagesweep report`: per-run counts by action, reason and outcome from the Parquet audit."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters.audit import read_audit


def audit_runs(source: str, run_id: str | None = None) -> pd.DataFrame:
    """One row per run: command, dry run, start, and counts by outcome; newest first."""
    df = read_audit(source, run_id).to_pandas()
    if df.empty:
        return pd.DataFrame(columns=["run_id", "command", "dry_run", "started_at", "rows"])
    runs = df.groupby("run_id").agg(
        command=("command", "first"),
        dry_run=("dry_run", "first"),
        project=("project", "first"),
        started_at=("started_at", "first"),
        rows=("outcome", "size"),
    )
    outcomes = df.pivot_table(index="run_id", columns="outcome", values="command", aggfunc="size", fill_value=0)
    return runs.join(outcomes).reset_index().sort_values("started_at", ascending=False)


def reason_counts(source: str, run_id: str | None = None) -> pd.DataFrame:
    df = read_audit(source, run_id).to_pandas()
    return (
        df.groupby(["run_id", "action", "reason", "outcome"]).size().rename("count").reset_index()
        if not df.empty
        else pd.DataFrame(columns=["run_id", "action", "reason", "outcome", "count"])
    )


def print_report(source: str, run_id: str | None) -> int:
    console = Console()
    runs = audit_runs(source, run_id)
    reasons = reason_counts(source, run_id)
    if runs.empty:
        console.print(f"no audited runs in {escape(str(source))}", soft_wrap=True)
        return 0
    outcome_cols = [c for c in ["kept", "would-delete", "deleted", "already-gone", "failed", "blocked"] if c in runs]
    table = Table(title="runs, newest first")
    for col in ["run_id", "command", "dry_run", "started_at", *outcome_cols]:
        table.add_column(col)
    for _, r in runs.iterrows():
        table.add_row(
            r["run_id"], r["command"], "yes" if r["dry_run"] else "no", f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
            *[str(int(r[c])) for c in outcome_cols],
        )
    console.print(table)
    for rid in runs["run_id"]:
        sub = reasons[reasons["run_id"] == rid]
        detail = Table(title=f"run {rid}")
        for col in ["action", "reason", "outcome", "count"]:
            detail.add_column(col)
        for _, r in sub.iterrows():
            detail.add_row(r["action"], r["reason"], r["outcome"], str(r["count"]))
        console.print(detail)
    return 0
