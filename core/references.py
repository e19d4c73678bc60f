"""Which git references to scan (SPEC §4.4): keep policies select refs by name and limit.

For each policy, in order: the refs of its kind whose name matches, then ``limit``:
``in`` keeps refs dated after now−in, ``last`` the newest N (ties broken by name), ``And`` is the
intersection and ``Or`` the union when both are given. A ref selected by several policies is
scanned with the **last** selecting policy's ``imagesPerReference``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.config import KeepPolicy, Limit, Operator

#: Columns of the table ``select_references`` returns.
SCANNED_COLUMNS = ["name", "kind", "commit", "date_us", "policy"]


def to_micros(moment: dt.datetime) -> int:
    """A timezone-aware datetime as Unix microseconds (the unit of every table timestamp)."""
    if moment.tzinfo is None:
        raise ValueError(f"now must be timezone-aware (e.g. datetime.now(UTC)), got {moment!r}")
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def timestamps_us(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp column as int64 Unix microseconds."""
    return pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)


def limit_mask(dates_us: np.ndarray, limit: Limit | None, now_us: int, *, order: np.ndarray) -> np.ndarray:
    """Which of the candidates a ``references.limit`` keeps.

    ``order`` lists candidate positions newest first (the tie-break is the caller's).
    """
    keep_all = np.ones(len(dates_us), dtype=bool)
    if limit is None:
        return keep_all
    by_in = by_last = None
    if limit.in_ is not None:
        by_in = dates_us > now_us - limit.in_ // dt.timedelta(microseconds=1)
    if limit.count is not None:
        by_last = np.zeros(len(dates_us), dtype=bool)
        by_last[order[: limit.count]] = True
    if by_in is None and by_last is None:
        return keep_all
    if by_in is None:
        assert by_last is not None
        return by_last
    if by_last is None:
        return by_in
    return (by_in | by_last) if limit.effective_operator is Operator.OR else (by_in & by_last)


def select_references(refs: pa.Table, policies: Sequence[KeepPolicy], now: dt.datetime) -> pd.DataFrame:
    """The refs to scan, each with the index (0-based) of the policy whose imagesPerReference applies.

    Returns a DataFrame with ``SCANNED_COLUMNS``, sorted by policy, kind and name.
    """
    now_us = to_micros(now)
    names = refs.column("name").to_pylist()
    kinds = refs.column("kind").to_pylist()
    dates = timestamps_us(refs.column("date"))
    assigned = np.full(len(names), -1, dtype=np.int64)
    for index, policy in enumerate(policies):
        matches = np.flatnonzero([policy.references.matches(k, n) for k, n in zip(kinds, names, strict=True)])
        if not len(matches):
            continue
        cand_dates = dates[matches]
        # newest first; equal dates by name so the choice never depends on input order
        order = np.array(sorted(range(len(matches)), key=lambda i: (-cand_dates[i], names[matches[i]])), dtype=np.int64)
        keep = limit_mask(cand_dates, policy.references.limit, now_us, order=order)
        assigned[matches[keep]] = index
    chosen = np.flatnonzero(assigned >= 0)
    frame = pd.DataFrame(
        {
            "name": pd.Series(names, dtype=object).iloc[chosen].to_numpy(),
            "kind": pd.Series(kinds, dtype=object).iloc[chosen].to_numpy(),
            "commit": refs.column("commit").take(pa.array(chosen, type=pa.int64())).to_pylist(),
            "date_us": dates[chosen],
            "policy": assigned[chosen],
        },
        columns=SCANNED_COLUMNS,
    )
    return frame.sort_values(["policy", "kind", "name"], kind="stable", ignore_index=True)


def describe_ref(policy: int, kind: str, name: str) -> str:
    """The audit detail of a keep by git policy: ``policy 2: branch main`` (1-based)."""
    return f"policy {policy + 1}: {kind} {name}"
