"""The history scan (SPEC §4.5): which content signatures each scanned reference keeps.

A branch reaches every metadata record whose commit is an ancestor of its head (through all
parents); a tag reaches only the records of the tagged commit. A reached signature is dated by
its newest reaching commit; ``imagesPerReference`` then picks the signatures the ref keeps:

* ``last: 0`` keeps nothing;
* ``in`` with ``And`` drops signatures dated before now−in;
* no count limit keeps the rest; otherwise the ``last`` newest (ties on the date kept together)
  plus, with ``in`` and ``Or``, every signature dated within now−in.

The record through which a kept signature was reached (its newest reaching commit) is a *hit*.

How it stays fast on large histories: metadata records are numbered newest first (per image),
and one pass over the commits in topological order gives every commit the set of records it
reaches as a Python int bitset (a commit without records and with one parent shares its
parent's int; only merges and record commits build new ones). A ref's reached records are then
the set bits of its head's int, already in date order, so picking the newest ``last`` is a
prefix scan. Cost: one pass over the graph plus work per ref proportional to what it keeps.
"""

from __future__ import annotations

import datetime as dt
import graphlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.references import describe_ref, timestamps_us, to_micros
from schemas.config import KeepPolicy, Limit, Operator
from schemas.vocab import RefKind

RECORD_COLUMNS = ["image_name", "commit", "content_signature"]


@dataclass(frozen=True)
class ScanResult:
    """Outcome of the scan.

    * ``scanned`` — the scanned refs (``select_references`` columns) plus ``kept``: how many
      signatures each keeps;
    * ``records`` — the metadata records that took part (``RECORD_COLUMNS`` + ``date_us``);
    * ``kept`` — one row per (scanned ref, kept signature): ``ref`` and ``record`` are row
      positions in ``scanned`` and ``records``; the record is the signature's newest reaching
      commit on that ref, i.e. a hit.
    """

    scanned: pd.DataFrame
    records: pd.DataFrame
    kept: pd.DataFrame

    def per_ref(self) -> pd.DataFrame:
        """Readable ``kept``: ref name/kind, policy, image, signature and hit commit."""
        refs = self.scanned.iloc[self.kept["ref"].to_numpy()].reset_index(drop=True)
        recs = self.records.iloc[self.kept["record"].to_numpy()].reset_index(drop=True)
        return pd.DataFrame(
            {
                "ref_name": refs["name"],
                "ref_kind": refs["kind"],
                "policy": refs["policy"],
                "image_name": recs["image_name"],
                "content_signature": recs["content_signature"],
                "commit": recs["commit"],
                "date_us": recs["date_us"],
            }
        )

    def kept_signatures(self) -> pd.DataFrame:
        """One row per kept (image_name, content_signature), credited to the first ref in scan
        order (lowest policy, then kind and name), with ``detail`` and that ref's hit ``commit``."""
        rows = self.per_ref().drop_duplicates(["image_name", "content_signature"], keep="first")
        return self._with_detail(rows)

    def hit_records(self) -> pd.DataFrame:
        """One row per hit record (image_name, commit, content_signature), with ``detail``."""
        rows = self.per_ref().drop_duplicates(RECORD_COLUMNS, keep="first")
        return self._with_detail(rows)

    @staticmethod
    def _with_detail(rows: pd.DataFrame) -> pd.DataFrame:
        refs = zip(rows["policy"], rows["ref_kind"], rows["ref_name"], strict=True)
        detail = [describe_ref(policy, kind, name) for policy, kind, name in refs]
        return rows.assign(detail=detail).reset_index(drop=True)


class CommitGraph:
    """The commit graph of a COMMITS_SCHEMA table, indexed by row position."""

    def __init__(self, commits: pa.Table) -> None:
        self.size = commits.num_rows
        self.sha = commits.column("sha").combine_chunks()
        self.committed_us = timestamps_us(commits.column("committed_at"))
        parents = commits.column("parents")
        lengths = pc.list_value_length(parents).to_numpy(zero_copy_only=False).astype(np.int64)
        parent = self.positions(pc.list_flatten(parents))
        child = np.repeat(np.arange(self.size, dtype=np.int64), lengths)
        known = parent >= 0  # parents outside the table (shallow history) are cut off
        self._child, self._parent = child[known], parent[known]

    def positions(self, shas: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
        """Row positions of ``shas`` (−1 for commits not in the graph)."""
        if not isinstance(shas, (pa.Array, pa.ChunkedArray)):
            shas = pa.array(list(shas), pa.string())
        found = pc.index_in(shas, value_set=self.sha)
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def reached_bits(self, own: dict[int, int], heads: np.ndarray) -> list[int]:
        """For each of ``heads``, the OR of ``own`` over the head and all its ancestors.

        Only "interesting" commits (with ``own`` bits, or merges) get their own value; every
        other commit has exactly its first parent's, so it is skipped by pointing it at the
        nearest interesting commit down its first-parent chain (numpy pointer jumping).
        """
        size, child, parent = self.size, self._child, self._parent
        is_first = np.ones(len(child), dtype=bool)
        is_first[1:] = child[1:] != child[:-1]
        first_parent = np.full(size + 1, size, dtype=np.int64)  # position ``size`` = nothing
        first_parent[child[is_first]] = parent[is_first]
        interesting = np.zeros(size + 1, dtype=bool)
        interesting[child[~is_first]] = True
        interesting[np.fromiter(own, dtype=np.int64, count=len(own))] = True
        interesting[size] = True
        up = np.where(interesting, np.arange(size + 1), first_parent)
        while True:  # up[c]: nearest interesting commit on c's first-parent chain (c included)
            jumped = up[up]
            if np.array_equal(jumped, up):
                break
            up = jumped
        extra: dict[int, list[int]] = {}
        for c, p in zip(child[~is_first].tolist(), up[parent[~is_first]].tolist(), strict=True):
            extra.setdefault(c, []).append(p)
        first_up = up[first_parent].tolist()
        bits = [0] * (size + 1)
        for c in self._topological_order(np.flatnonzero(interesting[:size])):
            value = bits[first_up[c]] | own.get(c, 0)
            for p in extra.get(c, ()):
                value |= bits[p]
            bits[c] = value
        return [bits[h] for h in up[np.where(heads >= 0, heads, size)].tolist()]

    def _topological_order(self, subset: np.ndarray) -> Sequence[int]:
        """``subset`` with parents before children. ``git rev-list`` lists children first almost
        always: use its reversed order when it is valid, else sort (clock skew, reordered rows)."""
        if np.all(self._parent > self._child):
            return subset[::-1].tolist()
        graph: dict[int, list[int]] = {c: [] for c in range(self.size)}
        for c, p in zip(self._child.tolist(), self._parent.tolist(), strict=True):
            graph[c].append(p)
        try:
            order = np.fromiter(graphlib.TopologicalSorter(graph).static_order(), dtype=np.int64, count=self.size)
        except graphlib.CycleError as exc:
            raise ValueError(f"the commit table has a parent cycle: {exc.args[1][:5]}") from None
        wanted = np.zeros(self.size, dtype=bool)
        wanted[subset] = True
        return order[wanted[order]].tolist()


def scan_history(
    commits: pa.Table | CommitGraph,
    records: pa.Table,
    scanned: pd.DataFrame,
    policies: Sequence[KeepPolicy],
    now: dt.datetime,
) -> ScanResult:
    """Scan ``scanned`` refs (from ``select_references``) over metadata ``records`` (a table with
    ``RECORD_COLUMNS``; records of commits not in ``commits`` never match)."""
    now_us = to_micros(now)
    graph = commits if isinstance(commits, CommitGraph) else CommitGraph(commits)
    recs, bounds = _number_records(records, graph)
    rec_key = recs["key"].to_numpy()
    rec_date = recs["date_us"].to_numpy()
    own: dict[int, int] = {}
    for bit, commit in enumerate(recs["commit_idx"].tolist()):
        own[commit] = own.get(commit, 0) | (1 << bit)

    heads = graph.positions(scanned["commit"].tolist())
    is_branch = (scanned["kind"] == RefKind.BRANCH).to_numpy()
    reached = [own.get(h, 0) for h in heads.tolist()]  # a tag reaches its own commit only
    if own and is_branch.any():
        branch_rows = np.flatnonzero(is_branch).tolist()
        for row, value in zip(branch_rows, graph.reached_bits(own, heads[is_branch]), strict=True):
            reached[row] = value
    out_ref, out_rec, counts = [], [], np.zeros(len(scanned), dtype=np.int64)
    for row, (bits, policy) in enumerate(zip(reached, scanned["policy"].tolist(), strict=True)):
        if not bits:
            continue
        limit = policies[policy].images_per_reference
        records_reached = _set_bits(bits)
        cuts = np.searchsorted(records_reached, bounds)
        for start, stop in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):  # per image
            if start < stop:
                chosen = select_signatures(records_reached[start:stop], rec_key, rec_date, limit, now_us)
                out_ref.append(np.full(len(chosen), row, dtype=np.int64))
                out_rec.append(chosen)
                counts[row] += len(chosen)
    empty = np.empty(0, dtype=np.int64)
    kept = pd.DataFrame(
        {"ref": np.concatenate(out_ref) if out_ref else empty, "record": np.concatenate(out_rec) if out_rec else empty}
    )
    return ScanResult(
        scanned=scanned.assign(kept=counts).reset_index(drop=True),
        records=recs[RECORD_COLUMNS + ["date_us"]],
        kept=kept,
    )


def _number_records(records: pa.Table, graph: CommitGraph) -> tuple[pd.DataFrame, np.ndarray]:
    """Records of known commits, numbered per image newest first (ties by commit, signature);
    ``key`` numbers (image_name, content_signature). Also the bounds of each image's numbers:
    image ``i`` has records ``bounds[i]`` to ``bounds[i + 1]`` (excluded)."""
    table = records.select(RECORD_COLUMNS).drop_null().group_by(RECORD_COLUMNS).aggregate([])
    commit_idx = graph.positions(table.column("commit"))
    known = commit_idx >= 0
    table = table.filter(pa.array(known)).append_column("commit_idx", pa.array(commit_idx[known]))
    table = table.append_column("date_us", pa.array(graph.committed_us[commit_idx[known]]))
    order = [("image_name", "ascending"), ("date_us", "descending"), ("commit", "ascending")]
    table = table.sort_by(order + [("content_signature", "ascending")])
    key = pc.binary_join_element_wise(table.column("image_name"), table.column("content_signature"), "\n")
    table = table.append_column("key", pc.dictionary_encode(key).combine_chunks().indices)
    recs = table.to_pandas()
    names = recs["image_name"].to_numpy()
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]]) if len(recs) else np.empty(0, dtype=np.int64)
    return recs, np.r_[starts, len(recs)]


def _set_bits(value: int) -> np.ndarray:
    """Positions of the set bits of ``value``, ascending."""
    raw = np.frombuffer(value.to_bytes((value.bit_length() + 7) // 8, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little"))


def _first_per_key(reached: np.ndarray, rec_key: np.ndarray) -> np.ndarray:
    """The first (newest) record of each key, in the order of ``reached``."""
    _, first = np.unique(rec_key[reached], return_index=True)
    first.sort()
    return reached[first]


def select_signatures(
    reached: np.ndarray, rec_key: np.ndarray, rec_date: np.ndarray, limit: Limit | None, now_us: int
) -> np.ndarray:
    """Apply ``imagesPerReference`` to one ref's reached records of one image.

    ``reached`` are record numbers newest first; returns the hit record of each kept signature.
    """
    if limit is None or len(reached) == 0:
        return _first_per_key(reached, rec_key)
    count = limit.count
    if count == 0:
        return reached[:0]
    cutoff = None if limit.in_ is None else now_us - limit.in_ // dt.timedelta(microseconds=1)
    use_or = limit.effective_operator is Operator.OR
    newest_first = -rec_date[reached]  # non-decreasing
    within = 0 if cutoff is None else int(np.searchsorted(newest_first, -cutoff, side="right"))
    if cutoff is not None and not use_or:
        reached = reached[:within]
    if count is None:
        return _first_per_key(reached, rec_key)
    size = max(within if use_or else 0, 4 * count + 8)
    while True:  # grow a prefix until it holds the `count` newest signatures and their ties
        firsts = _first_per_key(reached[:size], rec_key)
        if size >= len(reached):
            break
        if len(firsts) > count and rec_date[reached[size - 1]] < rec_date[firsts[count - 1]]:
            break
        size *= 4
    if len(firsts) > count:
        floor = rec_date[firsts[count - 1]]
        if cutoff is not None and use_or:
            floor = min(floor, cutoff)
        firsts = firsts[rec_date[firsts] >= floor]
    return firsts
