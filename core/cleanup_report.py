"""werf's JSON cleanup report (``--save-cleanup-report``) from a run's audit rows.

The shape is werf 2.x's ``pkg/cleanup_report`` ``Report``: ``command``, ``dryRun``, ``repo``,
``finalRepo``, ``kept`` and ``deleted`` lists of items ``{type, tag, reason, imageName, stageID,
commit, id}`` with empty fields left out. stagesweep's werf v1.1 items map onto werf's types:

* images-repo tag → ``finalStage`` (``finalRepo`` is the images repo), with ``imageName``;
* stage → ``stage``, or ``rejectedStage`` when it goes because it was rejected;
* rejected marker → ``rejectedStageMarker``; metadata record → ``imageMetadata``
  (``imageName``, ``commit``); managed-image record → ``managedImage`` (``imageName``).

A werf 1.2 / 2.x repository's rows (``--repo``) take werf v2's types as they are, with ``stageID``:
``stage``, ``rejectedStage``, ``finalStage`` (``--final-repo``), ``customTag`` (its metadata record
is part of it), ``rejectedStageMarker``, ``imageMetadata``, ``managedImage``, ``importMetadata``
(``id``: the import source id).

``deleted`` holds only what was deleted (``would-delete`` in a dry run): failed, blocked and
already-gone rows are left out — but for a custom tag that went with its stage's manifest. ``kept`` holds the stages and images-repo tags whose outcome is
``kept`` (also a planned delete found unsafe when it was about to run), with werf's reason phrase. Rows werf has no type for (containers removed by ``--force``) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas.tables import Row
from schemas.vocab import Action, ItemType, Outcome, Reason, StorageKind

#: stagesweep keep reason → werf's protection reason phrase
KEEP_REASONS: dict[str, str] = {
    Reason.USED_IN_KUBERNETES.value: "used in Kubernetes",
    Reason.GIT_POLICY.value: "git policy",
    Reason.BUILT_WITHIN_LAST_N_HOURS.value: "built within last N hours",
    Reason.PARENT_OF_KEPT_IMAGE.value: "ancestor",
    Reason.IMPORT_SOURCE.value: "import source",
    Reason.USED_BY_CONTAINER.value: "used by container",
    Reason.HIT_COMMIT.value: "git policy",
    Reason.TAG_MOVED.value: "tag moved",
    Reason.ANCESTOR.value: "ancestor",
    Reason.DEPENDENCY_SOURCE.value: "dependency source",
    Reason.KEEP_LIST.value: "keep list",
}

#: the werf item types this module produces
ITEM_TYPES = (
    "stage",
    "finalStage",
    "customTag",
    "rejectedStage",
    "rejectedStageMarker",
    "imageMetadata",
    "managedImage",
    "importMetadata",
)
#: item types whose kept rows the report lists
KEPT_TYPES = ("stage", "finalStage", "customTag")


def _item(row: Row) -> dict[str, Any] | None:
    if row.get("storage") in (StorageKind.REPO.value, StorageKind.FINAL_REPO.value):
        return _repo_item(row)
    kind = row["item_type"]
    name = row.get("image_name")
    if kind == ItemType.IMAGE_TAG.value:
        return {"type": "finalStage", "tag": row["tag"], "imageName": name}
    if kind == ItemType.STAGE.value:
        rejected = row["action"] == Action.DELETE.value and row["reason"] == Reason.REJECTED.value
        return {"type": "rejectedStage" if rejected else "stage", "tag": row["tag"]}
    if kind == ItemType.REJECTED_MARKER.value:
        return {"type": "rejectedStageMarker", "tag": row["tag"]}
    if kind == ItemType.IMAGE_METADATA.value:
        return {"type": "imageMetadata", "imageName": name, "commit": row.get("commit")}
    if kind == ItemType.MANAGED_IMAGE.value:
        return {"type": "managedImage", "imageName": name}
    return None


def _repo_item(row: Row) -> dict[str, Any] | None:
    """A werf 1.2 / 2.x repository's row as werf v2 reports it (``signature`` holds the stage ID);
    a custom tag's metadata record is part of its ``customTag`` item."""
    kind, stage = row["item_type"], row.get("signature")
    if kind == ItemType.STAGE.value:
        rejected = row["action"] == Action.DELETE.value and row["reason"] == Reason.REJECTED.value
        return {"type": "rejectedStage" if rejected else "stage", "tag": row["tag"], "stageID": stage or row["tag"]}
    if kind == ItemType.FINAL_STAGE.value:
        return {"type": "finalStage", "tag": row["tag"], "stageID": stage or row["tag"]}
    if kind == ItemType.CUSTOM_TAG.value:
        return {"type": "customTag", "tag": row["tag"], "stageID": stage}
    if kind == ItemType.REJECTED_MARKER.value:
        return {"type": "rejectedStageMarker", "tag": row["tag"], "stageID": stage}
    if kind == ItemType.IMAGE_METADATA.value:
        name = row.get("image_name")
        return {"type": "imageMetadata", "tag": row["tag"], "imageName": name, "commit": row.get("commit"), "stageID": stage}
    if kind == ItemType.MANAGED_IMAGE.value:
        return {"type": "managedImage", "tag": row["tag"], "imageName": row.get("image_name")}
    if kind == ItemType.IMPORT_METADATA.value:
        return {"type": "importMetadata", "tag": row["tag"], "id": row["tag"].removeprefix("import-metadata-"), "stageID": stage}
    return None


def _went_with_its_stage(row: Row) -> bool:
    """A custom tag this run deleted through its stage's manifest (the registry deletes a manifest
    with all its tags): its own delete then finds it `already-gone`."""
    return (
        row.get("storage") == StorageKind.REPO.value
        and row["item_type"] == ItemType.CUSTOM_TAG.value
        and row["outcome"] == Outcome.ALREADY_GONE.value
        and row["reason"] in (Reason.STAGE_DELETED.value, Reason.REJECTED.value)
    )


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v not in (None, "")}


def cleanup_report(rows: Iterable[Row], *, command: str, dry_run: bool, repo: str, final_repo: str | None) -> dict[str, Any]:
    """The report document of one run (``rows`` are its audit rows with their outcomes)."""
    gone = Outcome.WOULD_DELETE.value if dry_run else Outcome.DELETED.value
    kept: list[dict[str, Any]] = []
    deleted: list[dict[str, Any]] = []
    for row in rows:
        item = _item(row)
        if item is None:
            continue
        if row["action"] == Action.DELETE.value and (row["outcome"] == gone or _went_with_its_stage(row)):
            deleted.append(_clean(item))
        elif row["outcome"] == Outcome.KEPT.value and item["type"] in KEPT_TYPES:
            reason = KEEP_REASONS.get(row["reason"], row["reason"].replace("-", " "))
            kept.append(_clean({**item, "reason": reason}))
    document: dict[str, Any] = {"command": command, "dryRun": dry_run, "repo": repo}
    if final_repo:
        document["finalRepo"] = final_repo
    document["kept"] = kept
    document["deleted"] = deleted
    return document
