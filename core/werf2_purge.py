"""werf 1.2 / 2.x purge decisions (SPEC §13.5): everything of the project goes.

::

    decide_repo_purge(repo, final, *, project) -> DECISIONS_SCHEMA table

Deleted (reason ``purge``), as werf v2.77's ``pkg/cleaning/purge.go`` does: every stage, import
metadata record, managed-image record, meta record, custom tag with its metadata, rejected stage
with its custom tags and marker, then the final repository's stages; the plan's phases
(``core.plan.PHASES``) order them. No Kubernetes check. Never deleted: client-id, sync-server and
``cleanup`` records and foreign tags (they are not decided at all); an item labelled for another
project (``other-project``) and a tag the run could not read (``unreadable``) stay.
"""

from __future__ import annotations

import pyarrow as pa

from core.werf2_linked import custom_tag_tables, marker_rows
from core.werf2_rows import decision_table, make_safe, managed_table, meta_table, owner_detail, stage_table, unreadable_rows
from schemas.repo_tables import RepoInventory
from schemas.vocab import Action, ItemType, Reason, StorageKind

_DETAIL = "purge deletes everything of the project"


def _decided(owners: list[str | None], project: str) -> dict[str, list[object]]:
    """Per item: delete (``purge``), or keep (``other-project``) when labelled for another project."""
    foreign = [owner_detail(owner, project) for owner in owners]
    return {
        "action": [Action.KEEP if f else Action.DELETE for f in foreign],
        "reason": [Reason.OTHER_PROJECT if f else Reason.PURGE for f in foreign],
        "detail": [f or _DETAIL for f in foreign],
    }


def _stages(inventory: RepoInventory, project: str, storage: StorageKind) -> pa.Table:
    return stage_table(inventory.stages, _decided(inventory.stages["project"].to_pylist(), project), storage)


def _markers(repo: RepoInventory, project: str) -> pa.Table:
    markers = marker_rows(repo)
    owners = dict(zip(repo.stages["tag"].to_pylist(), repo.stages["project"].to_pylist()))
    return decision_table(
        {
            "storage": StorageKind.REPO,
            "repository": repo.repository,
            "tag": [m[0] for m in markers],
            "digest": [m[1] for m in markers],
            "item_type": ItemType.REJECTED_MARKER,
            "signature": [m[2] for m in markers],
            **_decided([owners.get(m[2]) for m in markers], project),
        },
        len(markers),
    )


def _custom_tags(repo: RepoInventory, project: str) -> pa.Table:
    custom = repo.custom_tags
    owners = dict(zip(repo.stages["tag"].to_pylist(), repo.stages["project"].to_pylist()))
    # a custom tag stays with its record's project label, or its stage's
    labels = [own or owners.get(stage) for own, stage in zip(custom["project"].to_pylist(), custom["stage_id"].to_pylist())]
    return custom_tag_tables(repo, _decided(labels, project))


def _records(repo: RepoInventory, project: str) -> list[pa.Table]:
    meta, managed, imports = repo.meta, repo.managed, repo.import_metadata
    gone = {"action": Action.DELETE, "reason": Reason.PURGE, "detail": _DETAIL}
    return [
        meta_table(meta, gone),
        decision_table(
            {
                "storage": StorageKind.REPO,
                "repository": imports["repository"],
                "tag": imports["tag"],
                "digest": imports["digest"],
                "item_type": ItemType.IMPORT_METADATA,
                "signature": imports["source_stage_id"],
                **_decided(imports["project"].to_pylist(), project),
            },
            imports.num_rows,
        ),
        managed_table(managed, gone),
    ]


def decide_repo_purge(repo: RepoInventory, final: RepoInventory | None, *, project: str) -> pa.Table:
    """Every decision of a werf 1.2 / 2.x purge of ``repo`` (and ``final``, when given)."""
    parts = [
        _stages(repo, project, StorageKind.REPO),
        _custom_tags(repo, project),
        _markers(repo, project),
        *_records(repo, project),
        unreadable_rows(repo, StorageKind.REPO.value),
    ]
    inventories = [repo]
    if final is not None:
        parts += [
            _stages(final, project, StorageKind.FINAL_REPO),
            unreadable_rows(final, StorageKind.FINAL_REPO.value, final=True),
        ]
        inventories.append(final)
    return make_safe(pa.concat_tables(parts), inventories)
