"""`stagesweep report`: the audit's tables (runs, reasons, images, largest kept, failures) as a
terminal table, JSON or CSV, or one self-contained HTML page (`--html FILE`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters.audit import read_audit
from reports import tables as t
from schemas.errors import AuditError

FORMATS = ("table", "json", "csv")


def load_audit(source: str, run_id: str | None = None) -> pd.DataFrame:
    """The audit rows at ``source``; an empty or unreadable location is an ``AuditError``."""
    try:
        df = read_audit(source, run_id).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        raise AuditError(
            f"cannot read the audit at {source}: {exc}", hint="Pass an audit Parquet file, an audit directory or its URI."
        ) from exc
    if df.empty:
        what = f"run {run_id}" if run_id else "audited runs"
        raise AuditError(f"no {what} in {source}", hint="Pass an audit file or the --audit-dir of earlier runs.")
    return df


def audit_runs(source: str, run_id: str | None = None) -> pd.DataFrame:
    """One row per run: command, dry run, start, counts by outcome, reclaimable bytes; newest first."""
    return t.runs(load_audit(source, run_id))


def reason_counts(source: str, run_id: str | None = None) -> pd.DataFrame:
    return t.reasons(load_audit(source, run_id))


def only_repository(df: pd.DataFrame, repository: str, source: str) -> pd.DataFrame:
    """The rows of one repository (`--repo`): as given, or as a registry address names it."""
    from adapters.storage import registry_repository

    names = {repository.rstrip("/"), registry_repository(repository) or repository}
    chosen = df[df["repository"].isin(names)]
    if chosen.empty:
        raise AuditError(
            f"no audited row of the repository {repository} in {source}",
            hint="Pass the --repo (or --final-repo) address the runs were given, or leave --repo out.",
        )
    return chosen


def print_report(
    source: str,
    run_id: str | None,
    fmt: str = "table",
    table: str | None = None,
    html: str | None = None,
    repository: str | None = None,
) -> int:
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    if table is not None and table not in t.TABLES:
        raise typer.BadParameter(f"{table!r} is not one of {', '.join(t.TABLES)}", param_hint="--table")
    df = load_audit(source, run_id)
    if repository:
        df = only_repository(df, repository, source)
    if html:
        from reports.html import render

        path = _write_atomic(Path(html).expanduser(), render(df, str(source)))
        Console().print(f"report written: {escape(str(path))}", soft_wrap=True)
        return 0
    tabs = t.all_tables(df)
    if table is not None:
        tabs = {table: tabs[table]}
    if fmt == "json":
        print(json.dumps({name: t.records(tab) for name, tab in tabs.items()}, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        for i, (name, tab) in enumerate(tabs.items()):
            if len(tabs) > 1:
                print(("\n" if i else "") + f"# {name}")
            print(tab.to_csv(index=False), end="")
    else:
        _print_tables(tabs)
    return 0


def _print_tables(tabs: dict[str, pd.DataFrame]) -> None:
    console = Console()
    runs = tabs.get("runs")
    if runs is not None:
        outcome_cols = [
            c for c in ["kept", "would_delete", "deleted", "already_gone", "failed", "blocked", "started"] if runs[c].any()
        ]
        table = Table(title="runs, newest first")
        for col in ["run_id", "command", "dry_run", "started_at", *[c.replace("_", "-") for c in outcome_cols], "reclaimable"]:
            table.add_column(col)
        for _, r in runs.iterrows():
            table.add_row(
                r["run_id"],
                r["command"],
                "yes" if r["dry_run"] else "no",
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                *[str(int(r[c])) for c in outcome_cols],
                t.human_bytes(r["reclaimable_bytes"]),
            )
        console.print(table)
        console.print("reclaimable bytes return only after the registry's garbage collection", style="dim")
    reasons = tabs.get("reasons")
    if reasons is not None:
        for rid in dict.fromkeys(reasons["run_id"]):
            detail = Table(title=f"run {rid}")
            for col in ["action", "reason", "outcome", "count"]:
                detail.add_column(col)
            for _, r in reasons[reasons["run_id"] == rid].iterrows():
                detail.add_row(r["action"], r["reason"], r["outcome"], str(r["count"]))
            console.print(detail)
    for name in ("images", "largest_kept", "failures"):
        tab = tabs.get(name)
        if tab is None or tab.empty:
            continue
        out = Table(title=name.replace("_", " "))
        for col in tab.columns:
            out.add_column(col)
        for _, r in tab.iterrows():
            out.add_row(*["" if v is None or (not isinstance(v, str) and pd.isna(v)) else escape(str(v)) for v in r])
        console.print(out)


def _write_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
