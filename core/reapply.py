"""Re-checking an audited plan at apply time (pure): which rows to run again, and which of
them must now be kept because the world changed since the plan was made."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from core.allow_list import match_used_tags
from schemas.tables import DECISIONS_SCHEMA, IMAGE_TAGS_SCHEMA, Row
from schemas.vocab import Action, ImagesRepoMode, ItemType, Outcome, Reason, StorageKind

TAG_MOVED = Reason.TAG_MOVED.value
#: storages whose rows a workload may run: werf v1.1's images repo; werf 1.2 / 2.x's repository
#: (stages and custom tags) and final repository
KUBE_CHECKED = frozenset({StorageKind.IMAGES_REPO.value, StorageKind.REPO.value, StorageKind.FINAL_REPO.value})


#: rows `apply --only-failed` runs again: failed, and started with no outcome (a run that died
#: mid-batch); a started row whose delete had reached the registry comes back `already-gone`
RETRIED = frozenset({Outcome.FAILED.value, Outcome.STARTED.value})
#: rows `apply` runs of a reviewed plan: not run (dry run, brake, earlier stop) or maybe not run
NOT_RUN = frozenset({Outcome.WOULD_DELETE.value, Outcome.BLOCKED.value, Outcome.STARTED.value})


def rows_to_apply(audit: pa.Table, only_failed: bool) -> list[Row]:
    """The delete rows of a run's audit to execute: its `failed` and `started` rows, or (a
    reviewed dry run, a stopped run) its `would-delete`, `blocked` and `started` rows."""
    wanted = RETRIED if only_failed else NOT_RUN
    rows = [r for r in audit.to_pylist() if r["action"] == Action.DELETE and r["outcome"] in wanted]
    return [{k: r.get(k) for k in DECISIONS_SCHEMA.names} for r in rows]


def recheck(
    rows: list[Row],
    current_digests: Mapping[tuple[str, str], str | None],
    kube_used: Mapping[tuple[str, str], str],
    needed_stage_tags: Mapping[tuple[str, str], str],
) -> pa.Table:
    """Turn rows the world no longer allows deleting into keeps, saying why.

    * `current_digests[(repository, tag)]`: the digest the tag points to now (None: gone).
    * `kube_used[(repository, tag)]`: a workload uses the tag now (detail).
    * `needed_stage_tags[(repository, tag)]`: a stage an existing image now needs (detail).
    A tag that is gone stays a delete row: deleting it again is recorded as `already-gone`.
    """
    out = []
    for r in rows:
        key = (r["repository"], r["tag"])
        keep: tuple[str, str] | None = None
        if r["storage"] in KUBE_CHECKED and key in kube_used:
            keep = (Reason.USED_IN_KUBERNETES.value, f"apply: now used by {kube_used[key]}")
        elif r["item_type"] == ItemType.STAGE and key in needed_stage_tags:
            keep = (Reason.PARENT_OF_KEPT_IMAGE.value, f"apply: now needed by {needed_stage_tags[key]}")
        else:
            now = current_digests.get(key)
            if now is not None and r["digest"] and now != r["digest"]:
                keep = (TAG_MOVED, f"apply: the tag moved from {r['digest']} to {now} since the plan")
        if keep is not None:
            r = {**r, "action": Action.KEEP.value, "reason": keep[0], "detail": keep[1]}
        out.append(r)
    return pa.Table.from_pylist(out, schema=DECISIONS_SCHEMA)


def images_repo_of_rows(rows: list[Row], mode: str) -> str | None:
    """The images repo address the audited image-tag rows came from (None: no such rows).

    Multirepo rows live in `<repo>/<image name>` (the nameless image in `<repo>`); monorepo rows
    all live in `<repo>`."""
    for r in rows:
        if r["storage"] != StorageKind.IMAGES_REPO or r["item_type"] != ItemType.IMAGE_TAG:
            continue
        name = r["image_name"] or ""
        repository = r["repository"]
        if mode == ImagesRepoMode.MULTIREPO and name not in ("", "~") and repository.endswith(f"/{name}"):
            return repository[: -len(name) - 1]
        return repository
    return None


def image_names_of_rows(rows: list[Row]) -> list[str]:
    """The werf image names the audited rows name (`~` becomes the nameless image)."""
    names = {r["image_name"] for r in rows if r["item_type"] in (ItemType.IMAGE_TAG, ItemType.IMAGE_METADATA)}
    return sorted({"" if n == "~" else n for n in names if n is not None})


def kube_used_tags(rows: list[Row], kube_images: pa.Table) -> dict[tuple[str, str], str]:
    """(repository, tag) -> workload detail for the audited rows a workload uses now (images-repo
    tags; a werf 1.2 / 2.x repository's stages and custom tags, by tag or by digest)."""
    tags = pa.Table.from_pylist(
        [
            {"image_name": r["image_name"] or "", "repository": r["repository"], "tag": r["tag"], "digest": r["digest"] or ""}
            for r in rows
            if r["storage"] in KUBE_CHECKED
        ],
        schema=IMAGE_TAGS_SCHEMA,
    )
    used = match_used_tags(tags, kube_images)
    return {(u["repository"], u["tag"]): u["detail"] for u in used.to_pylist()}
