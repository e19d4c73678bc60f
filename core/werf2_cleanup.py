"""werf 1.2 / 2.x cleanup decisions over one repository (SPEC §13.3), keyed by stage ID.

::

    decide_repo_cleanup(repo, final, *, project, werf_images, refs, commits, policies, kube, now,
                        window_hours, keep_list, switches) -> DECISIONS_SCHEMA table

* ``repo`` / ``final``: the repository (``--repo``) and werf's copy of final images
  (``--final-repo``, None when not given), as read into :class:`RepoInventory`;
* ``project``: this run's project (stages labelled ``werf=<other>`` are never deleted);
* ``werf_images``: the werf.yaml's image names (``""`` for the nameless image); with the managed
  images of ``repo`` they are the images whose meta records count;
* ``refs`` / ``commits``: the git tables (REFS_SCHEMA / COMMITS_SCHEMA); needed unless
  ``switches.git_history`` is off or ``switches.disabled`` is on;
* ``policies``: the keep policies with werf v2's defaults — :func:`werf2_keep_policies`;
* ``kube``: the images workloads use (KUBE_IMAGES_SCHEMA), None when the Kubernetes check is off;
* ``now``: the time every window is measured from (timezone-aware);
* ``window_hours``: the grace window in hours (0: none) — ``switches.stages_window`` in hours;
* ``keep_list``: the tags of ``--keep-list`` (stage IDs or custom tags);
* ``switches``: ``core.cleanup_switches`` of the run (``disabled``: werf.yaml's cleanup.disable;
  ``git_history``: off with cleanup.disableGitHistoryBasedPolicy).

One row per item a cleanup could delete: keep (with the reason that keeps it) or delete (with the
reason it goes); ``detail`` says why in a few words. The steps, in werf v2.77's order
(``pkg/cleaning/cleanup.go``):

1. cleanup disabled ⇒ every managed-image and meta record goes (``cleanup-disabled``); stages stay;
2. stages the run could not read stay (``unreadable``), and so do their meta records and custom tags;
3. Kubernetes (``used-in-kubernetes``, ``core.werf2_kube``);
4. the git history-based policy over meta records (``git-policy``, ``core.werf2_history``);
5. built within the last N hours (``built-within-last-n-hours``; an index: its newest platform),
   then the keep list (``keep-list``: a stage ID or a custom tag protects its stage);
6. rejected stages go with their custom tags, the marker last (``rejected``) — unless a
   workload uses the stage or one of its custom tags: a used tag is never deleted;
7. relatives of protected stages (``core.werf2_relatives``), every other stage goes
   (``unused-stage``), custom tags and import metadata follow their stages (``core.werf2_linked``);
8. the final repository (``core.werf2_final``; the rule and its source are written there).

A stage labelled for another project stays (``other-project``) whatever else applies. Tags of
client-id, sync-server, cleanup records and foreign tags never appear as deletes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

import numpy as np
import pyarrow as pa

from core.cleanup_switches import CleanupSwitches
from core.references import timestamps_us, to_micros
from core.werf2_final import decide_final_stages
from core.werf2_history import decide_meta, werf2_keep_policies
from core.werf2_kube import KubeUse, kube_use
from core.werf2_linked import decide_custom_tags, decide_import_metadata, decide_markers, marker_rows
from core.werf2_relatives import build_graph, protect_relatives
from core.werf2_rows import Protection, make_safe, managed_table, meta_table, owner_detail, stage_table, unreadable_rows
from schemas.config import KeepPolicy
from schemas.repo_tables import RepoInventory
from schemas.tables import DECISIONS_SCHEMA
from schemas.vocab import Action, Reason, StorageKind

__all__ = ["decide_repo_cleanup", "werf2_keep_policies"]

_DISABLED = "cleanup.disable in werf.yaml: werf deletes only managed-image and meta records"
_UNUSED = "no workload, keep policy, keep-list entry or grace window protects it or a stage that needs it"


def decide_repo_cleanup(
    repo: RepoInventory,
    final: RepoInventory | None,
    *,
    project: str,
    werf_images: Sequence[str],
    refs: pa.Table | None,
    commits: pa.Table | None,
    policies: Sequence[KeepPolicy],
    kube: pa.Table | None,
    now: dt.datetime,
    window_hours: float,
    keep_list: Sequence[str],
    switches: CleanupSwitches,
) -> pa.Table:
    """Every decision of a werf 1.2 / 2.x cleanup (see the module's docstring)."""
    inventories = [repo] if final is None else [repo, final]
    if switches.disabled:
        return make_safe(_cleanup_disabled(repo, final), inventories)
    used = kube_use(repo, final, kube)
    meta = decide_meta(
        repo.meta,
        stage_ids=repo.stages["tag"].combine_chunks(),
        unreadable=repo.unreadable,
        werf_images=werf_images,
        managed_names=repo.managed_names,
        refs=refs,
        commits=commits,
        policies=policies,
        now=now,
        git_history=switches.git_history,
    )
    listed = set(keep_list)
    roots, sourced = _roots(repo, used, meta.protected, now, window_hours, listed)
    protected = protect_relatives(build_graph(repo.stages, repo.import_metadata), roots, sourced)
    stages, staying, deleted = _decide_stages(repo, protected, used, project)
    staying |= {tag: (Reason.UNREADABLE, why) for tag, why in repo.unreadable.items()}
    parts = [
        meta.decisions,
        stages,
        decide_custom_tags(
            repo, project=project, staying=staying, deleted=deleted, kube_users=used.custom_tags, keep_list=listed
        ),
        decide_markers(repo, marker_rows(repo), staying, deleted),
        decide_import_metadata(repo, project=project, staying=staying, deleted=deleted),
        unreadable_rows(repo, StorageKind.REPO.value),
    ]
    if final is not None:
        parts.append(
            decide_final_stages(
                final,
                repository=repo.repository,
                staying=staying,
                deleted=set(deleted),
                kube_users=used.final_stages,
                project=project,
            )
        )
    return make_safe(pa.concat_tables(parts), inventories)


def _roots(
    repo: RepoInventory,
    used: KubeUse,
    git: dict[str, Protection],
    now: dt.datetime,
    window_hours: float,
    keep_list: Collection[str],
) -> tuple[dict[str, Protection], set[str]]:
    """The stages protected first-hand, in order of precedence (Kubernetes, git history, grace
    window, keep list), and those of them whose import sources and dependencies count (every
    protection but ``git-policy``)."""
    stage_ids = set(repo.stages["tag"].to_pylist())
    kube: dict[str, Protection] = {s: (Reason.USED_IN_KUBERNETES, d) for s, d in used.stages.items()}
    custom = zip(repo.custom_tags["custom_tag"].to_pylist(), repo.custom_tags["stage_id"].to_pylist())
    custom_of: dict[str, list[str]] = {}
    for tag, stage in custom:
        custom_of.setdefault(stage, []).append(tag)
        if tag in used.custom_tags and stage in stage_ids:
            kube.setdefault(stage, (Reason.USED_IN_KUBERNETES, f"custom tag {tag} is used by {used.custom_tags[tag]}"))
    window = _built_within(repo.stages, now, window_hours)
    listed: dict[str, Protection] = {}
    for entry in keep_list:
        if entry in stage_ids:
            listed.setdefault(entry, (Reason.KEEP_LIST, "listed in the keep list"))
    for stage, tags in custom_of.items():
        for tag in tags:
            if tag in keep_list and stage in stage_ids:
                listed.setdefault(stage, (Reason.KEEP_LIST, f"its custom tag {tag} is listed in the keep list"))
    roots: dict[str, Protection] = {}
    for source in (kube, git, window, listed):
        for stage, protection in source.items():
            roots.setdefault(stage, protection)
    return roots, set(kube) | set(window) | set(listed)


def _built_within(stages: pa.Table, now: dt.datetime, window_hours: float) -> dict[str, Protection]:
    """Stages built within the last ``window_hours`` before ``now`` (werf: hours since creation
    <= N). Built at = the config's ``created`` (an index: its newest platform's), else the stage
    ID's creation timestamp."""
    if window_hours <= 0 or stages.num_rows == 0:
        return {}
    created = timestamps_us(stages["created"].fill_null(pa.scalar(0, pa.timestamp("us", tz="UTC"))))
    fallback = stages["creation_ts"].to_numpy() * 1000
    built = np.where(stages["created"].is_null().to_numpy(zero_copy_only=False), fallback, created)
    cutoff = to_micros(now) - int(window_hours * 3600 * 1_000_000)
    recent = np.flatnonzero((built >= cutoff) & (built > 0))
    tags = stages["tag"].to_pylist()
    words = f"built within the last {window_hours:g} h"
    return {tags[i]: (Reason.BUILT_WITHIN_LAST_N_HOURS, f"{words} (at {_iso(int(built[i]))})") for i in recent.tolist()}


def _iso(micros: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    return moment.isoformat(timespec="seconds")


def _decide_stages(
    repo: RepoInventory, protected: dict[str, Protection], used: KubeUse, project: str
) -> tuple[pa.Table, dict[str, Protection], dict[str, Reason]]:
    """A row per stage; also the stages that stay (with their protection) and those that go (with
    their reason)."""
    stages = repo.stages
    used_via_custom = {
        s
        for t, s in zip(repo.custom_tags["custom_tag"].to_pylist(), repo.custom_tags["stage_id"].to_pylist())
        if t in used.custom_tags
    }
    marked = {s for _, _, s in marker_rows(repo)}
    staying: dict[str, Protection] = {}
    deleted: dict[str, Reason] = {}
    actions, reasons, details = [], [], []
    for stage_id, owner, rejected in zip(
        stages["tag"].to_pylist(), stages["project"].to_pylist(), stages["rejected"].to_pylist()
    ):
        foreign = owner_detail(owner, project)
        in_kube = stage_id in used.stages or stage_id in used_via_custom
        if foreign is not None:
            action, reason, why = Action.KEEP, Reason.OTHER_PROJECT, foreign
        elif (rejected or stage_id in marked) and not in_kube:
            action, reason, why = Action.DELETE, Reason.REJECTED, _rejected_detail(protected.get(stage_id))
        elif stage_id in protected:
            action, (reason, why) = Action.KEEP, protected[stage_id]
        else:
            action, reason, why = Action.DELETE, Reason.UNUSED_STAGE, _UNUSED
        if action is Action.KEEP:
            staying[stage_id] = (reason, why)
        else:
            deleted[stage_id] = reason
        actions.append(action)
        reasons.append(reason)
        details.append(why)
    table = stage_table(stages, {"action": actions, "reason": reasons, "detail": details})
    return table, staying, deleted


def _rejected_detail(protection: Protection | None) -> str:
    words = "a rejected marker says the stage is broken"
    if protection is None:
        return words
    return f"{words}; werf deletes it although {protection[0].value} would keep it ({protection[1]})"


def _cleanup_disabled(repo: RepoInventory, final: RepoInventory | None) -> pa.Table:
    """werf.yaml's cleanup.disable: werf deletes every managed-image and meta record, nothing else."""
    gone = {"action": Action.DELETE, "reason": Reason.CLEANUP_DISABLED, "detail": _DISABLED}
    stays = {"action": Action.KEEP, "reason": Reason.CLEANUP_DISABLED, "detail": _DISABLED}
    parts = [
        meta_table(repo.meta, gone),
        managed_table(repo.managed, gone),
        stage_table(repo.stages, stays),
        unreadable_rows(repo, StorageKind.REPO.value),
    ]
    if final is not None:
        parts += [
            stage_table(final.stages, stays, StorageKind.FINAL_REPO),
            unreadable_rows(final, StorageKind.FINAL_REPO.value, final=True),
        ]
    return pa.concat_tables(parts).cast(DECISIONS_SCHEMA)
