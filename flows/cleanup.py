"""Cleanup by policies (SPEC §4, §5): `cleanup`, `images_cleanup`, `stages_cleanup`."""

from __future__ import annotations

from prefect import flow

from coordination.deletion_run import finish
from flows.project_inventory import read_project
from flows.repo_runs import run_repo_cleanup
from schemas.settings import CleanupSettings
from schemas.summary import RunSummary
from schemas.vocab import Command
from tasks.decide import (
    apply_keep_policies,
    build_deletion_plan,
    decide_stage_keep_set,
    stage_reviser,
    switches_of,
)
from tasks.delete import deletion_run
from tasks.extract import (
    extract_git_history,
    extract_kube_images,
)
from tasks.publish import publish_counts, publish_inventory


@flow(
    name="cleanup",
    description="Cleanup by git-history keep policies: a werf 1.2 / 2.x repository, or images cleanup then stages cleanup.",
)
def cleanup(settings: CleanupSettings) -> RunSummary:
    return run_cleanup(settings, Command.CLEANUP, images=True, stages=True)


@flow(name="images_cleanup", description="Delete images-repo tags no keep policy and no Kubernetes workload protects.")
def images_cleanup(settings: CleanupSettings) -> RunSummary:
    return run_cleanup(settings, Command.IMAGES_CLEANUP, images=True, stages=False)


@flow(name="stages_cleanup", description="Delete stages that no image in the images repo needs.")
def stages_cleanup(settings: CleanupSettings) -> RunSummary:
    return run_cleanup(settings, Command.STAGES_CLEANUP, images=False, stages=True)


def run_cleanup(settings: CleanupSettings, command: Command, *, images: bool, stages: bool) -> RunSummary:
    if settings.werf2:  # werf 1.2 / 2.x's one repository (`--repo`)
        return run_repo_cleanup(settings, command)
    run = deletion_run(command, settings)

    def body() -> None:
        # 1–3. the werf.yaml, the stages storage, the images repo's werf tags; the format checked
        project = read_project(run, settings, stages=stages, images=True)
        werf, inventory, tags = project.werf, project.inventory, project.tags
        run.metadata["werf_yaml_ignored_keys"] = list(werf.ignored_keys)
        switches = switches_of(settings, werf)
        hours = switches.stages_window.total_seconds() / 3600
        publish_inventory(inventory, with_stages=stages)
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
        # 7. one ordered plan, then its execution; stages of an image whose delete failed stay,
        # and so does the rejected marker of a stage whose delete did not happen
        plan = build_deletion_plan(decisions)
        run.execute(plan, revise=stage_reviser(inventory, tags, run.now, hours, after_images=images and stages))

    return finish(run, body)
