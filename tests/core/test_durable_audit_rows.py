"""The rows of the durable audit: a checkpoint's table equals the audit table built anew, deletes
an earlier attempt of the run did stay on record, and `started` rows are retried by apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core import plan as plans
from core.reapply import rows_to_apply
from schemas.tables import AUDIT_SCHEMA, DECISIONS_SCHEMA

NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)
META = {"run_id": "run-1", "command": "cleanup", "dry_run": False, "project": "acme", "started_at": NOW}


def row(tag: str, outcome: str, action: str = "delete", reason: str = "no-metadata", item_type: str = "image-tag") -> dict:
    return {
        "storage": "images-repo",
        "repository": "r/app",
        "tag": tag,
        "digest": f"sha256:{tag}",
        "item_type": item_type,
        "image_name": "app",
        "signature": None,
        "commit": None,
        "action": action,
        "reason": reason,
        "detail": None,
        "size_bytes": 10,
        "outcome": outcome,
        "error": None,
    }


def test_a_checkpoint_refreshes_outcomes_keeps_and_errors_like_a_table_built_anew():
    rows = [row("a", "blocked"), row("b", "blocked"), row("c", "blocked"), row("k", "kept", "keep", "git-policy")]
    table = plans.audit_table(rows, **META, decided_at=NOW)
    # the batch ran: one deleted, one turned into a keep at the last moment, one failed
    rows[0] = {**rows[0], "outcome": "deleted"}
    rows[1] = {**rows[1], "action": "keep", "reason": "tag-moved", "detail": "moved", "outcome": "kept"}
    rows[2] = {**rows[2], "outcome": "failed", "error": "boom"}
    later = NOW + timedelta(minutes=1)
    refreshed = plans.refresh_audit_table(table, rows, later)
    assert refreshed.equals(plans.audit_table(rows, **META, decided_at=later))
    assert refreshed.schema == AUDIT_SCHEMA
    assert not refreshed.equals(table)


def test_deletes_an_earlier_attempt_of_the_run_did_stay_on_record():
    earlier = plans.audit_table(
        [row("a", "deleted"), row("b", "already-gone"), row("c", "failed"), row("k", "kept", "keep", "git-policy")],
        **META,
        decided_at=NOW,
    )
    done = plans.done_deletes(earlier)
    assert done == {
        ("images-repo", "r/app", "a", "image-tag"): "deleted",
        ("images-repo", "r/app", "b", "image-tag"): "already-gone",
    }
    # this attempt: a not reached yet, b under way, c failed again
    now = [row("a", "blocked"), row("b", "started"), row("c", "failed"), row("d", "deleted")]
    carried = plans.carry_done_deletes(now, done)
    assert [r["outcome"] for r in carried] == ["deleted", "already-gone", "failed", "deleted"]
    table = plans.audit_table(now, **META, decided_at=NOW)
    assert plans.refresh_audit_table(table, now, NOW, done).column("outcome").to_pylist() == [
        "deleted",
        "already-gone",
        "failed",
        "deleted",
    ]
    assert plans.carry_done_deletes(now, {}) == now


def test_apply_only_failed_retries_started_rows_and_apply_of_a_stopped_run_runs_them_too():
    audit = plans.audit_table(
        [
            row("deleted", "deleted"),
            row("failed", "failed"),
            row("started", "started"),
            row("blocked", "blocked"),
            row("kept", "kept", "keep", "git-policy"),
        ],
        **META,
        decided_at=NOW,
    )
    assert [r["tag"] for r in rows_to_apply(audit, only_failed=True)] == ["failed", "started"]
    assert [r["tag"] for r in rows_to_apply(audit, only_failed=False)] == ["started", "blocked"]
    assert set(rows_to_apply(audit, only_failed=True)[0]) == set(DECISIONS_SCHEMA.names)
