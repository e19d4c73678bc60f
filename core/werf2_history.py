"""werf v2's git history-based policy over a repository's meta records (SPEC §13.3 step 4).

A meta record ``meta-<id>_<commit>_<stageID>`` says that image ``id`` built at ``commit`` is stage
``stageID``. The history scan of werf v1.1 (``core.references`` + ``core.history``) runs unchanged
with the stage ID in the place of v1.1's content signature: the stages a scanned reference
reaches and keeps are protected (``git-policy``).

werf v2's keep policies differ from v1.1's in one default (``pkg/config/meta_cleanup.go``):
``imagesPerReference.last`` absent means 1, not unlimited (``-1`` is unlimited); the default policy
set (``pkg/cleaning/git_history_based_cleanup/reference_to_scan.go``) is v1.1's with that default,
so its tag policy keeps one stage per tag. A ``/regex/`` matches the whole name in both.

Meta records, first reason that applies (the order of SPEC §13.3; werf deletes each kind in its
own pass of ``pkg/cleaning/cleanup.go``):

1. ``nonexistent-image`` — its image is neither in werf.yaml nor a managed image;
2. its stage could not be read in this run ⇒ keep (``unreadable``): the stage stays, so does the
   record that protects it next time (werf, which skips such a stage, would delete it);
3. ``nonexistent-stage`` — its stage is not in the repository;
4. ``nonexistent-commit`` — its commit is not in the git repository;
5. ``unhit-commit`` — not the newest commit through which a scanned reference kept the stage;
6. otherwise keep (``hit-commit``, with the reference that kept it).

``cleanup.disableGitHistoryBasedPolicy`` deletes every meta record (``git-policy-disabled``) and
protects nothing, as werf's ``purgeImageMetadata`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.history import RECORD_COLUMNS, CommitGraph, scan_history
from core.references import select_references
from core.werf2_rows import Protection, meta_table, shown_image_name
from schemas.config import NAMELESS, NAMELESS_SHOWN, KeepPolicy, Limit
from schemas.keep_policies import default_keep_policies
from schemas.vocab import Action, Reason

#: werf v2's imagesPerReference.last when the policy does not give it
DEFAULT_IMAGES_PER_REFERENCE_LAST = 1

_DETAILS = {
    Reason.NONEXISTENT_STAGE: "its stage is not in the repository",
    Reason.NONEXISTENT_COMMIT: "its commit is not in the git repository",
    Reason.UNHIT_COMMIT: "not the newest commit through which a scanned reference keeps its stage",
    Reason.GIT_POLICY_DISABLED: "the git history-based policy is disabled (cleanup.disableGitHistoryBasedPolicy)",
}


def werf2_keep_policies(policies: Sequence[KeepPolicy] | None) -> list[KeepPolicy]:
    """The keep policies werf v2 applies: the werf.yaml's (None or empty: werf's default set), each
    with ``imagesPerReference.last`` 1 where the policy does not give it.

    ``werf2_keep_policies(parse_keep_policies(raw))`` equals ``werf2_keep_policies(None)`` when
    ``raw`` is empty, since v1.1's default set is v2's before the default ``last`` applies."""
    chosen = list(policies) if policies else default_keep_policies()
    return [_with_werf2_default(policy) for policy in chosen]


def _with_werf2_default(policy: KeepPolicy) -> KeepPolicy:
    limit = policy.images_per_reference
    if limit is None:
        limit = Limit(last=DEFAULT_IMAGES_PER_REFERENCE_LAST)
    elif limit.last is None:
        limit = limit.model_copy(update={"last": DEFAULT_IMAGES_PER_REFERENCE_LAST})
    else:
        return policy
    return policy.model_copy(update={"images_per_reference": limit})


@dataclass
class MetaOutcome:
    """The meta records' decisions and the stages the git history-based policy protects."""

    decisions: pa.Table
    protected: dict[str, Protection] = field(default_factory=dict)  #: stage ID -> (git-policy, detail)


def _names(werf_images: Iterable[str], managed_names: Iterable[str]) -> pa.Array:
    names = {NAMELESS if n == NAMELESS_SHOWN else n for n in [*werf_images, *managed_names]}
    return pa.array(sorted(names), pa.string())


def _in(values: pa.ChunkedArray | pa.Array, value_set: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.is_in(values, value_set=value_set), False).to_numpy(zero_copy_only=False).astype(bool)


def _first_match(conditions: list[np.ndarray], choices: Sequence[object], default: object) -> list[object]:
    out = np.full(len(conditions[0]), default, dtype=object)
    done = np.zeros(len(conditions[0]), dtype=bool)
    for condition, choice in zip(conditions, choices):
        take = condition & ~done
        out[take] = choice[take] if isinstance(choice, np.ndarray) else choice
        done |= condition
    return list(out)


def decide_meta(
    meta: pa.Table,
    *,
    stage_ids: pa.Array,
    unreadable: Iterable[str],
    werf_images: Iterable[str],
    managed_names: Iterable[str],
    refs: pa.Table | None,
    commits: pa.Table | None,
    policies: Sequence[KeepPolicy],
    now: datetime,
    git_history: bool,
) -> MetaOutcome:
    """Decide every meta record (REPO_META_SCHEMA) and scan the history (when ``git_history``).

    ``stage_ids``: the stages of the repository (rejected ones included, as werf counts them);
    ``unreadable``: tags of stages the run could not read; ``refs``/``commits``: the git tables
    (REFS_SCHEMA/COMMITS_SCHEMA), required with ``git_history``."""
    if not git_history:
        reason = Reason.GIT_POLICY_DISABLED
        return MetaOutcome(meta_table(meta, {"action": Action.DELETE, "reason": reason, "detail": _DETAILS[reason]}))
    if refs is None or commits is None:
        raise ValueError("the git history-based policy needs the refs and commits tables; none were given")
    no_image = ~_in(meta["image_name"], _names(werf_images, managed_names))
    unread = _in(meta["stage_id"], pa.array(sorted(unreadable), pa.string()))
    no_stage = ~_in(meta["stage_id"], stage_ids)
    no_commit = ~_in(meta["commit"], commits["sha"].combine_chunks())
    scanned = ~(no_image | unread | no_stage | no_commit)

    records = meta.filter(pa.array(scanned)).select(["image_name", "commit", "stage_id"])
    records = records.rename_columns(RECORD_COLUMNS)  # the stage ID in the place of the content signature
    result = scan_history(CommitGraph(commits), records, select_references(refs, policies, now), policies, now)
    kept = result.kept_signatures()
    protected: dict[str, Protection] = {}
    for image, stage, detail, commit in zip(kept["image_name"], kept["content_signature"], kept["detail"], kept["commit"]):
        protected.setdefault(stage, (Reason.GIT_POLICY, f"{detail}, image {shown_image_name(image)} at commit {commit[:12]}"))

    hits = result.hit_records()
    hit_keys = {(i, c, s): d for i, c, s, d in zip(hits["image_name"], hits["commit"], hits["content_signature"], hits["detail"])}
    keys = zip(meta["image_name"].to_pylist(), meta["commit"].to_pylist(), meta["stage_id"].to_pylist())
    hit_detail = np.array([hit_keys.get(k) for k in keys], dtype=object)
    is_hit = scanned & np.array([d is not None for d in hit_detail], dtype=bool)

    reasons = [
        Reason.NONEXISTENT_IMAGE,
        Reason.UNREADABLE,
        Reason.NONEXISTENT_STAGE,
        Reason.NONEXISTENT_COMMIT,
        Reason.HIT_COMMIT,
    ]
    conditions = [no_image, unread, no_stage, no_commit, is_hit]
    unread_detail = "its stage could not be read in this run: the stage stays, and so does the record"
    details = [_image_details(meta), unread_detail, _DETAILS[Reason.NONEXISTENT_STAGE]]
    columns = {
        "action": _first_match(
            conditions, [Action.DELETE, Action.KEEP, Action.DELETE, Action.DELETE, Action.KEEP], Action.DELETE
        ),
        "reason": _first_match(conditions, reasons, Reason.UNHIT_COMMIT),
        "detail": _first_match(
            conditions, [*details, _DETAILS[Reason.NONEXISTENT_COMMIT], hit_detail], _DETAILS[Reason.UNHIT_COMMIT]
        ),
    }
    return MetaOutcome(meta_table(meta, columns), protected)


def _image_details(meta: pa.Table) -> np.ndarray:
    """Per record, the words of ``nonexistent-image``, naming the image (or its id in the tag)."""
    names = meta["image_name"].to_pylist()
    ids = meta["image_id"].to_pylist()
    words = [f"image {shown_image_name(n)}" if n is not None else f"the image of id {i}" for n, i in zip(names, ids)]
    return np.array([f"{w} is neither in werf.yaml nor a managed image" for w in words], dtype=object)
