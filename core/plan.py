"""The ordered deletion plan, its invariant checks, batching and the audit rows (SPEC §10, §12)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from schemas.errors import PlanInvariantError, SafetyBrake
from schemas.tables import AUDIT_SCHEMA, DECISIONS_SCHEMA, Row
from schemas.vocab import Action, ItemType, Outcome, Reason, StorageKind

#: Execution phases: images-repo tags, then their metadata, then stages, markers, records.
PHASES: tuple[tuple[str, str], ...] = (
    (StorageKind.IMAGES_REPO.value, ItemType.IMAGE_TAG.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.IMAGE_METADATA.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.CONTAINER.value),  # stages purge --force on :local
    (StorageKind.STAGES_STORAGE.value, ItemType.STAGE.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.REJECTED_MARKER.value),
    (StorageKind.STAGES_STORAGE.value, ItemType.MANAGED_IMAGE.value),
    (StorageKind.HOST.value, ItemType.CONTAINER.value),
    (StorageKind.HOST.value, ItemType.LOCAL_IMAGE.value),
    (StorageKind.HOST.value, ItemType.CACHE_ENTRY.value),
)
_PHASE_INDEX = {key: i for i, key in enumerate(PHASES)}


def build_plan(decisions: Iterable[pa.Table]) -> pa.Table:
    """One table: every decision, deletes in execution order first, keeps after them."""
    table = pa.concat_tables([_decisions_table(d) for d in decisions])
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
