"""The final repository's stages in a cleanup (SPEC §13.3 step 8).

The rule, per final stage ``F:<stageID>`` (first that applies):

1. labelled for another project ⇒ keep (``other-project``);
2. used by a workload (``F:<stageID>``, or ``F@<digest>``) ⇒ keep (``used-in-kubernetes``);
3. its counterpart ``R:<stageID>`` stays after this cleanup ⇒ keep, with the counterpart's
   reason ("found in repo"); a counterpart the run could not read stays too (``unreadable``);
4. otherwise ⇒ delete: ``stage-deleted`` when this cleanup deletes the counterpart,
   ``nonexistent-stage`` when the repository has no such stage.

Source: werf's ``pkg/cleaning/cleanup.go`` ``cleanupFinalStages``. Its first version
(commit 5cc86d3b, "feat: implement cleanup for --final-repo", 2021) deleted exactly the final stages
of step 4. The refactor d8ff9d9a7 (2024-11, "introduce StageDescSet") inverted the test: werf
v2.77.1 protects final stages *not* found among the repository's remaining stages ("not found in
repo") and deletes the ones whose counterpart the policies keep, unless a workload uses them.
That deletes what the policies retain (a rollback target) and keeps orphans forever; werf fixed
it after v2.77.1 (werf/werf#7867, "fix(cleanup): preserve retained final images", which restores
the rule above and records retained counterparts as "found in repo"). stagesweep applies the
fixed rule: it never deletes a final image whose counterpart stays.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from core.werf2_rows import Protection, owner_detail, stage_table, unreadable_rows
from schemas.repo_tables import RepoInventory
from schemas.vocab import Action, Reason, StorageKind


def decide_final_stages(
    final: RepoInventory,
    *,
    repository: str,
    staying: Mapping[str, Protection],
    deleted: set[str],
    kube_users: Mapping[str, str],
    project: str,
) -> pa.Table:
    """One row per stage of ``final`` (and a keep row per tag it could not read).

    ``repository``: the address of R; ``staying``: R's stage IDs that stay after this cleanup
    (unreadable ones included) with the protection that keeps each; ``deleted``: R's stage IDs
    this cleanup deletes; ``kube_users``: final stage ID -> the workload that uses it."""
    stages = final.stages
    actions, reasons, details = [], [], []
    rows = zip(stages["tag"].to_pylist(), stages["project"].to_pylist())
    for stage_id, owner in rows:
        foreign = owner_detail(owner, project)
        if foreign is not None:
            decision: tuple[Action, Reason, str] = (Action.KEEP, Reason.OTHER_PROJECT, foreign)
        elif stage_id in kube_users:
            decision = (Action.KEEP, Reason.USED_IN_KUBERNETES, kube_users[stage_id])
        elif stage_id in staying:
            reason, why = staying[stage_id]
            decision = (Action.KEEP, reason, f"found in repo: {repository}:{stage_id} stays ({why})")
        elif stage_id in deleted:
            decision = (Action.DELETE, Reason.STAGE_DELETED, f"this cleanup deletes {repository}:{stage_id}")
        else:
            decision = (Action.DELETE, Reason.NONEXISTENT_STAGE, f"{repository} has no stage {stage_id}")
        actions.append(decision[0])
        reasons.append(decision[1])
        details.append(decision[2])
    table = stage_table(stages, {"action": actions, "reason": reasons, "detail": details}, StorageKind.FINAL_REPO)
    return pa.concat_tables([table, unreadable_rows(final, StorageKind.FINAL_REPO.value, final=True)])
