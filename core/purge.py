"""Manual cleaning decisions (SPEC §7): everything of the project goes, foreign tags stay."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.stages import other_project
from schemas.tables import DECISIONS_SCHEMA, METADATA_SCHEMA, STAGES_SCHEMA, Row
from schemas.vocab import Action, ItemType, Reason, StorageKind


def _shown(name: str | None) -> str | None:
    return None if name is None else (name or "~")


def purge_images(tags: pa.Table) -> pa.Table:
    """Delete every werf tag (the table holds only `werf-image=true` tags)."""
    rows = [
        {
            "storage": StorageKind.IMAGES_REPO.value,
            "repository": r["repository"],
            "tag": r["tag"],
            "digest": r["digest"],
            "item_type": ItemType.IMAGE_TAG.value,
            "image_name": _shown(r["image_name"]),
            "signature": r.get("content_signature"),
            "commit": None,
            "action": Action.DELETE.value,
            "reason": Reason.PURGE.value,
            "detail": None,
            "size_bytes": r.get("size_bytes"),
        }
        for r in sorted(tags.to_pylist(), key=lambda r: (r["repository"], r["tag"]))
    ]
    return pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA)


def purge_stages(
    stages: pa.Table,
    metadata: pa.Table,
    managed: pa.Table,
    containers_using: dict[str, list[str]] | None = None,
    docker_address: str = "docker",
    project: str | None = None,
) -> pa.Table:
    """Delete every stage and rejected marker, then metadata, then managed-image records.

    `containers_using` (stage tag -> container names, :local with --force): those containers
    are removed before the stages they use. A stage labelled for another project than `project`
    is kept with its marker (`other-project`)."""
    rows: list[Row] = []
    users: dict[str, str] = {}
    for tag, names in sorted((containers_using or {}).items()):
        for name in names:
            users.setdefault(name, tag)
    for name, tag in sorted(users.items()):
        rows.append(
            {
                "storage": StorageKind.STAGES_STORAGE.value,
                "repository": docker_address,
                "tag": name,
                "digest": None,
                "item_type": ItemType.CONTAINER.value,
                "image_name": None,
                "signature": None,
                "commit": None,
                "action": Action.DELETE.value,
                "reason": Reason.PURGE.value,
                "detail": f"uses stage {tag}",
            }
        )
    markers: list[Row] = []

    def row(item_type: ItemType, r: Row, **kw: Any) -> Row:
        return {
            "storage": StorageKind.STAGES_STORAGE.value,
            "repository": r["repository"],
            "tag": r["tag"],
            "digest": r.get("digest"),
            "item_type": item_type.value,
            "image_name": None,
            "signature": None,
            "commit": None,
            "action": Action.DELETE.value,
            "reason": Reason.PURGE.value,
            "detail": None,
            "size_bytes": r.get("size_bytes"),
            **kw,
        }

    for r in sorted(stages.to_pylist(), key=lambda r: (r["unique_id"], r["tag"])):
        foreign = other_project(r, project)
        kept = {"action": Action.KEEP.value, "reason": Reason.OTHER_PROJECT.value, "detail": foreign} if foreign else {}
        rows.append(row(ItemType.STAGE, r, signature=r["signature"], **kept))
        if r.get("rejected") and r.get("rejected_tag"):
            markers.append(
                row(
                    ItemType.REJECTED_MARKER,
                    {**r, "tag": r["rejected_tag"], "digest": r.get("rejected_digest")},
                    signature=r["signature"],
                    size_bytes=None,
                    **kept,
                )
            )
    rows += markers
    for r in sorted(metadata.to_pylist(), key=lambda r: (r["image_name"], r["commit"])):
        rows.append(
            row(
                ItemType.IMAGE_METADATA,
                r,
                image_name=_shown(r["image_name"]),
                signature=r.get("content_signature"),
                commit=r["commit"],
            )
        )
    for r in sorted(managed.to_pylist(), key=lambda r: r["image_name"]):
        rows.append(row(ItemType.MANAGED_IMAGE, r, image_name=_shown(r["image_name"])))
    return pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA)


def decide_managed_images_rm(managed: pa.Table, names: list[str], storage: str | None = None) -> pa.Table:
    """Delete rows (reason `purge`) for the managed-image records of `names`; `storage`: the
    audit's storage of the records (default: the stages storage; `repo` for werf 1.2 / 2.x)."""
    chosen = managed.filter(pc.is_in(managed["image_name"], pa.array(names, pa.string())))
    rows = purge_stages(STAGES_SCHEMA.empty_table(), METADATA_SCHEMA.empty_table(), chosen)
    if storage is None:
        return rows
    i = rows.schema.get_field_index("storage")
    return rows.set_column(i, rows.schema.field(i), pa.array([storage] * rows.num_rows, pa.string()))


def decide_purge(
    tags: pa.Table | None,
    stages: pa.Table | None,
    metadata: pa.Table,
    managed: pa.Table,
    containers_to_remove: dict[str, list[str]] | None = None,
    project: str | None = None,
) -> list[pa.Table]:
    """Every decision of a purge: the images repo's werf tags (when `tags` is given), then
    (when `stages` is given) the stages storage's stages, markers and records."""
    decisions = []
    if tags is not None:
        decisions.append(purge_images(tags))
    if stages is not None:
        decisions.append(purge_stages(stages, metadata, managed, containers_to_remove, project=project))
    return decisions
