"""The report's tables, computed from audit rows (AUDIT_SCHEMA as a pandas DataFrame).

Every format (terminal table, JSON, CSV, HTML) shows these same tables:

* ``runs`` — one row per run, newest first: counts by outcome and the reclaimable bytes (a run that
  died shows the rows its part file holds: ``started`` counts deletes with no outcome on record);
* ``reasons`` — per run, action, reason and outcome: how many items;
* ``images`` — per run and werf image: image tags before and after, reclaimable bytes;
* ``largest_kept`` — per run, the largest kept image tags and stages with the reason that keeps them;
* ``failures`` — every failed deletion with its error.

A run's reclaimable bytes are the sum of its rows' ``reclaimable_bytes`` (null for audits written
before sizes were recorded: then ``reclaimable_bytes`` is null too, not 0).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

#: `started`: a delete whose batch began and that has no outcome on record (its run died mid-batch)
OUTCOMES = ["deleted", "would-delete", "kept", "failed", "blocked", "already-gone", "started"]
#: outcomes whose items are (or, in a dry run, would be) gone after the run
GONE = ("deleted", "would-delete")
STAGES_LABEL = "(stages)"
LARGEST = 10

TABLES = ("runs", "reasons", "images", "largest_kept", "failures")


def _sum_or_null(values: pd.Series) -> object:
    present = values.dropna()
    return int(present.sum()) if len(present) else None


def _ints(values: pd.Series) -> pd.Series:
    """A nullable count column as Python ints and None (not floats and NaN)."""
    return pd.Series([None if pd.isna(v) else int(v) for v in values], index=values.index, dtype=object)


def runs(df: pd.DataFrame) -> pd.DataFrame:
    cols = [
        "run_id",
        "command",
        "dry_run",
        "project",
        "started_at",
        *[o.replace("-", "_") for o in OUTCOMES],
        "reclaimable_bytes",
    ]
    if df.empty:
        return pd.DataFrame(columns=cols)
    grouped = df.groupby("run_id", sort=False)
    out = grouped.agg(
        command=("command", "first"),
        dry_run=("dry_run", "first"),
        project=("project", "first"),
        started_at=("started_at", "first"),
    )
    counts = df.pivot_table(index="run_id", columns="outcome", values="command", aggfunc="size", fill_value=0)
    for outcome in OUTCOMES:
        out[outcome.replace("-", "_")] = counts[outcome].astype(int) if outcome in counts else 0
    out["reclaimable_bytes"] = _ints(grouped["reclaimable_bytes"].agg(_sum_or_null))
    out = out.reset_index().sort_values(["started_at", "run_id"], ascending=False, kind="stable")
    return out[cols].reset_index(drop=True)


def reasons(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["run_id", "action", "reason", "outcome", "count"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    out = df.groupby(["run_id", "action", "reason", "outcome"]).size().rename("count").reset_index()
    return _in_run_order(out, df)[cols]


def images(df: pd.DataFrame) -> pd.DataFrame:
    """Per run and image: werf tags before and after the run, and the bytes it makes reclaimable
    (stages have no image: they count under ``(stages)``)."""
    cols = ["run_id", "image_name", "tags_before", "tags_after", "reclaimable_bytes"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    frame = df.assign(image=df["image_name"].fillna(STAGES_LABEL).where(df["item_type"] != "stage", STAGES_LABEL))
    tags = frame[frame["item_type"] == "image-tag"]
    before = tags.groupby(["run_id", "image"]).size().rename("tags_before")
    after = tags[~tags["outcome"].isin(GONE)].groupby(["run_id", "image"]).size().rename("tags_after")
    freed = (
        frame[frame["item_type"].isin(["image-tag", "stage"])].groupby(["run_id", "image"])["reclaimable_bytes"].agg(_sum_or_null)
    )
    out = pd.concat([before, after, freed], axis=1).reset_index().rename(columns={"image": "image_name"})
    out["tags_before"] = out["tags_before"].fillna(0).astype(int)
    out["tags_after"] = out["tags_after"].fillna(0).astype(int)
    out["reclaimable_bytes"] = _ints(out["reclaimable_bytes"])
    return _in_run_order(out.sort_values(["run_id", "image_name"]), df)[cols]


def largest_kept(df: pd.DataFrame, n: int = LARGEST) -> pd.DataFrame:
    cols = ["run_id", "repository", "tag", "item_type", "image_name", "size_bytes", "reason", "detail"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    kept = df[(df["outcome"] == "kept") & df["size_bytes"].notna() & df["item_type"].isin(["image-tag", "stage"])]
    kept = kept.sort_values(["size_bytes", "repository", "tag"], ascending=[False, True, True])
    out = kept.groupby("run_id", sort=False).head(n)[cols].copy()
    out["size_bytes"] = out["size_bytes"].astype(int)
    return _in_run_order(out, df)


def failures(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["run_id", "repository", "tag", "item_type", "error"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    return _in_run_order(df[df["outcome"] == "failed"][cols], df)


def _in_run_order(table: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the newest run first, the order inside a run kept."""
    order = runs(df)["run_id"].tolist()
    rank = {run_id: i for i, run_id in enumerate(order)}
    return table.sort_values("run_id", key=lambda s: s.map(rank), kind="stable").reset_index(drop=True)


BUILDERS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "runs": runs,
    "reasons": reasons,
    "images": images,
    "largest_kept": largest_kept,
    "failures": failures,
}


def all_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {name: BUILDERS[name](df) for name in TABLES}


def records(table: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready rows: timestamps as ISO 8601, missing values as None, numpy ints as ints."""
    out = []
    for row in table.to_dict(orient="records"):
        clean: dict[str, object] = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                clean[key] = value.isoformat()
            elif value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
                clean[key] = None
            elif hasattr(value, "item"):
                clean[key] = value.item()
            else:
                clean[key] = value
        out.append(clean)
    return out


def human_bytes(n: object) -> str:
    if n is None or (not isinstance(n, str) and pd.isna(n)):
        return "unknown"
    size = float(n)  # type: ignore[arg-type]
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
