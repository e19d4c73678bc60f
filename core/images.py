"""Images cleanup decisions (SPEC §4): one decision per images-repo tag and per metadata record.

Tags, in this order of precedence:

1. used by a Kubernetes workload ⇒ keep, ``used-in-kubernetes`` (takes no further part);
2. content signature without metadata of an existing commit ⇒ delete, ``no-metadata``;
3. signature kept by a scanned reference ⇒ keep, ``git-policy`` (detail: policy and ref);
4. built within werf v1.2's ``keepImagesBuiltWithinLastNHours`` window, when the run applies
   it (``core.cleanup_switches``) ⇒ keep, ``built-within-last-n-hours``;
5. otherwise ⇒ delete, ``not-reached-by-policy``.

With werf v1.2's ``disableGitHistoryBasedPolicy`` there is no step 3 (no tag reaches a policy)
and every metadata record is deleted, as werf does.

Only signatures of tags in step 3's candidate set take part in the scan, as in werf: a
signature with no tag left (or kept only by Kubernetes) never uses up a ``last`` slot.

Metadata records, first matching reason: commit not in the repository ⇒ ``nonexistent-commit``;
no tag of the signature left after this cleanup ⇒ ``unused-metadata``; not a hit ⇒
``unhit-commit``; otherwise keep, ``hit-commit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.history import CommitGraph, scan_history
from core.references import select_references
from schemas.config import NAMELESS, NAMELESS_SHOWN, KeepPolicy
from schemas.tables import DECISIONS_SCHEMA
from schemas.vocab import Action, ItemType, Reason, StorageKind

_DETAILS = {
    Reason.NO_METADATA: "no metadata record of an existing commit has this content signature",
    Reason.NONEXISTENT_COMMIT: "the commit is not in the git repository",
    Reason.UNUSED_METADATA: "no image tag with this content signature remains",
    Reason.UNHIT_COMMIT: "not the newest commit of a kept content signature on any scanned reference",
}


def decide_images(
    tags: pa.Table,
    metadata: pa.Table,
    refs: pa.Table,
    commits: pa.Table,
    policies: Sequence[KeepPolicy],
    now: dt.datetime,
    kube_used: pa.Table | None = None,
    *,
    git_history: bool = True,
    keep_built_within: dt.timedelta | None = None,
) -> pa.Table:
    """Decide every image tag (IMAGE_TAGS_SCHEMA) and metadata record (METADATA_SCHEMA).

    ``refs``/``commits`` are the git tables (REFS_SCHEMA/COMMITS_SCHEMA), ``now`` the reference
    time of every ``in`` window, ``kube_used`` the tags used by workloads (columns repository,
    tag, detail). werf v1.2's switches (see ``core.cleanup_switches``): without ``git_history``
    the keep policies keep nothing and every metadata record goes; with ``keep_built_within``
    a tag built within it stays. Returns a DECISIONS_SCHEMA table: image tags first, then
    metadata records, each sorted by image name, repository and tag.
    """
    tag_key = _signature_key(tags)
    meta_key = _signature_key(metadata)
    exists = _mask(pc.is_in(metadata.column("commit"), value_set=commits.column("sha")))
    valid_keys = pc.drop_null(meta_key.filter(pa.array(exists)))

    # 1. Kubernetes, 2. metadata
    kube_detail = _kube_details(tags, kube_used)
    in_kube = np.array([d is not None for d in kube_detail], dtype=bool)
    has_meta = _mask(pc.is_in(tag_key, value_set=valid_keys))
    recent, recent_detail = _built_within(tags, now, keep_built_within)
    if not git_history:
        return _without_git_history(tags, metadata, exists, in_kube, kube_detail, recent, recent_detail)
    # 3. the history scan, over the signatures of the remaining tags
    candidates = pc.drop_null(tag_key.filter(pa.array(~in_kube & has_meta)))
    scan_records = metadata.filter(pa.array(exists & _mask(pc.is_in(meta_key, value_set=candidates))))
    result = scan_history(CommitGraph(commits), scan_records, select_references(refs, policies, now), policies, now)
    kept = result.kept_signatures()
    found = _lookup(tag_key, _signature_key(kept), len(kept))
    in_policy = (found >= 0) & has_meta & ~in_kube
    # 4. werf v1.2's built-within-last-N-hours policy
    in_window = recent & ~in_kube & ~in_policy
    conditions = [in_kube, in_policy, in_window, ~has_meta]
    tag_columns = {
        "action": _first_match(conditions, [Action.KEEP, Action.KEEP, Action.KEEP, Action.DELETE], Action.DELETE),
        "reason": _first_match(
            conditions,
            [Reason.USED_IN_KUBERNETES, Reason.GIT_POLICY, Reason.BUILT_WITHIN_LAST_N_HOURS, Reason.NO_METADATA],
            Reason.NOT_REACHED_BY_POLICY,
        ),
        "detail": _first_match(
            conditions, [kube_detail, _take(kept["detail"], found), recent_detail, _DETAILS[Reason.NO_METADATA]]
        ),
        "commit": _first_match([in_policy], [_take(kept["commit"], found)]),
    }

    # 6. metadata records
    remaining = pc.drop_null(tag_key.filter(pa.array(in_kube | in_policy | in_window)))
    used = _mask(pc.is_in(meta_key, value_set=remaining))
    hits = result.hit_records()
    hit = _lookup(_record_key(metadata), _record_key(hits), len(hits))
    is_hit = (hit >= 0) & exists & used
    reasons = [Reason.NONEXISTENT_COMMIT, Reason.UNUSED_METADATA, Reason.UNHIT_COMMIT]
    conditions = [~exists, ~used, ~is_hit]
    meta_columns = {
        "action": _first_match([is_hit], [Action.KEEP], Action.DELETE),
        "reason": _first_match(conditions, reasons, Reason.HIT_COMMIT),
        "detail": _first_match(conditions, [_DETAILS[r] for r in reasons], _take(hits["detail"], hit)),
    }
    return pa.concat_tables(
        [
            _decisions(tags, tag_columns, StorageKind.IMAGES_REPO, ItemType.IMAGE_TAG),
            _decisions(metadata, meta_columns, StorageKind.STAGES_STORAGE, ItemType.IMAGE_METADATA),
        ]
    )


_NO_GIT_HISTORY = "the git history-based policy is disabled (cleanup.disableGitHistoryBasedPolicy)"


def _without_git_history(
    tags: pa.Table,
    metadata: pa.Table,
    exists: np.ndarray,
    in_kube: np.ndarray,
    kube_detail: np.ndarray,
    recent: np.ndarray,
    recent_detail: str,
) -> pa.Table:
    """werf v1.2 with the git history-based policy disabled: a tag stays only when a workload uses
    it or it was built within the window; every metadata record goes (werf drops them all)."""
    conditions = [in_kube, recent]
    tag_columns = {
        "action": _first_match(conditions, [Action.KEEP, Action.KEEP], Action.DELETE),
        "reason": _first_match(
            conditions, [Reason.USED_IN_KUBERNETES, Reason.BUILT_WITHIN_LAST_N_HOURS], Reason.NOT_REACHED_BY_POLICY
        ),
        "detail": _first_match(conditions, [kube_detail, recent_detail], _NO_GIT_HISTORY),
        "commit": np.full(tags.num_rows, None, dtype=object),
    }
    meta_columns = {
        "action": np.full(metadata.num_rows, Action.DELETE.value, dtype=object),
        "reason": _first_match([~exists], [Reason.NONEXISTENT_COMMIT], Reason.UNUSED_METADATA),
        "detail": _first_match(
            [~exists], [_DETAILS[Reason.NONEXISTENT_COMMIT]], f"{_NO_GIT_HISTORY}: werf drops every image metadata record"
        ),
    }
    return pa.concat_tables(
        [
            _decisions(tags, tag_columns, StorageKind.IMAGES_REPO, ItemType.IMAGE_TAG),
            _decisions(metadata, meta_columns, StorageKind.STAGES_STORAGE, ItemType.IMAGE_METADATA),
        ]
    )


def _built_within(tags: pa.Table, now: dt.datetime, window: dt.timedelta | None) -> tuple[np.ndarray, str]:
    """Which tags were built within ``window`` before ``now`` (a tag of unknown build time was not)."""
    if window is None or window <= dt.timedelta(0) or tags.num_rows == 0:
        return np.zeros(tags.num_rows, dtype=bool), ""
    created = tags.column("created").to_pylist()
    cutoff = now - window
    recent = np.array([c is not None and _aware(c) >= cutoff for c in created], dtype=bool)
    return recent, f"built within the last {window.total_seconds() / 3600:g} h"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _signature_key(rows: pa.Table | pd.DataFrame) -> pa.ChunkedArray:
    """``image_name\\ncontent_signature`` per row (null when the signature is null)."""
    return _join(rows, ["image_name", "content_signature"])


def _record_key(rows: pa.Table | pd.DataFrame) -> pa.ChunkedArray:
    return _join(rows, ["image_name", "commit", "content_signature"])


def _join(rows: pa.Table | pd.DataFrame, names: list[str]) -> pa.ChunkedArray:
    columns = [
        rows.column(n) if isinstance(rows, pa.Table) else pa.array(rows[n], from_pandas=True).cast(pa.string()) for n in names
    ]
    return pc.binary_join_element_wise(*columns, "\n")


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(bool)


def _lookup(keys: pa.ChunkedArray, table_keys: pa.ChunkedArray, size: int) -> np.ndarray:
    """Position of each key in ``table_keys`` (−1 when absent or null)."""
    if size == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    return pc.index_in(keys, value_set=table_keys).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _take(column: pd.Series, positions: np.ndarray) -> np.ndarray:
    """``column`` values at ``positions`` (None at −1)."""
    values = column.astype(object).to_numpy()
    out = np.full(len(positions), None, dtype=object)
    found = positions >= 0
    out[found] = values[positions[found]]
    return out


def _kube_details(tags: pa.Table, kube_used: pa.Table | None) -> np.ndarray:
    """Per tag, the workloads using it ("; "-joined, sorted), or None."""
    out = np.full(tags.num_rows, None, dtype=object)
    if kube_used is None or kube_used.num_rows == 0:
        return out
    details: dict[tuple[str, str], set[str]] = {}
    for row in kube_used.select(["repository", "tag", "detail"]).to_pylist():
        details.setdefault((row["repository"], row["tag"]), set()).add(row["detail"] or "used by a Kubernetes workload")
    pairs = zip(tags.column("repository").to_pylist(), tags.column("tag").to_pylist(), strict=True)
    for index, pair in enumerate(pairs):
        if pair in details:
            out[index] = "; ".join(sorted(details[pair]))
    return out


def _first_match(conditions: list[np.ndarray], choices: list[Any], default: object = None) -> np.ndarray:
    """Like ``numpy.select`` for Python objects: per row, the choice of the first true condition."""
    out = np.full(len(conditions[0]), _plain(default), dtype=object)
    done = np.zeros(len(conditions[0]), dtype=bool)
    for condition, choice in zip(conditions, choices, strict=True):
        take = condition & ~done
        out[take] = choice[take] if isinstance(choice, np.ndarray) else _plain(choice)
        done |= condition
    return out


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


def _decisions(rows: pa.Table, decided: dict[str, np.ndarray], storage: StorageKind, item_type: ItemType) -> pa.Table:
    """DECISIONS_SCHEMA rows for ``rows`` (tags or metadata), sorted by image (nameless first),
    repository and tag."""
    names = rows.column("image_name")
    shown = pc.if_else(pc.equal(names, NAMELESS), NAMELESS_SHOWN, names)
    source = {
        "storage": pa.array([storage.value] * rows.num_rows, pa.string()),
        "item_type": pa.array([item_type.value] * rows.num_rows, pa.string()),
        "image_name": shown,
        "signature": rows.column("content_signature"),
        "repository": rows.column("repository"),
        "tag": rows.column("tag"),
        "digest": rows.column("digest"),
        "commit": rows.column("commit") if "commit" in rows.column_names else pa.nulls(rows.num_rows, pa.string()),
        "size_bytes": rows.column("size_bytes") if "size_bytes" in rows.column_names else pa.nulls(rows.num_rows, pa.int64()),
    }
    source.update({name: pa.array(values, pa.string()) for name, values in decided.items()})
    table = pa.Table.from_arrays([source[name] for name in DECISIONS_SCHEMA.names], schema=DECISIONS_SCHEMA)
    order = pc.sort_indices(rows, [(name, "ascending") for name in ("image_name", "repository", "tag")])
    return table.take(order)


def remaining_image_tags(tags: pa.Table, image_decisions: pa.Table) -> pa.Table:
    """The image tags that stay after images cleanup (kept by a policy or by Kubernetes)."""
    deleting = pc.and_(
        pc.equal(image_decisions["item_type"], ItemType.IMAGE_TAG.value),
        pc.equal(image_decisions["action"], Action.DELETE.value),
    )
    deleted = image_decisions.filter(deleting)
    gone = set(zip(deleted["repository"].to_pylist(), deleted["tag"].to_pylist()))
    stays = [(r, t) not in gone for r, t in zip(tags["repository"].to_pylist(), tags["tag"].to_pylist())]
    return tags.filter(pa.array(stays, pa.bool_()))
