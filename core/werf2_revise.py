"""What a werf 1.2 / 2.x cleanup re-decides between its deletion phases: a record follows its
stage (SPEC §13.3 steps 6–8), so when a stage's delete did not happen — it failed, or it was found
unsafe at the last moment (`tag-moved`, `shared-digest`) — the records of that stage not deleted
yet stay in this run: its custom tags and their metadata, its rejected marker, the import metadata
it is the source of, and its final copy. A custom tag whose delete did not happen keeps the
custom-tag metadata records of its stage. The next run decides them again."""

from __future__ import annotations

from typing import Any

from core.plan import kept_instead, not_deleted
from schemas.vocab import Action, ItemType, Outcome, Reason, StorageKind

#: the rows that follow the stage their `signature` names
FOLLOW_STAGE = frozenset(
    {
        ItemType.CUSTOM_TAG.value,
        ItemType.CUSTOM_TAG_METADATA.value,
        ItemType.REJECTED_MARKER.value,
        ItemType.IMPORT_METADATA.value,
        ItemType.FINAL_STAGE.value,
    }
)


def revise_after_phase(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` (audit rows: decision + outcome) with every delete not run yet (`blocked`) that
    follows a stage or custom tag whose delete did not happen turned into a keep saying why."""
    stages: dict[str, str] = {}
    custom_tags: dict[str, str] = {}
    for row in rows:
        if row["storage"] != StorageKind.REPO.value:
            continue
        why = not_deleted(row)
        if why is None:
            continue
        if row["item_type"] == ItemType.STAGE.value:
            stages.setdefault(str(row["tag"]), f"its stage {row['tag']} stays in this run ({why})")
        elif row["item_type"] == ItemType.CUSTOM_TAG.value:
            custom_tags.setdefault(str(row["signature"]), f"custom tag {row['tag']} of its stage stays in this run ({why})")
    if not stages and not custom_tags:
        return rows
    out = []
    for row in rows:
        if row["action"] == Action.DELETE.value and row["outcome"] == Outcome.BLOCKED.value:
            stage_id = str(row["signature"])
            if row["item_type"] in FOLLOW_STAGE and stage_id in stages:
                row = kept_instead(row, Reason.STAGE_STAYS, stages[stage_id])
            elif row["item_type"] == ItemType.CUSTOM_TAG_METADATA.value and stage_id in custom_tags:
                row = kept_instead(row, Reason.CUSTOM_TAG_STAYS, custom_tags[stage_id])
        out.append(row)
    return out
