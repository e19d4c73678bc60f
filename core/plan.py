"""The ordered deletion plan, its invariant checks, batching and the audit rows (SPEC §10, §12)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from schemas.errors import PlanInvariantError, SafetyBrake
from schemas.tables import AUDIT_SCHEMA, DECISIONS_SCHEMA, TS, Row
from schemas.vocab import Action, ItemType, Outcome, Reason, StorageKind

#: Execution phases: images-repo tags, then their metadata, then stages, markers, records.
PHASES: tuple[tuple[str, str], ...] = (
    (StorageKind.IMAGES_REPO.value, ItemType.IMAGE_TAG.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.IMAGE_METADATA.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.CONTAINER.value),  # stages purge --force on :local
    (StorageKind.STAGES_STORAGE.value, ItemType.STAGE.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.REJECTED_MARKER.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.MANAGED_IMAGE.value),
    # werf 1.2 / 2.x (SPEC §13.3): meta records, stages (and rejected ones), their custom tags and
    # the custom tags' metadata, rejected markers last of a stage's items, then import metadata,
    # managed-image records, and the final repo
    (StorageKind.REPO.value, ItemType.IMAGE_METADATA.value),
    (StorageKind.REPO.value, ItemType.STAGE.value),
    (StorageKind.REPO.value, ItemType.CUSTOM_TAG.value),
    (StorageKind.REPO.value, ItemType.CUSTOM_TAG_METADATA.value),
    (StorageKind.REPO.value, ItemType.REJECTED_MARKER.value),
    (StorageKind.REPO.value, ItemType.IMPORT_METADATA.value),
    (StorageKind.REPO.value, ItemType.MANAGED_IMAGE.value),
    (StorageKind.FINAL_REPO.value, ItemType.FINAL_STAGE.value),
    (StorageKind.HOST.value, ItemType.CONTAINER.value),
    (StorageKind.HOST.value, ItemType.LOCAL_IMAGE.value),
    (StorageKind.HOST.value, ItemType.CACHE_ENTRY.value),
)
_PHASE_INDEX = {key: i for i, key in enumerate(PHASES)}


def build_plan(decisions: Iterable[pa.Table]) -> pa.Table:
    """One table: every decision, deletes in execution order first, keeps after them."""
    tables = [_decisions_table(d) for d in decisions]
    table = pa.concat_tables(tables) if tables else DECISIONS_SCHEMA.empty_table()
    rows = table.to_pylist()
    deletes = [r for r in rows if r["action"] == Action.DELETE]
    keeps = [r for r in rows if r["action"] != Action.DELETE]
    for r in deletes:
        if (r["storage"], r["item_type"]) not in _PHASE_INDEX:
            raise PlanInvariantError(f"no deletion phase for {r['storage']} {r['item_type']}")
    # stable sort: decisions keep their relative order inside a phase
    deletes.sort(key=lambda r: _PHASE_INDEX[(r["storage"], r["item_type"])])
    plan = pa.Table.from_pylist(deletes + keeps, schema=DECISIONS_SCHEMA)
    check_plan(plan)
    return plan


def _decisions_table(decisions: pa.Table) -> pa.Table:
    """``decisions`` as DECISIONS_SCHEMA; nullable columns it lacks (e.g. ``size_bytes``) are null."""
    for f in DECISIONS_SCHEMA:
        if f.name not in decisions.column_names and f.nullable:
            decisions = decisions.append_column(f.name, pa.nulls(decisions.num_rows, f.type))
    return decisions.select(DECISIONS_SCHEMA.names).cast(DECISIONS_SCHEMA)


def check_plan(plan: pa.Table) -> None:
    """Refuse a plan that breaks SPEC §12: no item both kept and deleted, Kubernetes-used
    tags never deleted, images-repo tags before any stage."""
    rows = plan.to_pylist()
    kept = {(r["storage"], r["repository"], r["tag"]) for r in rows if r["action"] == Action.KEEP}
    seen_stage = False
    for r in rows:
        if r["action"] != Action.DELETE:
            continue
        key = (r["storage"], r["repository"], r["tag"])
        if key in kept:
            raise PlanInvariantError(f"{r['repository']}:{r['tag']} is both kept and deleted")
        if r["reason"] == Reason.USED_IN_KUBERNETES:
            raise PlanInvariantError(f"{r['repository']}:{r['tag']} is used in Kubernetes")
        if r["item_type"] in (ItemType.STAGE, ItemType.REJECTED_MARKER):
            seen_stage = True
        elif r["storage"] == StorageKind.IMAGES_REPO and seen_stage:
            raise PlanInvariantError("an images-repo tag is planned after a stage")


def deletes(plan: pa.Table) -> pa.Table:
    return plan.filter(pc.equal(plan["action"], Action.DELETE.value))


def count_deletes(plan: pa.Table) -> int:
    return deletes(plan).num_rows


def check_max_deletions(plan: pa.Table, max_deletions: int | None) -> None:
    n = count_deletes(plan)
    if max_deletions is not None and n > max_deletions:
        raise SafetyBrake(
            f"the plan deletes {n} items, more than --max-deletions {max_deletions}; nothing was deleted",
            hint="Review the dry-run audit, then raise --max-deletions if the plan is right.",
        )


def batches(plan: pa.Table, size: int) -> list[list[Row]]:
    """Delete rows cut into batches of about `size`, phase by phase and repository by
    repository. Rows sharing a digest stay in one batch, so a shared-digest check sees them
    together."""
    out: list[list[Row]] = []
    rows = deletes(plan).to_pylist()
    groups: dict[tuple[Any, ...], dict[str, list[Row]]] = {}
    for r in rows:
        key = (_PHASE_INDEX[(r["storage"], r["item_type"])], r["storage"], r["repository"])
        groups.setdefault(key, {}).setdefault(r["digest"] or f"tag:{r['tag']}", []).append(r)
    for key in sorted(groups, key=lambda k: k[0]):
        current: list[Row] = []
        for same_digest in groups[key].values():
            if current and len(current) + len(same_digest) > size:
                out.append(current)
                current = []
            current.extend(same_digest)
        if current:
            out.append(current)
    return out


def audit_table(
    rows: Sequence[Row],
    *,
    run_id: str,
    command: str,
    dry_run: bool,
    project: str,
    started_at: datetime,
    decided_at: datetime,
) -> pa.Table:
    """Audit rows from decision rows that carry `outcome` (and maybe `error`)."""
    meta = {
        "run_id": run_id,
        "command": command,
        "dry_run": dry_run,
        "project": project,
        "started_at": started_at,
        "decided_at": decided_at,
    }
    full = [
        {
            **meta,
            **{k: r.get(k) for k in DECISIONS_SCHEMA.names},
            "outcome": r["outcome"],
            "error": r.get("error"),
            "reclaimable_bytes": r.get("reclaimable_bytes"),
        }
        for r in rows
    ]
    return pa.Table.from_pylist(full, schema=AUDIT_SCHEMA)


#: audit columns that change while a run executes its plan: a delete's outcome and error, and a
#: delete found unsafe at the last moment (or revised) turning into a keep with its reason
CHANGING_COLUMNS = ("action", "reason", "detail", "outcome", "error")
#: outcomes of a delete row whose delete has not (or not knowingly) been done
NOT_DONE = frozenset({Outcome.BLOCKED.value, Outcome.STARTED.value})
#: outcomes of a delete that is done: the item is gone
DONE = frozenset({Outcome.DELETED.value, Outcome.ALREADY_GONE.value})


def refresh_audit_table(
    table: pa.Table, rows: Sequence[Row], decided_at: datetime, done: Mapping[tuple[Any, ...], str] | None = None
) -> pa.Table:
    """`table` (the `audit_table` of `rows`, same rows in the same order) with the columns a run's
    deletes change taken from `rows` again: cheaper than building the table anew, for a run that
    records its rows after every batch. `done`: see `carry_done_deletes`."""
    columns: dict[str, list[Any]] = {name: [r.get(name) for r in rows] for name in CHANGING_COLUMNS}
    if done:
        columns["outcome"] = [
            done.get(row_key(r), o) if o in NOT_DONE else o for r, o in zip(rows, columns["outcome"], strict=True)
        ]
    for name, values in columns.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(i), pa.array(values, type=pa.string()))
    i = table.schema.get_field_index("decided_at")
    return table.set_column(i, table.schema.field(i), pa.repeat(pa.scalar(decided_at, type=TS), len(rows)))


def done_deletes(audit: pa.Table) -> dict[tuple[Any, ...], str]:
    """Row key → outcome of every delete an audit records as done (`deleted`, `already-gone`)."""
    return {row_key(r): r["outcome"] for r in audit.to_pylist() if r["action"] == Action.DELETE and r["outcome"] in DONE}


def carry_done_deletes(rows: Sequence[Row], done: Mapping[tuple[Any, ...], str]) -> list[Row]:
    """`rows` where a delete not done in this attempt (`blocked`, `started`) but done by an
    earlier attempt of the same run (a flow run retried in place) takes that outcome: the
    item is gone, and the run's audit must not lose the record of it."""
    if not done:
        return list(rows)
    return [
        {**r, "outcome": done[row_key(r)], "error": None} if r["outcome"] in NOT_DONE and row_key(r) in done else r for r in rows
    ]


def initial_outcomes(plan: pa.Table, dry_run: bool) -> list[Row]:
    """Rows of the plan with the outcome they have before anything runs."""
    pending = Outcome.WOULD_DELETE if dry_run else Outcome.BLOCKED
    return [
        {**r, "outcome": (Outcome.KEPT if r["action"] == Action.KEEP else pending).value, "error": None} for r in plan.to_pylist()
    ]


def row_key(row: Row) -> tuple[Any, ...]:
    return (row["storage"], row["repository"], row["tag"], row["item_type"])


def phase_rows(rows: Sequence[Row], phase: tuple[str, str], schema: pa.Schema) -> pa.Table:
    """The delete rows of one execution phase, as a plan table of `schema`."""
    chosen = [r for r in rows if r["action"] == Action.DELETE and (r["storage"], r["item_type"]) == phase]
    return pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in chosen], schema=schema)


def leaving_tags(rows: list[Row], repositories: set[str]) -> dict[str, list[str]]:
    """Repository → every tag the plan (as it stands) deletes there, for `repositories`."""
    out: dict[str, list[str]] = {repository: [] for repository in repositories}
    for r in rows:
        if r["action"] == Action.DELETE and r["repository"] in out and r["storage"] != StorageKind.HOST.value:
            out[r["repository"]].append(r["tag"])
    return {repository: sorted(tags) for repository, tags in sorted(out.items())}


_UNSAFE_AT_DELETE = frozenset({Reason.TAG_MOVED.value, Reason.SHARED_DIGEST.value})


def not_deleted(row: Row) -> str | None:
    """Why a row planned as a delete was not deleted when it ran (None: it was, or it has not run):
    its delete failed, or it was found unsafe as it was about to run (`tag-moved`, `shared-digest`)."""
    if row["outcome"] == Outcome.FAILED.value:
        return f"its delete failed: {row.get('error') or 'unknown error'}"
    if row["outcome"] == Outcome.KEPT.value and row["reason"] in _UNSAFE_AT_DELETE:
        return f"kept when its delete was about to run: {row['reason']}"
    return None


def kept_instead(row: Row, reason: Reason, detail: str | None) -> Row:
    """A delete not run yet, turned into a keep that says why (the revisions between phases)."""
    return {**row, "action": Action.KEEP.value, "reason": reason.value, "detail": detail, "outcome": Outcome.KEPT.value}


def merge_outcome(row: Row, result: Row) -> Row:
    """A plan row with the outcome of its delete; a delete found unsafe at the last moment (the
    tag moved, or a tag that stays shares its digest) turns the row into a keep saying why."""
    merged = {**row, "outcome": result["outcome"], "error": result.get("error")}
    if result["outcome"] == Outcome.KEPT.value and result.get("keep_reason"):
        merged.update(action=Action.KEEP.value, reason=result["keep_reason"], detail=result.get("keep_detail"))
    return merged
