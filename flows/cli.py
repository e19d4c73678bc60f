"""The `stagesweep` command line (SPEC §9). Commands build a settings model and run a flow;
errors become one-paragraph messages and exit codes here, in one place."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from flows import options as o
from schemas.settings import DEFAULT_AUDIT_DIR

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


def _cleanup(command: str, kw: dict) -> None:
    from flows.runner import run_command
    from schemas.settings import CleanupSettings

    kw["kube_context"] = list(kw.get("kube_context") or [])
    raise typer.Exit(run_command(command, CleanupSettings(**kw)))


def _purge(command: str, kw: dict) -> None:
    from flows.runner import run_command
    from schemas.settings import PurgeSettings

    raise typer.Exit(run_command(command, PurgeSettings(**kw)))


def _host(command: str, kw: dict) -> None:
    from flows.runner import run_command
    from schemas.settings import HostSettings

    raise typer.Exit(run_command(command, HostSettings(**kw)))


@app.command("cleanup")
@o.with_options(*o.CLEANUP, "grace", "git", "kube")
def cleanup(**kw) -> None:
    """Images cleanup by git-history keep policies, then stages cleanup."""
    _cleanup("cleanup", kw)


@images_app.command("cleanup")
@o.with_options(*o.CLEANUP, "grace", "git", "kube")
def images_cleanup(**kw) -> None:
    """Delete images-repo tags no keep policy and no Kubernetes workload protects."""
    _cleanup("images-cleanup", kw)


@stages_app.command("cleanup")
@o.with_options(*o.CLEANUP, "grace")
def stages_cleanup(**kw) -> None:
    """Delete stages that no image in the images repo needs (outside the grace window)."""
    _cleanup("stages-cleanup", kw)


@app.command("purge")
@o.with_options(*o.CLEANUP, "force")
def purge(**kw) -> None:
    """Delete every werf image of the project, then every stage and record. No Kubernetes check."""
    _purge("purge", kw)


@images_app.command("purge")
@o.with_options(*o.CLEANUP)
def images_purge(**kw) -> None:
    """Delete every werf tag of every managed image in the images repo (foreign tags stay)."""
    _purge("images-purge", kw)


@stages_app.command("purge")
@o.with_options("stages-storage", "project", "run", "registry", "force")
def stages_purge(**kw) -> None:
    """Delete every stage, rejected marker, metadata and managed-image record."""
    _purge("stages-purge", kw)


@host_app.command("cleanup")
@o.with_options("host", "host-thresholds")
def host_cleanup(**kw) -> None:
    """Free a build host: werf build containers, dangling and least-recently-used werf images, old cache files."""
    _host("host-cleanup", kw)


@host_app.command("purge")
@o.with_options("host", "force")
def host_purge(**kw) -> None:
    """Remove all werf containers and images of this host and stagesweep's home data."""
    _host("host-purge", kw)


@managed_app.command("ls")
@o.with_options("stages-storage", "project", "registry")
def managed_ls(**kw) -> None:
    """List managed images (`~` is the nameless image)."""
    from flows.managed import managed_images_ls

    raise typer.Exit(managed_images_ls(**kw))


@managed_app.command("add")
@o.with_options("stages-storage", "project", "registry")
def managed_add(name: Annotated[str, typer.Argument(help="Image name (`~` for the nameless image).")], **kw) -> None:
    """Add a managed image record."""
    from flows.managed import managed_images_add

    raise typer.Exit(managed_images_add(name, **kw))


@managed_app.command("rm")
@o.with_options("stages-storage", "project", "run", "registry")
def managed_rm(names: Annotated[list[str], typer.Argument(help="Image names (`~` for the nameless image).")], **kw) -> None:
    """Remove managed image records (an audited run)."""
    from flows.managed import managed_images_rm

    raise typer.Exit(managed_images_rm(names, **kw))


@app.command("apply")
@o.with_options("project", "run", "registry", "kube")
@o.with_options("repos-mode")
def apply(
    audit_file: Annotated[str, typer.Argument(help="Audit Parquet file of the run to apply.")],
    only_failed: Annotated[bool, o.opt("only-failed", "Retry only the failed rows of that run.")] = False,
    images_repo: Annotated[Optional[str], o.opt("images-repo", "Images repo (default: the audited rows' repositories).")] = None,
    stages_storage: Annotated[Optional[str], o.opt("stages-storage", "Stages storage (default: as audited; needed for :local).")] = None,
    **kw,
) -> None:
    """Execute the would-delete rows of a reviewed dry-run audit (or retry the failed rows of a
    run), re-checking every row at apply time."""
    from flows.runner import run_command
    from schemas.settings import ApplySettings

    kw.update(audit_file=audit_file, only_failed=only_failed, images_repo=images_repo, stages_storage=stages_storage)
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
def serve(
    prefect_file: Annotated[Optional[str], o.opt("prefect-file", "The prefect.yaml to serve (default: deployments/prefect.yaml).")] = None,
) -> None:
    """Serve the deployments of deployments/prefect.yaml (nightly cleanup, ad-hoc purge, ...)
    from this process, for teams without a work pool and workers."""
    from flows.serve import serve_deployments

    raise typer.Exit(serve_deployments(prefect_file))


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
