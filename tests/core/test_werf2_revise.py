"""Between deletion phases of a werf 1.2 / 2.x cleanup: the records of a stage or custom tag whose
delete did not happen stay in that run (core.werf2_revise)."""

from __future__ import annotations

from core.werf2_revise import revise_after_phase

STAGE = "a" * 56 + "-1700000000000"
OTHER = "b" * 56 + "-1700000000001"


def row(
    item_type, tag, *, signature=STAGE, storage="repo", action="delete", outcome="blocked", reason="stage-deleted", error=None
):
    return {
        "storage": storage,
        "item_type": item_type,
        "tag": tag,
        "signature": signature,
        "action": action,
        "outcome": outcome,
        "reason": reason,
        "detail": "",
        "error": error,
    }


def followers(signature=STAGE):
    return [
        row("custom-tag", f"release-{signature[:4]}", signature=signature),
        row("custom-tag-metadata", f"custom-tag-meta-{signature[:4]}", signature=signature),
        row("rejected-marker", f"{signature[:56]}-rejected", signature=signature, reason="rejected"),
        row("import-metadata", f"import-metadata-{signature[:4]}", signature=signature, reason="unused-import-metadata"),
        row("final-stage", signature, signature=signature, storage="final-repo"),
    ]


def test_records_of_a_stage_whose_delete_failed_stay_and_say_why():
    rows = [row("stage", STAGE, outcome="failed", reason="unused-stage", error="500 from the registry"), *followers()]
    revised = revise_after_phase(rows)
    assert revised[0] == rows[0]
    for r in revised[1:]:
        assert (r["action"], r["outcome"], r["reason"]) == ("keep", "kept", "stage-stays"), r["item_type"]
        assert STAGE in r["detail"] and "500 from the registry" in r["detail"]


def test_records_of_a_stage_kept_at_delete_time_stay():
    rows = [row("stage", STAGE, action="keep", outcome="kept", reason="shared-digest"), *followers()]
    assert {r["reason"] for r in revise_after_phase(rows)[1:]} == {"stage-stays"}


def test_records_of_a_deleted_stage_and_of_another_stage_go_on():
    rows = [
        row("stage", STAGE, outcome="deleted", reason="unused-stage"),
        row("stage", OTHER, signature=OTHER, outcome="failed", reason="unused-stage", error="boom"),
        *followers(STAGE),
    ]
    assert revise_after_phase(rows) == rows


def test_a_custom_tag_not_deleted_keeps_the_custom_tag_metadata_of_its_stage_only():
    rows = [
        row("stage", STAGE, outcome="deleted", reason="unused-stage"),
        row("custom-tag", "release", action="keep", outcome="kept", reason="tag-moved"),
        row("custom-tag-metadata", "custom-tag-meta-release"),
        row("rejected-marker", f"{STAGE[:56]}-rejected", reason="rejected"),
    ]
    revised = revise_after_phase(rows)
    assert (revised[2]["action"], revised[2]["reason"]) == ("keep", "custom-tag-stays")
    assert "release" in revised[2]["detail"] and "tag-moved" in revised[2]["detail"]
    assert revised[3] == rows[3]


def test_a_planned_keep_and_a_row_already_run_are_never_revised():
    rows = [
        row("stage", STAGE, outcome="failed", reason="unused-stage", error="boom"),
        row("custom-tag", "release", outcome="deleted"),
        row("custom-tag", "pinned", action="keep", outcome="kept", reason="used-in-kubernetes"),
    ]
    assert revise_after_phase(rows) == rows
