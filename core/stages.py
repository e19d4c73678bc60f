"""Stages cleanup decisions (SPEC §5): keep what current images need, the grace window, and
stages used by containers; delete rejected and unused stages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from core.plan import kept_instead, not_deleted
from schemas.tables import DECISIONS_SCHEMA, Row
from schemas.vocab import Action, ItemType, Outcome, Reason, StorageKind


def _closure(start: Iterable[str], by_image_id: Mapping[str, Row], first_reason: Reason) -> dict[str, tuple[Reason, str]]:
    """Image ids reached from `start` through parent links and import labels.

    Returns image id -> (reason, detail). The start stages get `first_reason`, stages reached
    through `config.Image` inherit the reason of the stage that reached them, stages named by a
    `werf-import-*` label get `import-source`.
    """
    reached: dict[str, tuple[Reason, str]] = {}
    stack: list[tuple[str, Reason, str]] = [(i, first_reason, "") for i in start]
    while stack:
        image_id, reason, detail = stack.pop()
        if image_id in reached or image_id not in by_image_id:
            continue
        reached[image_id] = (reason, detail)
        stage = by_image_id[image_id]
        parent = stage.get("parent_id")
        if parent:
            stack.append((parent, reason, detail or f"parent chain of {stage['tag']}"))
        for imported in stage.get("import_ids") or ():
            stack.append((imported, Reason.IMPORT_SOURCE, f"imported by {stage['tag']}"))
    return reached


def decide_stages(
    stages: pa.Table,
    images: pa.Table,
    now: datetime,
    keep_built_within: timedelta,
    containers_using: Mapping[str, list[str]] | None = None,
    project: str | None = None,
) -> pa.Table:
    """Decide every stage (and rejected marker) of the stages storage.

    `stages`: STAGES_SCHEMA. `images`: IMAGE_TAGS_SCHEMA rows of the werf images that stay in
    the images repo (their `parent_id` is the image id of their last stage).
    `containers_using`: stage tag -> container names (:local only).
    `project`: this run's project; a stage labelled for another one is kept (`other-project`).
    """
    rows = stages.to_pylist()
    by_image_id = {r["image_id"]: r for r in rows if r.get("image_id")}
    containers_using = containers_using or {}

    # 1. stages current images point to, with their chains and import sources
    needed: dict[str, tuple[Reason, str]] = {}
    for image in sorted(images.to_pylist(), key=lambda r: (r["repository"], r["tag"])):
        parent = image.get("parent_id")
        if not parent or parent in needed:
            continue
        owner = f"image {image['repository']}:{image['tag']}"
        for image_id, (reason, detail) in _closure([parent], by_image_id, Reason.PARENT_OF_KEPT_IMAGE).items():
            needed.setdefault(image_id, (reason, f"{detail}; {owner}" if detail else owner))
    # 2. the grace window protects builds that may be running right now
    grace: dict[str, tuple[Reason, str]] = {}
    if keep_built_within > timedelta(0):
        cutoff = now - keep_built_within
        fresh = [r["image_id"] for r in rows if r.get("image_id") and _built_at(r) >= cutoff]
        window = f"built within the last {keep_built_within.total_seconds() / 3600:g} h"
        for image_id, (reason, detail) in _closure(fresh, by_image_id, Reason.BUILT_WITHIN_LAST_N_HOURS).items():
            grace[image_id] = (reason, f"{detail}; {window}" if detail else window)

    out: list[Row] = []
    markers: list[Row] = []
    for r in sorted(rows, key=lambda r: (r["unique_id"], r["tag"])):
        base = {
            "storage": StorageKind.STAGES_STORAGE.value,
            "repository": r["repository"],
            "tag": r["tag"],
            "digest": r.get("digest"),
            "item_type": ItemType.STAGE.value,
            "image_name": None,
            "signature": r["signature"],
            "commit": None,
        }
        image_id = r.get("image_id") or ""
        users = containers_using.get(r["tag"])
        foreign = other_project(r, project)
        if foreign is not None:
            decision: tuple[Action, Reason, str | None] = (Action.KEEP, Reason.OTHER_PROJECT, foreign)
        elif image_id in needed:
            # A stage an existing image needs is never deleted, not even a rejected one;
            # its marker stays with it so builders still see the stage as broken.
            decision = (Action.KEEP, *needed[image_id])
        elif r["rejected"]:
            decision = (Action.DELETE, Reason.REJECTED, None)
        elif users:
            decision = (Action.KEEP, Reason.USED_BY_CONTAINER, ", ".join(sorted(users)))
        elif image_id in grace:
            decision = (Action.KEEP, *grace[image_id])
        else:
            decision = (Action.DELETE, Reason.UNUSED_STAGE, None)
        action, reason, why = decision
        out.append({**base, "action": action.value, "reason": reason.value, "detail": why, "size_bytes": r.get("size_bytes")})
        if r["rejected"] and r.get("rejected_tag"):
            markers.append(
                {
                    **base,
                    "tag": r["rejected_tag"],
                    "digest": r.get("rejected_digest"),
                    "item_type": ItemType.REJECTED_MARKER.value,
                    "action": action.value,
                    "reason": reason.value,
                    "detail": why,
                }
            )
    # markers come last so that a failed stage delete is retried by the next run
    return pa.Table.from_pylist(out + markers, schema=DECISIONS_SCHEMA)


def other_project(stage: Row, project: str | None) -> str | None:
    """Why `stage` is not `project`'s (its `werf` label names another project), or None."""
    owner = stage.get("project")
    if not project or not owner or owner == project:
        return None
    return f"labelled werf={owner}, not {project}"


def _built_at(stage: Row) -> datetime:
    created = stage.get("created")
    if created is not None:
        return created
    return datetime.fromtimestamp(stage["unique_id"] / 1000, tz=timezone.utc)


def revise_after_failed_images(
    rows: list[Row],
    stages: pa.Table,
    image_tags: pa.Table,
    now: datetime,
    keep_within: timedelta,
    containers_using: Mapping[str, list[str]] | None = None,
) -> list[Row]:
    """After the image-tag phase ran: an image whose delete failed (or was found unsafe when it
    was about to run: `tag-moved`, `shared-digest`) still exists, so the stages
    it needs must stay. Stage deletes not run yet (`blocked`) that the still-existing images need
    become keeps with the reason that keeps them; every other row is returned unchanged.

    `rows` are audit rows (decision + `outcome`); `image_tags` is the images repo as extracted.
    """
    failed_images = any(
        r["item_type"] == ItemType.IMAGE_TAG
        and (r["outcome"] == Outcome.FAILED or r["reason"] in (Reason.TAG_MOVED, Reason.SHARED_DIGEST))
        for r in rows
    )
    pending_stage_deletes = any(r["item_type"] == ItemType.STAGE and r["outcome"] == Outcome.BLOCKED for r in rows)
    if not (failed_images and pending_stage_deletes):
        return rows
    gone = {
        (r["repository"], r["tag"])
        for r in rows
        if r["storage"] == StorageKind.IMAGES_REPO
        and r["item_type"] == ItemType.IMAGE_TAG
        and r["outcome"] in (Outcome.DELETED, Outcome.ALREADY_GONE)
    }
    existing = image_tags.filter(
        pa.array(
            [(r, t) not in gone for r, t in zip(image_tags["repository"].to_pylist(), image_tags["tag"].to_pylist())], pa.bool_()
        )
    )
    fresh = decide_stages(stages, existing, now, keep_within, containers_using)
    now_kept = {(d["repository"], d["tag"]): d for d in fresh.to_pylist() if d["action"] == Action.KEEP}
    out = []
    for r in rows:
        kept = now_kept.get((r["repository"], r["tag"]))
        if kept is not None and r["action"] == Action.DELETE and r["outcome"] == Outcome.BLOCKED:
            r = kept_instead(r, Reason(kept["reason"]), kept["detail"])
        out.append(r)
    return out


def keep_markers_of_stages_not_deleted(rows: list[Row]) -> list[Row]:
    """After the stage phase: a rejected marker (``<stage tag>-rejected``) whose stage's delete did
    not happen (failed, `tag-moved`, `shared-digest`) and has not run yet stays in this run, so
    builders still see the stage as broken (`stage-stays`); the next run decides both again."""
    stays = {}
    for r in rows:
        if r["storage"] == StorageKind.STAGES_STORAGE and r["item_type"] == ItemType.STAGE:
            why = not_deleted(r)
            if why is not None:
                stays[(r["repository"], f"{r['tag']}-rejected")] = f"its stage {r['tag']} stays in this run ({why})"
    if not stays:
        return rows
    out = []
    for r in rows:
        why = stays.get((r["repository"], r["tag"]))
        if (
            why is not None
            and r["item_type"] == ItemType.REJECTED_MARKER
            and r["action"] == Action.DELETE
            and r["outcome"] == Outcome.BLOCKED
        ):
            r = kept_instead(r, Reason.STAGE_STAYS, why)
        out.append(r)
    return out


def stages_needed_by_images(stages: pa.Table, image_tags: pa.Table, now: datetime) -> dict[tuple[str, str], str]:
    """(repository, tag) of every stage an existing image needs (its parent chain and import
    sources), with the detail that says which image; the grace window does not count here."""
    decisions = decide_stages(stages, image_tags, now, timedelta(0))
    return {
        (d["repository"], d["tag"]): d["detail"]
        for d in decisions.to_pylist()
        if d["action"] == Action.KEEP and d["reason"] in (Reason.PARENT_OF_KEPT_IMAGE, Reason.IMPORT_SOURCE)
    }
