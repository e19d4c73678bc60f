"""The audit of a demo-world run as comparable rows: what was decided about what, with the
values that change from one build of the world to the next (hashes, times, run ids) masked."""

from __future__ import annotations

import re

import pandas as pd

HEX = re.compile(r"[0-9a-f]{12,}")
NUMBER = re.compile(r"\d{6,}")
COLUMNS = ["command", "dry_run", "storage", "item_type", "image_name", "action", "reason", "outcome", "tag", "detail"]


#: details that name one of several equally valid reasons to keep (which one depends on walk order)
ORDER_DEPENDENT = {"built-within-last-n-hours"}


def mask(value: object, root: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return NUMBER.sub("N", HEX.sub("H", str(value).replace(root, "ROOT")))


def normalised_rows(audit: pd.DataFrame, root: str) -> list[list[str]]:
    """`root`: the directory the world was built in (masked as ROOT)."""
    rows = []
    for _, r in audit.iterrows():
        row = {c: mask(r[c], root) for c in COLUMNS}
        if row["reason"] in ORDER_DEPENDENT:
            row["detail"] = ""
        rows.append([row[c] for c in COLUMNS])
    return sorted(rows)
