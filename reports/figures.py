"""The report's charts, drawn server-side by matplotlib as inline SVG (no script, no network).

Each function takes a table of :mod:`reports.tables` and returns an ``<svg>`` element as text,
or ``None`` when there is nothing to draw.
"""

from __future__ import annotations

import io
import re

import matplotlib
import pandas as pd
from matplotlib.figure import Figure  # a Figure without pyplot: no GUI backend, no global state

from reports.tables import STAGES_LABEL, human_bytes

#: text stays text (small files, selectable), ids are stable from one report to the next
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "stagesweep", "font.size": 9})
MAX_RUNS = 20
MAX_IMAGES = 20
_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF about the file, not the chart
    return text[text.index("<svg") :]  # drop the XML declaration and doctype: the SVG is inline


def run_label(run: pd.Series) -> str:
    when = pd.Timestamp(run["started_at"]).strftime("%m-%d %H:%M")
    return f"{when} {run['command']}{' (dry)' if run['dry_run'] else ''}\n{str(run['run_id'])[:8]}"


def _stacked(ax, labels: list[str], series: dict[str, list[int]], title: str) -> None:
    bottom = [0] * len(labels)
    for i, (name, values) in enumerate(series.items()):
        ax.barh(labels, values, left=bottom, label=name, color=_COLORS[i % len(_COLORS)])
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_title(title, loc="left")
    ax.invert_yaxis()
    if series:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.4 / max(len(labels), 1)), ncol=2, frameon=False)


def decisions_by_reason(runs: pd.DataFrame, reasons: pd.DataFrame) -> str | None:
    """Deleted (or would-delete) and kept items per run, stacked by reason."""
    if runs.empty:
        return None
    shown = runs.head(MAX_RUNS)
    labels = [run_label(r) for _, r in shown.iterrows()]
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(labels)))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, outcomes, title in (
        (axes[0], ("deleted", "would-delete"), "deleted (dry run: would delete)"),
        (axes[1], ("kept",), "kept"),
    ):
        part = reasons[reasons["outcome"].isin(outcomes)]
        series: dict[str, list[int]] = {}
        for reason in sorted(part["reason"].unique()):
            by_run = part[part["reason"] == reason].groupby("run_id")["count"].sum()
            series[reason] = [int(by_run.get(run_id, 0)) for run_id in shown["run_id"]]
        _stacked(ax, labels, series, title)
        ax.set_xlabel("items")
    return _svg(fig)


def reclaimable_per_run(runs: pd.DataFrame) -> str | None:
    shown = runs.head(MAX_RUNS)
    shown = shown[shown["reclaimable_bytes"].notna()]
    if shown.empty:
        return None
    labels = [run_label(r) for _, r in shown.iterrows()]
    values = [int(v) for v in shown["reclaimable_bytes"]]
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(labels)))
    ax = fig.subplots()
    bars = ax.barh(labels, values, color=_COLORS[0])
    ax.bar_label(bars, labels=[human_bytes(v) for v in values], fontsize=7, padding=3)
    ax.set_title("reclaimable bytes per run (freed by the registry's garbage collection)", loc="left")
    ax.set_xlabel("bytes")
    ax.invert_yaxis()
    return _svg(fig)


def per_image(images: pd.DataFrame, run_id: str) -> str | None:
    """Tags per image before and after the run, and the bytes each image makes reclaimable."""
    part = images[images["run_id"] == run_id].head(MAX_IMAGES)
    if part.empty:
        return None
    names = [n or "~" for n in part["image_name"]]
    fig = Figure(figsize=(9, 1.2 + 0.4 * len(names)))
    left, right = fig.subplots(1, 2, sharey=True)
    tagged = part["image_name"] != STAGES_LABEL
    y = list(range(len(names)))
    left.barh([i - 0.2 for i in y], list(part["tags_before"].where(tagged, 0)), height=0.4, label="before", color=_COLORS[7])
    left.barh([i + 0.2 for i in y], list(part["tags_after"].where(tagged, 0)), height=0.4, label="after", color=_COLORS[2])
    left.set_yticks(y, names)
    left.set_title("image tags before and after", loc="left")
    left.legend(fontsize=7, frameon=False)
    left.invert_yaxis()
    freed = [int(v) if v is not None and not pd.isna(v) else 0 for v in part["reclaimable_bytes"]]
    bars = right.barh(y, freed, color=_COLORS[0])
    right.bar_label(bars, labels=[human_bytes(v) for v in freed], fontsize=7, padding=3)
    right.set_title("reclaimable bytes per image", loc="left")
    return _svg(fig)


def largest_kept(kept: pd.DataFrame, run_id: str) -> str | None:
    part = kept[kept["run_id"] == run_id]
    if part.empty:
        return None
    labels = [f"{(r['image_name'] or r['item_type'])}:{str(r['tag'])[:24]}\n{r['reason']}" for _, r in part.iterrows()]
    values = [int(v) for v in part["size_bytes"]]
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(labels)))
    ax = fig.subplots()
    bars = ax.barh(labels, values, color=_COLORS[1])
    ax.bar_label(bars, labels=[human_bytes(v) for v in values], fontsize=7, padding=3)
    ax.set_title("largest kept images and stages, with the reason that keeps them", loc="left")
    ax.set_xlabel("bytes (config + layers)")
    ax.invert_yaxis()
    return _svg(fig)


def failures_per_run(runs: pd.DataFrame) -> str | None:
    shown = runs.head(MAX_RUNS)
    shown = shown[shown["failed"] > 0]
    if shown.empty:
        return None
    labels = [run_label(r) for _, r in shown.iterrows()]
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(labels)))
    ax = fig.subplots()
    bars = ax.barh(labels, [int(v) for v in shown["failed"]], color=_COLORS[3])
    ax.bar_label(bars, fontsize=7, padding=3)
    ax.set_title("failed deletions per run", loc="left")
    ax.invert_yaxis()
    return _svg(fig)
