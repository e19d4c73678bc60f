"""Cleanup by policies (SPEC §4, §5): `cleanup`, `images_cleanup`, `stages_cleanup`."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow

from core.stages import decide_stages
from flows.execution import Run, RunSummary, finish
from schemas.settings import CleanupSettings
from schemas.tables import IMAGE_TAGS_SCHEMA
from schemas.vocab import Action, Command, ItemType, Outcome, StorageKind
from tasks.decide import apply_keep_policies, build_deletion_plan, decide_stage_keep_set
from tasks.extract import extract_git_history, extract_images_repo, extract_kube_images, extract_stages_storage, read_werf_config
from tasks.publish import publish_counts


@flow(name="cleanup", description="Images cleanup by git-history keep policies, then stages cleanup.")
def cleanup(settings: CleanupSettings) -> RunSummary:
    return run_cleanup(settings, Command.CLEANUP, images=True, stages=True)


@flow(name="images_cleanup", description="Delete images-repo tags no keep policy and no Kubernetes workload protects.")
def images_cleanup(settings: CleanupSettings) -> RunSummary:
    return run_cleanup(settings, Command.IMAGES_CLEANUP, images=True, stages=False)


@flow(name="stages_cleanup", description="Delete stages that no image in the images repo needs.")
def stages_cleanup(settings: CleanupSettings) -> RunSummary:
    return run_cleanup(settings, Command.STAGES_CLEANUP, images=False, stages=True)


def run_cleanup(settings: CleanupSettings, command: Command, *, images: bool, stages: bool) -> RunSummary:
    run = Run(command.value, settings)

    def body() -> None:
        # 1. configuration and the names cleanup works on
        werf = read_werf_config(settings)
        run.project = settings.project or werf.project
        # 2. stages storage: stages, metadata and managed images
        inventory = extract_stages_storage(settings, run.project, with_stages=stages)
        names = sorted(set(werf.images) | set(inventory.managed.column("image_name").to_pylist()))
        publish_counts("stages-storage-inventory", "Stages storage records", _inventory_counts(inventory, stages))
        # 3. images repo tags of those names
        tags = extract_images_repo(settings, run.project, names)
        publish_counts("images-repo-inventory", "werf tags in the images repo", {"image tags": tags.num_rows})
        decisions = []
        remaining = tags
        if images:
            # 4. git history and Kubernetes
            refs, commits = extract_git_history(settings, _sync(settings, werf))
            publish_counts("git-inventory", "Git history", {"references": refs.num_rows, "commits": commits.num_rows})
            kube = None
            if not (settings.without_kube or werf.disable_kubernetes_based_policy):
                kube = extract_kube_images(settings)
                publish_counts("kube-inventory", "Images used by Kubernetes workloads", {"workload images": kube.num_rows})
            # 5. keep policies over the joined tables
            image_decisions = apply_keep_policies(
                tags, inventory.metadata, refs, commits, werf.keep_policies, run.now, kube
            )
            decisions.append(image_decisions)
            remaining = _remaining_images(tags, image_decisions)
        if stages:
            # 6. stages no remaining image needs
            decisions.append(
                decide_stage_keep_set(
                    inventory.stages,
                    remaining,
                    run.now,
                    settings.keep_stages_built_within_last_n_hours,
                    inventory.containers_using,
                )
            )
        # 7. one ordered plan, then its execution
        plan = build_deletion_plan(decisions)
        revise = _stage_reviser(settings, inventory, tags, run) if (images and stages) else None
        run.execute(plan, revise=revise)

    return finish(run, body)


def _sync(settings: CleanupSettings, werf) -> bool:
    return bool(settings.git_history_synchronization or werf.allow_fetch_origin_branches_and_tags)


def _inventory_counts(inventory, stages: bool) -> dict[str, int]:
    counts = {
        "metadata records": inventory.metadata.num_rows,
        "managed images": inventory.managed.num_rows,
    }
    if stages:
        counts["stages"] = inventory.stages.num_rows
        counts["rejected stages"] = int(pc.sum(inventory.stages["rejected"]).as_py() or 0)
    return counts


def _remaining_images(tags: pa.Table, image_decisions: pa.Table) -> pa.Table:
    """Image tags that stay after images cleanup (kept by policy or by Kubernetes)."""
    deleted = {
        (r["repository"], r["tag"])
        for r in image_decisions.to_pylist()
        if r["item_type"] == ItemType.IMAGE_TAG and r["action"] == Action.DELETE
    }
    keep = [r for r in tags.to_pylist() if (r["repository"], r["tag"]) not in deleted]
    return pa.Table.from_pylist(keep, schema=IMAGE_TAGS_SCHEMA)


def _stage_reviser(settings: CleanupSettings, inventory, tags: pa.Table, run: Run):
    """After the image-tag phase: an image whose delete failed still exists, so its stages
    must stay. Recompute the stage decisions with it and turn those deletes into keeps."""

    def revise(rows: list[dict]) -> list[dict]:
        still_there = {
            (r["repository"], r["tag"])
            for r in rows
            if r["storage"] == StorageKind.IMAGES_REPO
            and r["item_type"] == ItemType.IMAGE_TAG
            and r["outcome"] not in (Outcome.DELETED, Outcome.ALREADY_GONE)
        }
        pending_stage_deletes = any(
            r["item_type"] == ItemType.STAGE and r["outcome"] == Outcome.BLOCKED for r in rows
        )
        failed_images = any(
            r["item_type"] == ItemType.IMAGE_TAG and r["outcome"] == Outcome.FAILED for r in rows
        )
        if not (failed_images and pending_stage_deletes):
            return rows
        existing = pa.Table.from_pylist(
            [r for r in tags.to_pylist() if (r["repository"], r["tag"]) in still_there], schema=IMAGE_TAGS_SCHEMA
        )
        fresh = decide_stages(
            inventory.stages,
            existing,
            run.now,
            timedelta(hours=settings.keep_stages_built_within_last_n_hours),
            inventory.containers_using,
        )
        now_kept = {
            (r["repository"], r["tag"]): r for r in fresh.to_pylist() if r["action"] == Action.KEEP
        }
        out = []
        for r in rows:
            k = now_kept.get((r["repository"], r["tag"]))
            if k is not None and r["action"] == Action.DELETE and r["outcome"] == Outcome.BLOCKED:
                r = {**r, "action": Action.KEEP.value, "reason": k["reason"], "detail": k["detail"], "outcome": Outcome.KEPT.value}
            out.append(r)
        return out

    return revise
