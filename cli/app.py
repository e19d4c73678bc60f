"""The `stagesweep` command line (SPEC §9). A command builds its settings model from its options
(made from the model's fields) and runs its flow; `cli.run.guard` turns errors into messages and
exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Optional

import typer

from cli import options as o
from cli.run import DEBUG_ENV, exit_now, guard, one_command_process, run_command
from cli.sweep_command import use_everywhere
from schemas.errors import UsageError
from schemas.settings import (
    DEFAULT_AUDIT_DIR,
    V11_ONLY,
    ApplySettings,
    CleanupSettings,
    CommonSettings,
    HostSettings,
    ManagedImagesRmSettings,
    PurgeSettings,
    address_problem,
)
from schemas.vocab import Command

app = typer.Typer(
    name="stagesweep",
    help="Clean werf registries by git history — werf 1.2 / 2.x repositories (--repo) and werf v1.1 "
    "images repos and stages storages — never touching what Kubernetes runs, with a Parquet audit of every decision. Runs as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
images_app = typer.Typer(help="Images repo cleaning.", no_args_is_help=True)
stages_app = typer.Typer(help="Stages storage cleaning.", no_args_is_help=True)
host_app = typer.Typer(help="Build host cleaning (local Docker, stagesweep's home).", no_args_is_help=True)
managed_app = typer.Typer(help="Managed images of the stages storage or --repo.", no_args_is_help=True)
app.add_typer(images_app, name="images")
app.add_typer(stages_app, name="stages")
app.add_typer(host_app, name="host")
app.add_typer(managed_app, name="managed-images")
config_app = typer.Typer(help="The werf.yaml as stagesweep reads it.", no_args_is_help=True)
app.add_typer(config_app, name="config")
server_app = typer.Typer(help="The local Prefect server the CLI starts on first use.", no_args_is_help=True)
app.add_typer(server_app, name="server")
fleet_app = typer.Typer(help="Many projects in one run, from a fleet file.", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", envvar=DEBUG_ENV, help="Show full tracebacks and Prefect's own log lines.")
    ] = False,
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "true"


#: what each command leaves out of its settings model's options
HOST_EXCLUDED = o.REGISTRY | {"batch_size", "max_deletions", "parallel_tasks_limit"}
HOST_PURGE_EXCLUDED = HOST_EXCLUDED | {
    "docker_storage_path",
    "allowed_docker_storage_volume_usage",
    "allowed_docker_storage_volume_usage_margin",
    "allowed_local_cache_volume_usage",
    "allowed_local_cache_volume_usage_margin",
}
#: werf 1.2 / 2.x options a v1.1-only command leaves out (it keeps --repo, to refuse it by name)
V11_ONLY_EXCLUDED = {"final_repo", "keep_list"}


def _settings(command: str, model: type, kw: dict[str, Any], **extra: Any) -> Any:
    """The command's settings, or a usage error (exit 2) when its storage addresses don't fit."""
    settings = o.settings_from(model, kw, **extra)
    problem = address_problem(settings, command) if isinstance(settings, CommonSettings) else None
    if problem:
        raise UsageError(
            problem, hint=f"See `stagesweep {command.replace('-', ' ', 1) if command in V11_ONLY else command} --help`."
        )
    return settings


def _run(command: Command, model: type, kw: dict[str, Any], **extra: Any) -> int:
    return run_command(command, _settings(command.value, model, kw, **extra))


@app.command("cleanup")
@guard
@o.settings_options(CleanupSettings, werf=True)
def cleanup(**kw: Any) -> int:
    """Cleanup by git-history keep policies: a werf 1.2 / 2.x --repo (werf v2's cleanup), or werf
    v1.1's images cleanup then stages cleanup."""
    return _run(Command.CLEANUP, CleanupSettings, kw)


@images_app.command("cleanup")
@guard
@o.settings_options(CleanupSettings, exclude=V11_ONLY_EXCLUDED)
def images_cleanup(**kw: Any) -> int:
    """Delete images-repo tags no keep policy and no Kubernetes workload protects."""
    return _run(Command.IMAGES_CLEANUP, CleanupSettings, kw)


@stages_app.command("cleanup")
@guard
@o.settings_options(CleanupSettings, exclude=o.GIT | o.KUBE | V11_ONLY_EXCLUDED)
def stages_cleanup(**kw: Any) -> int:
    """Delete stages that no image in the images repo needs (outside the grace window)."""
    return _run(Command.STAGES_CLEANUP, CleanupSettings, kw)


@app.command("purge")
@guard
@o.settings_options(PurgeSettings, werf=True)
def purge(**kw: Any) -> int:
    """Delete every werf image of the project, then every stage and record (of --repo, or of the
    v1.1 storages). No Kubernetes check."""
    return _run(Command.PURGE, PurgeSettings, kw)


@images_app.command("purge")
@guard
@o.settings_options(PurgeSettings, exclude={"force"} | V11_ONLY_EXCLUDED)
def images_purge(**kw: Any) -> int:
    """Delete every werf tag of every managed image in the images repo (foreign tags stay)."""
    return _run(Command.IMAGES_PURGE, PurgeSettings, kw)


@stages_app.command("purge")
@guard
@o.settings_options(PurgeSettings, exclude={"images_repo"} | V11_ONLY_EXCLUDED)
def stages_purge(**kw: Any) -> int:
    """Delete every stage, rejected marker, metadata and managed-image record."""
    return _run(Command.STAGES_PURGE, PurgeSettings, kw)


@host_app.command("cleanup")
@guard
@o.settings_options(HostSettings, exclude=HOST_EXCLUDED | {"force"})
def host_cleanup(**kw: Any) -> int:
    """Free a build host: werf build containers, dangling and least-recently-used werf images, old cache files."""
    return _run(Command.HOST_CLEANUP, HostSettings, kw)


@host_app.command("purge")
@guard
@o.settings_options(HostSettings, exclude=HOST_PURGE_EXCLUDED)
def host_purge(**kw: Any) -> int:
    """Remove all werf containers and images of this host and stagesweep's home data."""
    return _run(Command.HOST_PURGE, HostSettings, kw)


@managed_app.command("ls")
@guard
@o.settings_options(CommonSettings, exclude={"images_repo"})
def managed_ls(**kw: Any) -> int:
    """List managed images (`~` is the nameless image)."""
    from cli.managed import list_managed_images

    return list_managed_images(_settings("managed-images", CommonSettings, kw))


@managed_app.command("add")
@guard
@o.settings_options(CommonSettings, exclude={"images_repo"})
def managed_add(name: Annotated[str, typer.Argument(help="Image name (`~` for the nameless image).")], **kw: Any) -> int:
    """Add a managed image record."""
    from cli.managed import add_managed_image

    return add_managed_image(name, _settings("managed-images", CommonSettings, kw))


@managed_app.command("rm")
@guard
@o.settings_options(ManagedImagesRmSettings, exclude={"images_repo"})
def managed_rm(names: Annotated[list[str], typer.Argument(help="Image names (`~` for the nameless image).")], **kw: Any) -> int:
    """Remove managed image records (an audited run)."""
    return _run(Command.MANAGED_IMAGES_RM, ManagedImagesRmSettings, kw, names=list(names))


@app.command("apply")
@guard
@o.settings_options(ApplySettings)
def apply(
    audit_file: Annotated[str, typer.Argument(help="Audit Parquet file of the run to apply.")],
    **kw: Any,
) -> int:
    """Execute the would-delete rows of a reviewed dry-run audit (or retry the failed rows of a
    run), re-checking every row at apply time."""
    return _run(Command.APPLY, ApplySettings, kw, audit_file=audit_file)


@config_app.command("render")
@guard
def config_render(
    dir: Annotated[str, o.opt("dir", CommonSettings.model_fields["dir"].description or "")] = ".",
    config: Annotated[str, o.opt("config", CommonSettings.model_fields["config"].description or "")] = "werf.yaml",
    env: Annotated[str, o.opt("env", CommonSettings.model_fields["env"].description or "")] = "",
    repo: Annotated[
        str,
        o.opt("repo", "Read it as a cleanup of this werf 1.2/2.x repository reads it: werf 2.x's rules (toYaml, WERF_ENV, …)."),
    ] = "",
) -> int:
    """Print the werf.yaml rendered as werf renders it (Go templates, .werf partials, env):
    exactly what stagesweep reads."""
    from cli.werf_yaml import print_rendered_config

    return print_rendered_config(dir, config, env, werf2=bool(repo))


@server_app.command("status")
@guard
def server_status() -> int:
    """Say whether the local Prefect server answers, and its UI address."""
    from cli import prefect_env

    api = prefect_env.local_server()
    up = prefect_env.healthy(api, timeout=1.0)
    typer.echo(f"{'running' if up else 'not running'}: {api.removesuffix('/api')}")
    return 0 if up else 1


@server_app.command("stop")
@guard
def server_stop() -> int:
    """Stop the local Prefect server the CLI started (runs stay in its database)."""
    from cli import prefect_env

    stopped = prefect_env.stop_local_server()
    typer.echo("stopped the local Prefect server" if stopped else "no local Prefect server started by stagesweep is running")
    return 0


@server_app.command("automations")
@guard
def server_automations(
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook-url",
            envvar="STAGESWEEP_ALERT_WEBHOOK_URL",
            help="Where failed or crashed runs are notified (a Slack incoming webhook, any JSON webhook).",
        ),
    ] = None,
) -> int:
    """Create or update stagesweep's Prefect automations (deployments/automations.yaml): runs that
    stop sending heartbeats are marked Crashed; failed or crashed runs are notified."""
    from cli import prefect_env
    from coordination.automations import apply_automations

    api = prefect_env.configure(autostart=False)
    if api == "ephemeral":
        typer.echo("no Prefect server answers: set PREFECT_API_URL", err=True)
        return 1
    for line in apply_automations(webhook_url=webhook_url):
        typer.echo(line)
    return 0


@app.command("report")
@guard
def report(
    source: Annotated[
        str, typer.Argument(help="Audit file, audit directory or its URI (file://, s3://).", envvar="STAGESWEEP_AUDIT_DIR")
    ] = DEFAULT_AUDIT_DIR,
    run: Annotated[Optional[str], o.opt("run", "Only this run id.")] = None,
    format: Annotated[str, o.opt("format", "Output: table, json or csv.")] = "table",
    table: Annotated[Optional[str], o.opt("table", "Only this table: runs, reasons, images, largest_kept or failures.")] = None,
    html: Annotated[Optional[str], o.opt("html", "Write one self-contained HTML report with charts to FILE.")] = None,
    repo: Annotated[
        Optional[str], o.opt("repo", "Only the rows of this repository (a --repo or --final-repo address, or any storage's).")
    ] = None,
) -> int:
    """Per-run counts by action, reason and outcome, reclaimable bytes, images, the largest kept
    items and failures, newest run first; as a table, JSON, CSV or an HTML page."""
    from cli.report import print_report

    return print_report(source, run, format, table, html, repo)


@fleet_app.command("cleanup")
@guard
def fleet_cleanup(
    fleet_file: Annotated[str, typer.Argument(help="The fleet file (YAML): defaults, projects, registries.")],
    dry_run: Annotated[bool, o.opt("dry_run", "Plan and audit every project; delete nothing.")] = False,
    projects: Annotated[Optional[str], o.opt("projects", "Only these projects of the fleet file, comma-separated (A,B).")] = None,
    work_pool: Annotated[
        Optional[str],
        o.opt("work_pool", "Run each project on this Prefect work pool (every worker takes projects); else in this process."),
    ] = None,
    audit_dir: Annotated[
        str, o.opt("audit_dir", "Audit store of every project: a directory or a URI (s3://bucket/prefix, file://).")
    ] = DEFAULT_AUDIT_DIR,
) -> int:
    """Cleanup of every project of a fleet file, each project its own child flow run; a project
    that fails fails alone (exit 3 when any did)."""
    from cli.fleet import run_fleet
    from schemas.fleet import FleetRunSettings

    names = [n.strip() for n in (projects or "").split(",") if n.strip()]
    settings = FleetRunSettings(fleet_file=fleet_file, dry_run=dry_run, projects=names, work_pool=work_pool, audit_dir=audit_dir)
    return run_fleet(settings)


@app.command("serve")
@guard
def serve(
    prefect_file: Annotated[
        Optional[str], o.opt("prefect_file", "The prefect.yaml to serve (default: deployments/prefect.yaml).")
    ] = None,
) -> int:
    """Serve the deployments of deployments/prefect.yaml (nightly cleanup, ad-hoc purge, ...)
    from this process, for teams without a work pool and workers."""
    from cli.serve import serve_deployments

    return serve_deployments(prefect_file)


@app.command("demo")
@guard
def demo() -> int:
    """Build a temp git repo and OCI-layout stores, run a dry run and a real cleanup, and show
    what was kept and deleted and why."""
    from cli.demo import run_demo

    return run_demo()


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C a command's exit came from (the command line turns it into exit code 130)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None or isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _say_interrupted(exc: KeyboardInterrupt) -> None:
    """One line for an interrupted command, and what the command did about it on the way out."""
    print("\n".join(["stagesweep: interrupted", *getattr(exc, "__notes__", ())]), file=sys.stderr)


# werf's option syntax and a --help that never truncates a name, for every command
use_everywhere(app)


def main() -> None:
    one_command_process()
    code: object = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:
            _say_interrupted(interrupt)
    except KeyboardInterrupt as exc:
        _say_interrupted(exc)
        code = 130
    exit_now(code)


if __name__ == "__main__":
    main()
