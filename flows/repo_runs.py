"""werf 1.2 / 2.x repositories (`--repo`, SPEC §13): cleanup, purge and `managed-images rm` on
one repository, with the same run shape as v1.1's flows — the deleting run, its plan, batches,
audit and artifacts. The `cleanup`, `purge` and `managed_images_rm` flows hand a `--repo` run here."""

from __future__ import annotations

from prefect import get_run_logger

from coordination.deletion_run import DeletionRun, finish
from schemas.errors import StagesweepError
from schemas.repo_tables import RepoInventory
from schemas.settings import CleanupSettings, CommonSettings, ManagedImagesRmSettings, PurgeSettings
from schemas.summary import RunSummary
from schemas.vocab import Command, StorageKind
from tasks.decide import build_deletion_plan, decide_managed_images_rm, switches_of
from tasks.delete import deletion_run
from tasks.extract import extract_git_history, extract_kube_images, read_werf_config
from tasks.publish import publish_counts
from tasks.repo import (
    check_repo_format,
    decide_repo_cleanup,
    decide_repo_purge,
    extract_repo,
    read_keep_list,
    revise_repo_rows,
    werf2_policies,
    write_cleanup_record,
)


def _read_repos(run: DeletionRun, settings: CommonSettings, names: list[str]) -> tuple[RepoInventory, RepoInventory | None]:
    """The repository and the final repository, each read once; werf v1.1 content refused."""
    repo = extract_repo(settings, run.project, names)
    final = extract_repo(settings, run.project, names, final=True) if settings.final_repo else None
    run.blobs = [repo.blobs, final.blobs if final is not None else None]
    check_repo_format([repo, final])
    counts = {
        "stages": repo.stages.num_rows,
        "meta records": repo.meta.num_rows,
        "custom tags": repo.custom_tags.num_rows,
        "import metadata": repo.import_metadata.num_rows,
        "managed images": repo.managed.num_rows,
    }
    if final is not None:
        counts["final stages"] = final.stages.num_rows
    publish_counts("repo-inventory", "werf 1.2 / 2.x repository", counts)
    return repo, final


def run_repo_cleanup(settings: CleanupSettings, command: Command) -> RunSummary:
    run = deletion_run(command, settings)

    def body() -> None:
        # 1. the werf.yaml, the keep list, the repositories (and their format)
        werf = read_werf_config(settings)
        run.project = settings.project or werf.project
        run.metadata["werf_yaml_env"] = list(werf.template_env)
        run.metadata["werf_yaml_ignored_keys"] = list(werf.ignored_keys)
        keep_list = read_keep_list(settings.keep_list) if settings.keep_list else []
        repo, final = _read_repos(run, settings, list(werf.images))
        switches = switches_of(settings, werf)
        # 2. git history and Kubernetes (not needed when werf.yaml disables cleanup)
        refs = commits = kube = None
        if not switches.disabled:
            if switches.git_history:
                refs, commits = extract_git_history(settings, werf)
                publish_counts("git-inventory", "Git history", {"references": refs.num_rows, "commits": commits.num_rows})
            if not (settings.without_kube or werf.disable_kubernetes_based_policy):
                scan = extract_kube_images(settings, settings.parallel_tasks_limit)
                run.metadata["kubernetes"] = scan.scanned()
                kube = scan.images
                publish_counts("kube-inventory", "Images used by Kubernetes workloads", {"workload images": kube.num_rows})
            else:
                run.metadata["kubernetes"] = {"checked": False}
        # 3. werf v2's cleanup over the joined tables, one ordered plan, its execution
        decisions = decide_repo_cleanup(
            repo,
            final,
            project=run.project,
            werf_images=list(werf.images),
            refs=refs,
            commits=commits,
            policies=werf2_policies(werf),
            kube=kube,
            now=run.now,
            window_hours=switches.stages_window.total_seconds() / 3600,
            keep_list=keep_list,
            switches=switches,
        )
        run.execute(build_deletion_plan([decisions]), revise=revise_repo_rows)
        # 4. werf's `cleanup` record, after a real cleanup that was not disabled
        run.metadata["cleanup_record"] = _cleanup_record(run, settings, disabled=switches.disabled)

    return finish(run, body)


def _cleanup_record(run: DeletionRun, settings: CleanupSettings, *, disabled: bool) -> str:
    """Write the `cleanup` record; a failure is a warning, not a failed run (SPEC §13.3 step 9)."""
    if settings.dry_run:
        return "not written (dry run)"
    if disabled:
        return "not written (cleanup disabled by werf.yaml)"
    try:
        write_cleanup_record(settings, run.project, int(run.now.timestamp() * 1000))
    except StagesweepError as exc:
        get_run_logger().warning("could not write the cleanup record to %s: %s", settings.repo, exc.message)
        return f"failed: {exc.message}"
    return "written"


def run_repo_purge(settings: PurgeSettings, command: Command) -> RunSummary:
    run = deletion_run(command, settings)

    def body() -> None:
        werf = read_werf_config(settings)
        run.project = settings.project or werf.project
        repo, final = _read_repos(run, settings, list(werf.images))
        run.execute(build_deletion_plan([decide_repo_purge(repo, final, run.project)]))

    return finish(run, body)


def run_repo_managed_images_rm(settings: ManagedImagesRmSettings) -> RunSummary:
    run = deletion_run(Command.MANAGED_IMAGES_RM, settings)

    def body() -> None:
        werf = read_werf_config(settings)
        run.project = settings.project or werf.project
        repo, _ = _read_repos(run, settings, list(werf.images))
        decisions = decide_managed_images_rm(repo.managed, settings.names, StorageKind.REPO.value)
        run.execute(build_deletion_plan([decisions]))

    return finish(run, body)
