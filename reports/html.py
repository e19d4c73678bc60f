"""One self-contained HTML file over audit rows: inline CSS, inline SVG charts, no network.

Every number shown is also in a table cell carrying ``data-field`` (and the row ``data-run-id``),
so a reader — or a test — can check the page against the audit. A few lines of inline script
only mark the page as rendered and record script errors in ``data-errors`` on ``<body>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

import pandas as pd

from reports import figures
from reports import tables as t

#: runs that get their own section (per-image charts, largest kept, failures)
RUN_SECTIONS = 5
MAX_FAILURE_ROWS = 200

GC_NOTE = (
    "Reclaimable bytes are the blobs (manifests, configs, layers) that the deleted manifests referenced and no "
    "manifest that stays in the same registry references. The space returns only after the registry's garbage "
    "collection runs (Distribution: <code>registry garbage-collect</code> with the registry stopped or read-only); "
    "a dry run shows what a real run would make reclaimable."
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}td[data-field=run_id]{font-family:monospace;font-size:11px;white-space:nowrap}
td[data-field=started_at]{white-space:nowrap}th{background:#f4f4f4}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px}.muted{color:#666}
figure{margin:8px 0}svg{max-width:100%;height:auto}code{background:#f4f4f4;padding:0 3px}
"""

SCRIPT = """
(function(){var errors=[];
window.addEventListener('error',function(e){errors.push(String(e.message));document.body.setAttribute('data-errors',errors.join('\\n'));});
document.addEventListener('DOMContentLoaded',function(){document.body.setAttribute('data-rendered','yes');});})();
"""

NUMERIC = {
    "deleted",
    "would_delete",
    "kept",
    "failed",
    "blocked",
    "already_gone",
    "started",
    "reclaimable_bytes",
    "tags_before",
    "tags_after",
    "size_bytes",
    "count",
}


def _cell(field: str, value: object) -> str:
    missing = value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value))
    if missing:
        return f'<td data-field="{field}" class="muted"></td>'
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(int(value)) if field in NUMERIC else str(value)  # type: ignore[call-overload]
    title = f' title="{escape(t.human_bytes(value))}"' if field.endswith("bytes") else ""
    css = ' class="n"' if field in NUMERIC else ""
    return f'<td data-field="{field}"{css}{title}>{escape(text)}</td>'


def html_table(table: pd.DataFrame, name: str, columns: Iterable[str] | None = None) -> str:
    cols = list(columns or table.columns)
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = []
    for _, row in table.iterrows():
        run_id = escape(str(row.get("run_id", "")))
        body.append(f'<tr data-run-id="{run_id}">' + "".join(_cell(c, row[c]) for c in cols) + "</tr>")
    return f'<table data-table="{name}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _figure(svg: str | None, caption: str) -> str:
    return f'<figure>{svg}<figcaption class="muted">{escape(caption)}</figcaption></figure>' if svg else ""


def render(df: pd.DataFrame, source: str) -> str:
    """The report page of audit rows ``df`` read from ``source``."""
    tabs = t.all_tables(df)
    runs = tabs["runs"]
    total = t.records(runs)
    reclaim_total = sum(int(r["reclaimable_bytes"] or 0) for r in total if not r["dry_run"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>stagesweep report</title>",
        f"<style>{CSS}</style><script>{SCRIPT}</script></head><body>",
        "<h1>stagesweep report</h1>",
        f'<p class="muted">audit: <code>{escape(source)}</code> — {len(runs)} run(s), {len(df)} decisions; '
        f'reclaimable after the real runs: <strong data-field="reclaimable_bytes_total">{reclaim_total}</strong> bytes '
        f"({escape(t.human_bytes(reclaim_total))})</p>",
        f'<p class="note">{GC_NOTE}</p>',
        "<h2>Runs</h2>",
        html_table(runs, "runs"),
        _figure(figures.decisions_by_reason(runs, tabs["reasons"]), "Deleted and kept items per run, by reason."),
        _figure(figures.reclaimable_per_run(runs), "Reclaimable bytes per run."),
        _figure(figures.failures_per_run(runs), "Failed deletions per run."),
    ]
    for _, run in runs.head(RUN_SECTIONS).iterrows():
        run_id = str(run["run_id"])
        one = {name: table[table["run_id"] == run_id] for name, table in tabs.items()}
        parts += [
            f'<section data-run-id="{escape(run_id)}">',
            f"<h2>Run {escape(run_id)}</h2>",
            f"<p>{escape(str(run['command']))}{' (dry run)' if run['dry_run'] else ''}, "
            f"{escape(pd.Timestamp(run['started_at']).strftime('%Y-%m-%d %H:%M:%S UTC'))}</p>",
            "<h3>Decisions by reason</h3>",
            html_table(one["reasons"], "reasons", ["action", "reason", "outcome", "count"]),
            "<h3>Images</h3>",
            _figure(figures.per_image(tabs["images"], run_id), "Image tags before and after, reclaimable bytes per image."),
            html_table(one["images"], "images", ["image_name", "tags_before", "tags_after", "reclaimable_bytes"]),
            "<h3>Largest kept</h3>",
            _figure(figures.largest_kept(tabs["largest_kept"], run_id), "The largest kept items and why they stay."),
            html_table(
                one["largest_kept"],
                "largest_kept",
                ["repository", "tag", "item_type", "image_name", "size_bytes", "reason", "detail"],
            ),
        ]
        if not one["failures"].empty:
            parts += [
                "<h3>Failures</h3>",
                html_table(one["failures"].head(MAX_FAILURE_ROWS), "failures", ["repository", "tag", "item_type", "error"]),
            ]
        parts.append("</section>")
    failures = tabs["failures"]
    parts += ["<h2>Failures</h2>"]
    parts.append(
        html_table(failures.head(MAX_FAILURE_ROWS), "failures", ["run_id", "repository", "tag", "item_type", "error"])
        if not failures.empty
        else '<p data-field="failures">No failed deletions.</p>'
    )
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
