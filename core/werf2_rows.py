"""Shared pieces of the werf 1.2 / 2.x decisions (SPEC §13): decision rows, record kinds, the
safety pass every decision table goes through.

The record kinds are the values of ``REPO_TAGS_SCHEMA.kind`` (the adapter's
``Werf2RecordKind``), spelled here because core does not import adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.stages import other_project
from schemas.config import NAMELESS, NAMELESS_SHOWN
from schemas.repo_tables import RepoInventory
from schemas.tables import DECISIONS_SCHEMA
from schemas.vocab import Action, ItemType, Reason, StorageKind

#: kinds of tags no command deletes (SPEC §13.2, §13.5): they never appear as a delete
NEVER_DELETED_KINDS = frozenset({"client-id", "sync-server", "cleanup", "foreign"})
#: what a tag of each kind is in the audit
KIND_ITEM_TYPES = {
    "stage": ItemType.STAGE,
    "multiplatform-stage": ItemType.STAGE,
    "rejected-marker": ItemType.REJECTED_MARKER,
    "image-metadata": ItemType.IMAGE_METADATA,
    "custom-tag": ItemType.CUSTOM_TAG,
    "custom-tag-metadata": ItemType.CUSTOM_TAG_METADATA,
    "import-metadata": ItemType.IMPORT_METADATA,
    "managed-image": ItemType.MANAGED_IMAGE,
}
#: a protection: why an item stays, and the words that say so in the audit
Protection = tuple[Reason, str]


def plain(value: object) -> object:
    """An enum member as its string value; anything else as it is."""
    return value.value if isinstance(value, Enum) else value


def shown_image_name(name: str | None) -> str | None:
    """An image name as the audit shows it: ``~`` for the nameless image, None when unknown."""
    if name is None:
        return None
    return NAMELESS_SHOWN if name == NAMELESS else name


def owner_detail(owner: str | None, project: str) -> str | None:
    """Why an item labelled ``werf=<owner>`` is not this project's, or None when it is (or has no label)."""
    return other_project({"project": owner}, project)


def decision_table(columns: Mapping[str, Any], size: int) -> pa.Table:
    """A DECISIONS_SCHEMA table of ``size`` rows: each column given as one value for every row
    (a string, number or enum member), a sequence or an Arrow array; a column not given is null."""
    arrays = []
    for f in DECISIONS_SCHEMA:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(size, f.type))
        elif isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(value.cast(f.type))
        elif isinstance(value, (str, int, Enum)):
            arrays.append(pa.array([plain(value)] * size, f.type))
        else:  # the vocabularies are StrEnums: Arrow takes their members as strings
            arrays.append(pa.array(value, f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=DECISIONS_SCHEMA)


def stage_table(stages: pa.Table, decided: Mapping[str, Any], storage: StorageKind = StorageKind.REPO) -> pa.Table:
    """Decision rows of stages (REPO_STAGES_SCHEMA) in build order: the stage ID is the tag and the
    signature; ``decided`` gives action, reason and detail (one value, or one per stage)."""
    table = decision_table(
        {
            "storage": storage,
            "repository": stages["repository"],
            "tag": stages["tag"],
            "digest": stages["digest"],
            "item_type": ItemType.STAGE if storage is StorageKind.REPO else ItemType.FINAL_STAGE,
            "signature": stages["tag"],
            "size_bytes": stages["size_bytes"],
            **decided,
        },
        stages.num_rows,
    )
    return table.take(pc.sort_indices(stages, [("creation_ts", "ascending"), ("tag", "ascending")]))


def meta_table(meta: pa.Table, decided: Mapping[str, Any]) -> pa.Table:
    """Decision rows of meta records (REPO_META_SCHEMA), by image, stage and tag: the stage ID is
    the signature, the image name shown (``~`` for the nameless image)."""
    table = decision_table(
        {
            "storage": StorageKind.REPO,
            "repository": meta["repository"],
            "tag": meta["tag"],
            "digest": meta["digest"],
            "item_type": ItemType.IMAGE_METADATA,
            "image_name": [shown_image_name(n) for n in meta["image_name"].to_pylist()],
            "signature": meta["stage_id"],
            "commit": meta["commit"],
            **decided,
        },
        meta.num_rows,
    )
    return table.take(pc.sort_indices(table, [("image_name", "ascending"), ("signature", "ascending"), ("tag", "ascending")]))


def managed_table(managed: pa.Table, decided: Mapping[str, Any]) -> pa.Table:
    """Decision rows of managed-image records (MANAGED_IMAGES_SCHEMA)."""
    return decision_table(
        {
            "storage": StorageKind.REPO,
            "repository": managed["repository"],
            "tag": managed["tag"],
            "digest": managed["digest"],
            "item_type": ItemType.MANAGED_IMAGE,
            "image_name": [shown_image_name(n) for n in managed["image_name"].to_pylist()],
            **decided,
        },
        managed.num_rows,
    )


def empty_decisions() -> pa.Table:
    return DECISIONS_SCHEMA.empty_table()


def tags_of_kinds(repo: RepoInventory, kinds: frozenset[str]) -> set[str]:
    """The tags of ``repo`` whose kind is one of ``kinds``."""
    tags = repo.tags
    chosen = tags.filter(pc.is_in(tags["kind"], pa.array(sorted(kinds), pa.string())))
    return set(chosen["tag"].to_pylist())


def unreadable_rows(repo: RepoInventory, storage: str, *, final: bool = False) -> pa.Table:
    """A keep row (``unreadable``) for every tag of ``repo`` whose content the run could not read;
    what it is comes from its kind (a stage when the listing does not say)."""
    if not repo.unreadable:
        return empty_decisions()
    kinds = dict(zip(repo.tags["tag"].to_pylist(), repo.tags["kind"].to_pylist()))
    tags = sorted(repo.unreadable)
    item_types = []
    for tag in tags:
        item_type = KIND_ITEM_TYPES.get(kinds.get(tag, "stage"), ItemType.STAGE)
        item_types.append(ItemType.FINAL_STAGE if final and item_type is ItemType.STAGE else item_type)
    return decision_table(
        {
            "storage": storage,
            "repository": repo.repository,
            "tag": tags,
            "item_type": item_types,
            "action": Action.KEEP,
            "reason": Reason.UNREADABLE,
            "detail": [f"could not be read in this run: {repo.unreadable[t]}" for t in tags],
        },
        len(tags),
    )


def make_safe(decisions: pa.Table, inventories: list[RepoInventory]) -> pa.Table:
    """The last pass of every werf 1.2 / 2.x decision table: a delete of a tag whose kind no
    command deletes (client-id, sync-server, cleanup, foreign) is dropped; a delete of a tag the
    run could not read, or of a tag another row keeps, is dropped too (its keep row says why)."""
    if decisions.num_rows == 0:
        return decisions
    never = [f"{repo.repository}\n{t}" for repo in inventories for t in tags_of_kinds(repo, NEVER_DELETED_KINDS)]
    never += [f"{repo.repository}\n{t}" for repo in inventories for t in repo.unreadable]
    where = pc.binary_join_element_wise(decisions["repository"], decisions["tag"], "\n")
    item = pc.binary_join_element_wise(decisions["storage"], where, "\n")
    is_delete = pc.equal(decisions["action"], Action.DELETE.value)
    kept = item.filter(pc.invert(is_delete))
    unsafe = pc.or_(pc.is_in(where, pa.array(never, pa.string())), pc.is_in(item, kept.combine_chunks()))
    drop = pc.fill_null(pc.and_(is_delete, unsafe), False)
    return decisions.filter(pc.invert(drop))
