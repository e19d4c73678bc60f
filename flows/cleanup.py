"""Cleanup by policies (SPEC §4, §5): `cleanup`, `images_cleanup`, `stages_cleanup`."""

from __future__ import annotations

from prefect import flow

from schemas.settings import CleanupSettings
from schemas.summary import RunSummary
from schemas.vocab import Command
from tasks.decide import (
    apply_keep_policies,
    build_deletion_plan,
    check_storage_format,
    decide_stage_keep_set,
    stage_reviser,
    switches_of,
)
from tasks.deletion_run import DeletionRun, finish
from tasks.extract import (
    extract_git_history,
    extract_images_repo,
    extract_kube_images,
    extract_stages_storage,
    read_werf_config,
)
from tasks.publish import publish_counts, publish_inventory


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
    run = DeletionRun(command, settings)

    def body() -> None:
        # 1. configuration and the names cleanup works on
        werf = read_werf_config(settings)
        run.project = settings.project or werf.project
        run.metadata["werf_yaml_env"] = list(werf.template_env)
        run.metadata["werf_yaml_ignored_keys"] = list(werf.ignored_keys)
        switches = switches_of(settings, werf)
        hours = switches.stages_window.total_seconds() / 3600
        # 2. stages storage: stages, metadata and managed images
        inventory = extract_stages_storage(settings, run.project, with_stages=stages)
        names = sorted(set(werf.images) | set(inventory.managed_names))
        publish_inventory(inventory, with_stages=stages)
        # 3. images repo tags of those names
        tags, image_blobs, image_signs = extract_images_repo(settings, run.project, names)
        run.blobs = [inventory.blobs, image_blobs]  # what the audit's reclaimable bytes are computed from
        # werf 1.2 / 2.x content read as v1.1's would be deleted: stop before deciding anything
        check_storage_format([inventory.newer_format, image_signs])
        publish_counts("images-repo-inventory", "werf tags in the images repo", {"image tags": tags.num_rows})
        decisions = []
        image_decisions = None
        if images and not switches.disabled:
            # 4. git history and Kubernetes
            refs, commits = extract_git_history(settings, werf)
            publish_counts("git-inventory", "Git history", {"references": refs.num_rows, "commits": commits.num_rows})
            kube = None
            if not (settings.without_kube or werf.disable_kubernetes_based_policy):
                scan = extract_kube_images(settings, settings.parallel_tasks_limit)
                run.metadata["kubernetes"] = scan.scanned()  # the contexts and namespaces listed
                kube = scan.images
                publish_counts("kube-inventory", "Images used by Kubernetes workloads", {"workload images": kube.num_rows})
            else:
                run.metadata["kubernetes"] = {"checked": False}
            # 5. keep policies over the joined tables
            image_decisions = apply_keep_policies(
                tags, inventory.metadata, refs, commits, werf.keep_policies, run.now, kube, switches
            )
            decisions.append(image_decisions)
        if stages and not switches.disabled:
            # 6. stages no remaining image needs
            decisions.append(decide_stage_keep_set(inventory, tags, image_decisions, run.now, hours))
        # 7. one ordered plan, then its execution; stages of an image whose delete failed stay
        plan = build_deletion_plan(decisions)
        revise = stage_reviser(inventory, tags, run.now, hours)
        run.execute(plan, revise=revise if (images and stages) else None)

    return finish(run, body)
