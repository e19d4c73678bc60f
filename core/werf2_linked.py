"""Records that follow their stage in a werf 1.2 / 2.x cleanup (SPEC §13.3 steps 6–7): custom
tags with their metadata, import metadata and rejected markers.

* A custom tag (and its ``custom-tag-meta-…`` record) stays while its stage stays; it is deleted
  with its stage (``stage-deleted``; ``rejected`` for a rejected stage) or when its stage is not in
  the repository (``nonexistent-stage``), as werf's ``deleteUnusedCustomTags`` does. A custom tag a
  workload uses is never deleted: werf keeps every custom tag of a missing stage when one of them
  is used (``ForgetCustomTagsByStageID``), and so does stagesweep. A custom tag in the keep list,
  or of a stage the run could not read, stays too.
* An import metadata record stays while its source stage stays (werf's
  ``deleteUnusedImportsMetadata``), else it goes (``unused-import-metadata``).
* A rejected marker follows its stage, and goes last (the plan's phases put it after the stage
  and its custom tags, and ``core.werf2_revise`` keeps it when the stage's delete did not happen,
  so the marker is there for the next run); a marker whose stage is gone is deleted
  (``rejected``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from core.werf2_relatives import resolve_sources
from core.werf2_rows import Protection, decision_table, owner_detail
from schemas.repo_tables import RepoInventory
from schemas.vocab import Action, ItemType, Reason, StorageKind

_REJECTED_MARKER = re.compile(r"([0-9a-f]{56})-([0-9]+)-rejected")

Decision = tuple[Action, Reason, str]


def marker_stage_id(tag: str) -> str | None:
    """The stage ID a rejected marker ``<digest>-<creationTs>-rejected`` names (creationTs 0: the
    multi-platform stage ``<digest>``), or None."""
    match = _REJECTED_MARKER.fullmatch(tag)
    if match is None:
        return None
    return match[1] if match[2] == "0" else f"{match[1]}-{match[2]}"


def follow_stage(
    stage_id: str, *, staying: Mapping[str, Protection], deleted: Mapping[str, Reason], what: str, repository: str
) -> Decision:
    """The decision of a record that follows stage ``stage_id``."""
    if stage_id in staying:
        reason, why = staying[stage_id]
        return Action.KEEP, reason, f"its stage {stage_id} stays ({why})"
    if stage_id in deleted:
        reason = Reason.REJECTED if deleted[stage_id] is Reason.REJECTED else Reason.STAGE_DELETED
        return Action.DELETE, reason, f"{what} of stage {stage_id}, which this cleanup deletes"
    return Action.DELETE, Reason.NONEXISTENT_STAGE, f"{what} of stage {stage_id}, which is not in {repository}"


def _custom_tag_decision(
    custom_tag: str,
    stage_id: str,
    owner: str | None,
    *,
    project: str,
    kube_users: Mapping[str, str],
    kube_siblings: Mapping[str, str],
    keep_list: Collection[str],
    staying: Mapping[str, Protection],
    deleted: Mapping[str, Reason],
    repository: str,
) -> Decision:
    foreign = owner_detail(owner, project)
    if foreign is not None:
        return Action.KEEP, Reason.OTHER_PROJECT, foreign
    if custom_tag in kube_users:
        return Action.KEEP, Reason.USED_IN_KUBERNETES, kube_users[custom_tag]
    if stage_id in kube_siblings:
        return Action.KEEP, Reason.USED_IN_KUBERNETES, kube_siblings[stage_id]
    if custom_tag in keep_list:
        return Action.KEEP, Reason.KEEP_LIST, "listed in the keep list"
    return follow_stage(stage_id, staying=staying, deleted=deleted, what="a custom tag", repository=repository)


def decide_custom_tags(
    repo: RepoInventory,
    *,
    project: str,
    staying: Mapping[str, Protection],
    deleted: Mapping[str, Reason],
    kube_users: Mapping[str, str],
    keep_list: Collection[str],
) -> pa.Table:
    """A row per custom tag that exists and per custom tag metadata record, the two decided alike.

    ``staying``: stage ID -> protection of every stage that stays (unreadable ones included);
    ``deleted``: stage ID -> reason of every stage this cleanup deletes; ``kube_users``: custom
    tag -> the workload that uses it."""
    custom = repo.custom_tags
    stage_ids = custom["stage_id"].to_pylist()
    names = custom["custom_tag"].to_pylist()
    # a used custom tag of a stage that is not there keeps every custom tag of that stage ID
    kube_siblings = {
        s: f"custom tag {t} of the same stage ID is used by {kube_users[t]}"
        for t, s in zip(names, stage_ids)
        if t in kube_users and s not in staying and s not in deleted
    }
    decisions = [
        _custom_tag_decision(
            t,
            s,
            o,
            project=project,
            kube_users=kube_users,
            kube_siblings=kube_siblings,
            keep_list=keep_list,
            staying=staying,
            deleted=deleted,
            repository=repo.repository,
        )
        for t, s, o in zip(names, stage_ids, custom["project"].to_pylist())
    ]
    columns: dict[str, list[object]] = {
        "action": [d[0] for d in decisions],
        "reason": [d[1] for d in decisions],
        "detail": [d[2] for d in decisions],
    }
    return custom_tag_tables(repo, columns)


def custom_tag_tables(repo: RepoInventory, decided: Mapping[str, list[object]]) -> pa.Table:
    """Decision rows of the custom tags that exist and of every custom tag metadata record, both
    decided by ``decided`` (action, reason, detail: one value per metadata record). A custom tag
    whose name is another record's tag (a foreign ``latest``, …) is not decided as a custom tag."""
    custom = repo.custom_tags
    other_kinds = set(repo.tags.filter(pc.not_equal(repo.tags["kind"], "custom-tag"))["tag"].to_pylist())
    names, digests = custom["custom_tag"].to_pylist(), custom["custom_tag_digest"].to_pylist()
    present = [d is not None and t not in other_kinds for t, d in zip(names, digests)]
    tags = custom.filter(pa.array(present, pa.bool_()))
    tag_decided = {k: [v for v, p in zip(values, present) if p] for k, values in decided.items()}
    return pa.concat_tables(
        [
            _rows(tags, "custom_tag", "custom_tag_digest", ItemType.CUSTOM_TAG, tag_decided),
            _rows(custom, "meta_tag", "meta_digest", ItemType.CUSTOM_TAG_METADATA, decided),
        ]
    )


def _rows(custom: pa.Table, tag: str, digest: str, item_type: ItemType, decided: Mapping[str, list[object]]) -> pa.Table:
    return decision_table(
        {
            "storage": StorageKind.REPO,
            "repository": custom["repository"],
            "tag": custom[tag],
            "digest": custom[digest],
            "item_type": item_type,
            "signature": custom["stage_id"],
            **decided,
        },
        custom.num_rows,
    )


def decide_import_metadata(
    repo: RepoInventory, *, project: str, staying: Mapping[str, Protection], deleted: Mapping[str, Reason]
) -> pa.Table:
    """A row per import metadata record: kept while its source stage stays."""
    records = repo.import_metadata
    sources = resolve_sources(records, repo.stages).tolist()
    rows = zip(sources, records["source_image_id"].to_pylist(), records["project"].to_pylist())
    decisions: list[Decision] = []
    for source, image_id, owner in rows:
        foreign = owner_detail(owner, project)
        if foreign is not None:
            decisions.append((Action.KEEP, Reason.OTHER_PROJECT, foreign))
        elif source is not None and source in staying:
            reason, why = staying[source]
            decisions.append((Action.KEEP, reason, f"its source stage {source} stays ({why})"))
        elif source is None and image_id and repo.unreadable:
            why = f"no readable stage has its source image ID {image_id}; it may be one the run could not read"
            decisions.append((Action.KEEP, Reason.UNREADABLE, why))
        elif source is None:
            why = f"no stage has its source image ID {image_id}" if image_id else "it names no source stage"
            decisions.append((Action.DELETE, Reason.UNUSED_IMPORT_METADATA, why))
        else:
            where = "this cleanup deletes it" if source in deleted else f"it is not in {repo.repository}"
            decisions.append((Action.DELETE, Reason.UNUSED_IMPORT_METADATA, f"its source stage {source} does not stay: {where}"))
    return decision_table(
        {
            "storage": StorageKind.REPO,
            "repository": records["repository"],
            "tag": records["tag"],
            "digest": records["digest"],
            "item_type": ItemType.IMPORT_METADATA,
            "signature": sources,
            "action": [d[0] for d in decisions],
            "reason": [d[1] for d in decisions],
            "detail": [d[2] for d in decisions],
        },
        records.num_rows,
    )


def marker_rows(repo: RepoInventory) -> list[tuple[str, str | None, str]]:
    """Every rejected marker of ``repo`` once: (tag, digest, stage ID), from the stages table and
    from the listing (a marker whose stage is gone is only in the listing)."""
    stages = repo.stages
    out: dict[str, tuple[str, str | None, str]] = {}
    rows = zip(stages["tag"].to_pylist(), stages["rejected_tag"].to_pylist(), stages["rejected_digest"].to_pylist())
    for stage_id, tag, digest in rows:
        if tag:
            out[tag] = (tag, digest, stage_id)
    listed = repo.tags.filter(pc.equal(repo.tags["kind"], "rejected-marker"))
    for tag, digest in zip(listed["tag"].to_pylist(), listed["digest"].to_pylist()):
        stage_id = marker_stage_id(tag)
        if stage_id is not None and tag not in out:
            out[tag] = (tag, digest, stage_id)
    return sorted(out.values())


def decide_markers(
    repo: RepoInventory,
    markers: list[tuple[str, str | None, str]],
    staying: Mapping[str, Protection],
    deleted: Mapping[str, Reason],
) -> pa.Table:
    """A row per rejected marker: it stays with a stage that stays, else it goes (``rejected``)."""
    decisions: list[Decision] = []
    for _, _, stage_id in markers:
        if stage_id in staying:
            reason, why = staying[stage_id]
            decisions.append((Action.KEEP, reason, f"its stage {stage_id} stays ({why}); so does the mark that it is broken"))
        elif stage_id in deleted:
            decisions.append((Action.DELETE, Reason.REJECTED, f"marks stage {stage_id} as broken; deleted after the stage"))
        else:
            decisions.append((Action.DELETE, Reason.REJECTED, f"marks stage {stage_id} as broken, which is gone"))
    return decision_table(
        {
            "storage": StorageKind.REPO,
            "repository": repo.repository,
            "tag": [m[0] for m in markers],
            "digest": [m[1] for m in markers],
            "item_type": ItemType.REJECTED_MARKER,
            "signature": [m[2] for m in markers],
            "action": [d[0] for d in decisions],
            "reason": [d[1] for d in decisions],
            "detail": [d[2] for d in decisions],
        },
        len(markers),
    )
