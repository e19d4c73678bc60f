"""The `stagesweep` command line (SPEC §9). Commands build a settings model and run a flow;
errors become one-paragraph messages and exit codes here, in one place."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from flows import options as o
from schemas.settings import DEFAULT_AUDIT_DIR, DEFAULT_HOME

app = typer.Typer(
    name="stagesweep",
    help="Clean werf v1.1 images repos and stages storages by git history, never touching "
    "what Kubernetes runs, with a Parquet audit of every decision. Runs as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
images_app = typer.Typer(help="Images repo cleaning.", no_args_is_help=True)
stages_app = typer.Typer(help="Stages storage cleaning.", no_args_is_help=True)
host_app = typer.Typer(help="Build host cleaning (local Docker, stagesweep's home).", no_args_is_help=True)
managed_app = typer.Typer(help="Managed images of the stages storage.", no_args_is_help=True)
app.add_typer(images_app, name="images")
app.add_typer(stages_app, name="stages")
app.add_typer(host_app, name="host")
app.add_typer(managed_app, name="managed-images")


def _cleanup(command: str, **kw) -> None:
    from flows.runner import run_command
    from schemas.settings import CleanupSettings

    kw["kube_context"] = list(kw.get("kube_context") or [])
    settings = CleanupSettings(**kw)
    raise typer.Exit(run_command(command, settings))


@app.command("cleanup")
def cleanup(
    images_repo: o.ImagesRepo,
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    images_repo_mode: o.Mode = "multirepo",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    parallel_tasks_limit: o.Parallel = 10,
    max_deletions: o.MaxDeletions = None,
    docker_host: o.DockerHost = None,
    keep_stages_built_within_last_n_hours: o.KeepHours = 2,
    git_history_synchronization: o.GitSync = False,
    allow_git_shallow_clone: o.AllowShallow = False,
    without_kube: o.WithoutKube = False,
    kube_config: o.KubeConfig = None,
    kube_context: o.KubeContext = None,
) -> None:
    """Images cleanup by git-history keep policies, then stages cleanup."""
    _cleanup("cleanup", **locals())


@images_app.command("cleanup")
def images_cleanup(
    images_repo: o.ImagesRepo,
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    images_repo_mode: o.Mode = "multirepo",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    parallel_tasks_limit: o.Parallel = 10,
    max_deletions: o.MaxDeletions = None,
    docker_host: o.DockerHost = None,
    keep_stages_built_within_last_n_hours: o.KeepHours = 2,
    git_history_synchronization: o.GitSync = False,
    allow_git_shallow_clone: o.AllowShallow = False,
    without_kube: o.WithoutKube = False,
    kube_config: o.KubeConfig = None,
    kube_context: o.KubeContext = None,
) -> None:
    """Delete images-repo tags no keep policy and no Kubernetes workload protects."""
    _cleanup("images-cleanup", **locals())


@stages_app.command("cleanup")
def stages_cleanup(
    images_repo: o.ImagesRepo,
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    images_repo_mode: o.Mode = "multirepo",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    parallel_tasks_limit: o.Parallel = 10,
    max_deletions: o.MaxDeletions = None,
    docker_host: o.DockerHost = None,
    keep_stages_built_within_last_n_hours: o.KeepHours = 2,
) -> None:
    """Delete stages that no image in the images repo needs (outside the grace window)."""
    _cleanup("stages-cleanup", **locals())


def _purge(command: str, **kw) -> None:
    from flows.runner import run_command
    from schemas.settings import PurgeSettings

    raise typer.Exit(run_command(command, PurgeSettings(**kw)))


@app.command("purge")
def purge(
    images_repo: o.ImagesRepo,
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    images_repo_mode: o.Mode = "multirepo",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    parallel_tasks_limit: o.Parallel = 10,
    max_deletions: o.MaxDeletions = None,
    docker_host: o.DockerHost = None,
    force: o.Force = False,
) -> None:
    """Delete every werf image of the project, then every stage and record. No Kubernetes check."""
    _purge("purge", **locals())


@images_app.command("purge")
def images_purge(
    images_repo: o.ImagesRepo,
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    images_repo_mode: o.Mode = "multirepo",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    parallel_tasks_limit: o.Parallel = 10,
    max_deletions: o.MaxDeletions = None,
    docker_host: o.DockerHost = None,
) -> None:
    """Delete every werf tag of every managed image in the images repo (foreign tags stay)."""
    _purge("images-purge", **locals())


@stages_app.command("purge")
def stages_purge(
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    parallel_tasks_limit: o.Parallel = 10,
    max_deletions: o.MaxDeletions = None,
    docker_host: o.DockerHost = None,
    force: o.Force = False,
) -> None:
    """Delete every stage, rejected marker, metadata and managed-image record."""
    _purge("stages-purge", **locals())


@host_app.command("cleanup")
def host_cleanup(
    dry_run: o.DryRun = False,
    home_dir: o.HomeDir = DEFAULT_HOME,
    docker_host: o.DockerHost = None,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_storage_path: Annotated[Optional[str], o.opt("docker-storage-path", "Path whose volume usage is measured.")] = None,
    allowed_docker_storage_volume_usage: Annotated[float, o.opt("allowed-docker-storage-volume-usage", "Percent.")] = 70,
    allowed_docker_storage_volume_usage_margin: Annotated[float, o.opt("allowed-docker-storage-volume-usage-margin", "Percent.")] = 5,
    allowed_local_cache_volume_usage: Annotated[float, o.opt("allowed-local-cache-volume-usage", "Percent.")] = 70,
    allowed_local_cache_volume_usage_margin: Annotated[float, o.opt("allowed-local-cache-volume-usage-margin", "Percent.")] = 5,
) -> None:
    """Free a build host: werf build containers, dangling and least-recently-used werf images, old cache files."""
    kw = dict(locals())
    from flows.runner import run_command
    from schemas.settings import HostSettings

    raise typer.Exit(run_command("host-cleanup", HostSettings(**kw)))


@host_app.command("purge")
def host_purge(
    dry_run: o.DryRun = False,
    force: o.Force = False,
    home_dir: o.HomeDir = DEFAULT_HOME,
    docker_host: o.DockerHost = None,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
) -> None:
    """Remove all werf containers and images of this host and stagesweep's home data."""
    kw = dict(locals())
    from flows.runner import run_command
    from schemas.settings import HostSettings

    raise typer.Exit(run_command("host-purge", HostSettings(**kw)))


@managed_app.command("ls")
def managed_ls(
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    docker_host: o.DockerHost = None,
) -> None:
    """List managed images (`~` is the nameless image)."""
    kw = dict(locals())
    from flows.managed import managed_images_ls

    raise typer.Exit(managed_images_ls(**kw))


@managed_app.command("add")
def managed_add(
    name: Annotated[str, typer.Argument(help="Image name (`~` for the nameless image).")],
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    docker_host: o.DockerHost = None,
) -> None:
    """Add a managed image record."""
    kw = dict(locals())
    from flows.managed import managed_images_add

    raise typer.Exit(managed_images_add(**kw))


@managed_app.command("rm")
def managed_rm(
    names: Annotated[list[str], typer.Argument(help="Image names (`~` for the nameless image).")],
    stages_storage: o.StagesStorage,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    docker_host: o.DockerHost = None,
) -> None:
    """Remove managed image records."""
    kw = dict(locals())
    from flows.managed import managed_images_rm

    raise typer.Exit(managed_images_rm(**kw))


@app.command("apply")
def apply(
    audit_file: Annotated[str, typer.Argument(help="Audit Parquet file of the run to apply.")],
    only_failed: Annotated[bool, o.opt("only-failed", "Retry only the failed rows of that run.")] = False,
    images_repo: Annotated[Optional[str], o.opt("images-repo", "Images repo (default: the audited rows' repositories).")] = None,
    stages_storage: Annotated[Optional[str], o.opt("stages-storage", "Stages storage (default: as audited; needed for :local).")] = None,
    config: o.Config = "werf.yaml",
    dir: o.Dir = ".",
    dry_run: o.DryRun = False,
    audit_dir: o.AuditDir = DEFAULT_AUDIT_DIR,
    docker_config: o.DockerConfig = None,
    insecure_registry: o.Insecure = False,
    skip_tls_verify_registry: o.SkipTls = False,
    parallel_tasks_limit: o.Parallel = 10,
    max_deletions: o.MaxDeletions = None,
    docker_host: o.DockerHost = None,
    without_kube: o.WithoutKube = False,
    kube_config: o.KubeConfig = None,
    kube_context: o.KubeContext = None,
) -> None:
    """Execute the would-delete rows of a reviewed dry-run audit (or retry the failed rows of a
    run), re-checking every row at apply time."""
    kw = dict(locals())
    from flows.runner import run_command
    from schemas.settings import ApplySettings

    kw["kube_context"] = list(kw.get("kube_context") or [])
    raise typer.Exit(run_command("apply", ApplySettings(**kw)))


@app.command("report")
def report(
    source: Annotated[str, typer.Argument(help="Audit file or audit directory.", envvar="STAGESWEEP_AUDIT_DIR")] = DEFAULT_AUDIT_DIR,
    run: Annotated[Optional[str], o.opt("run", "Only this run id.")] = None,
) -> None:
    """Per-run counts by action, reason and outcome, newest run first."""
    from flows.report import print_report

    raise typer.Exit(print_report(source, run))


@app.command("serve")
def serve() -> None:
    """Serve the deployments of deployments/prefect.yaml (nightly cleanup, ad-hoc purge, ...)
    from this process, for teams without a work pool and workers."""
    from flows.serve import serve_deployments

    raise typer.Exit(serve_deployments())


@app.command("demo")
def demo() -> None:
    """Build a temp git repo and OCI-layout stores, run a dry run and a real cleanup, and show
    what was kept and deleted and why."""
    from flows.demo import run_demo

    raise typer.Exit(run_demo())


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
