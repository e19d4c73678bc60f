"""Reclaimable bytes: what a run's deletes leave for the registry's garbage collection to free.

A blob (a manifest, an image config or a layer) is freed only when no manifest that stays
references it. Distribution keeps one blob store per registry and its garbage collection marks
every blob any repository's manifest still references, so the scope of a blob is the registry
host (``HOST[:PORT]``); an OCI layout directory keeps its own blobs, so there the scope is the
layout. Nothing is freed on disk before the registry's garbage collection runs.

Input: the run's rows (plan order, with ``outcome``) and a BLOBS_SCHEMA table of every manifest
read while listing — werf tags, stages and the foreign tags beside them. Only manifests that were
read count; records whose manifest was not read (metadata, markers, managed images, ``:local``)
get no bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa

from schemas.tables import BLOBS_SCHEMA, Row
from schemas.vocab import Outcome

#: the outcomes whose manifests are (or, in a dry run, would be) gone after the run
FREEING = frozenset({Outcome.DELETED.value, Outcome.WOULD_DELETE.value})


def scope_of(repository: str) -> str:
    """The blob store a repository's blobs live in: its registry host, or its OCI layout."""
    if repository.startswith("oci:"):
        return repository
    return repository.split("/", 1)[0]


def combine_blobs(tables: Iterable[pa.Table | None]) -> pa.Table:
    """One BLOBS_SCHEMA table from the extracts that produced one (``None`` skipped)."""
    parts = [t.select(BLOBS_SCHEMA.names).cast(BLOBS_SCHEMA) for t in tables if t is not None and t.num_rows]
    return pa.concat_tables(parts) if parts else BLOBS_SCHEMA.empty_table()


def reclaimable_per_row(rows: Sequence[Row], blobs: pa.Table) -> list[int | None]:
    """Per row: the bytes of blobs its delete leaves unreferenced in its scope.

    Each freed blob is counted once, on the first row (in ``rows`` order) whose manifest
    references it, so the sum over the rows is the run's reclaimable bytes. Rows that were not
    (or would not be) deleted, and rows whose manifest was not read, get ``None``.
    """
    refs: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for repository, tag, digest, size in zip(
        blobs["repository"].to_pylist(),
        blobs["tag"].to_pylist(),
        blobs["blob_digest"].to_pylist(),
        blobs["blob_size"].to_pylist(),
    ):
        refs.setdefault((repository, tag), []).append((digest, int(size)))
    gone = {(r["repository"], r["tag"]) for r in rows if r.get("outcome") in FREEING and r.get("tag") is not None}
    staying: set[tuple[str, str]] = set()
    for (repository, tag), found in refs.items():
        if (repository, tag) not in gone:
            staying.update((scope_of(repository), digest) for digest, _ in found)
    counted: set[tuple[str, str]] = set()
    out: list[int | None] = []
    for r in rows:
        key = (r["repository"], r.get("tag"))
        if r.get("outcome") not in FREEING or key not in refs:
            out.append(None)
            continue
        scope = scope_of(r["repository"])
        freed = 0
        for digest, size in refs[key]:  # type: ignore[index]
            blob = (scope, digest)
            if blob in staying or blob in counted:
                continue
            counted.add(blob)
            freed += size
        out.append(freed)
    return out


def total(values: Iterable[int | None]) -> int:
    """The run's reclaimable bytes from its per-row values."""
    return sum(v for v in values if v is not None)
