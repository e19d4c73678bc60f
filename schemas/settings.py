"""One pydantic settings model per flow. Every field is described: a deployment's parameter
form and the CLI options (name, help, default, `STAGESWEEP_*` variable) are generated from these
fields, so each fact is written once.

`RunSettings` is the base of every command that can delete: dry run, audit, batches, the brake,
parallelism and how to reach registries and the Docker daemon.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.credentials import block_name_field, registry_secret_field
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import ImagesRepoMode

DEFAULT_HOME = "~/.stagesweep"
DEFAULT_AUDIT_DIR = "~/.stagesweep/audit"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistryLimit(_Settings):
    """Limits on one registry host, shared by every process that talks to it."""

    max_concurrent_requests: int = Field(
        ..., ge=1, le=10_000, description="Requests in flight to this host, all workers together."
    )
    requests_per_second: float | None = Field(None, gt=0, description="Requests started per second, all workers together.")


class RegistrySettings(_Settings):
    docker_config: str | None = Field(
        None, description="Docker config dir with registry credentials (else DOCKER_CONFIG, else ~/.docker)."
    )
    docker_config_secret: str | None = Field(
        None,
        description="Name of a Prefect Secret block holding a Docker config (config.json's JSON: auths, credential "
        "helpers), used instead of --docker-config; the run reads it from the Prefect API into a private temporary "
        "directory, removed when the run ends.",
    )
    registry_secret: list[str] = Field(
        default_factory=list,
        description="HOST[:PORT]=BLOCK: the credentials for that registry are in the Prefect Secret block BLOCK "
        "({username, password}, or USERNAME:TOKEN), read by the run from the Prefect API; they take the place of the "
        "Docker config's for that host (repeatable).",
    )
    insecure_registry: bool = Field(False, description="Use plain HTTP for registries.")
    skip_tls_verify_registry: bool = Field(False, description="Do not verify registry TLS certificates.")
    registry_ca_file: str | None = Field(None, description="Extra CA bundle (PEM) to verify registry certificates with.")
    registry_limits: dict[str, RegistryLimit] = Field(
        default_factory=dict,
        description="Registry hosts (HOST[:PORT]) whose every request holds a slot of the Prefect global concurrency "
        "limit `registry:HOST`, and, where a rate is set, one of `registry-rate:HOST`; set by a fleet run from its fleet file.",
    )

    check_docker_config_secret = field_validator("docker_config_secret")(block_name_field)
    check_registry_secret = field_validator("registry_secret")(registry_secret_field)


class RunSettings(RegistrySettings):
    """What every deleting command shares."""

    dry_run: bool = Field(False, description="Plan and audit only; delete nothing.")
    audit_dir: str = Field(DEFAULT_AUDIT_DIR, description="Directory of the Hive-partitioned Parquet audit.")
    parallel_tasks_limit: int = Field(10, ge=1, le=256, description="Concurrent registry requests.")
    max_deletions: int | None = Field(None, ge=0, description="Stop before deleting when the plan deletes more than N items.")
    batch_size: int = Field(200, ge=1, le=5000, description="Deletions per task run.")
    docker_host: str | None = Field(None, description="Docker daemon address for :local (else DOCKER_HOST).")
    home_dir: str = Field(DEFAULT_HOME, description="stagesweep's home directory (its cache/ keeps registry reads).")
    no_cache: bool = Field(False, description="Read everything from the registries; neither use nor fill <home>/cache.")
    option_sources: dict[str, str] = Field(
        default_factory=dict,
        description="Where each option of the command line came from (command line, a STAGESWEEP_* or WERF_* "
        "variable, default), kept in the run's audit metadata; set by the CLI.",
    )


class CommonSettings(RunSettings):
    """The [common] options of a project's commands (SPEC §9)."""

    project: str | None = Field(None, description="werf project name; read from the werf.yaml when not given.")
    config: str = Field("werf.yaml", description="werf.yaml path (relative to --dir).")
    dir: str = Field(".", description="Git work tree of the project.")
    git_url: str | None = Field(
        None,
        description="Read the project's git by URL instead of --dir (any URL git accepts, e.g. https://, "
        "ssh://, file://; credentials only through git's own helpers): a blob-less mirror under "
        "<home>/cache/git, fetched at each run.",
    )
    config_ref: str | None = Field(
        None,
        description="With --git-url: the branch, tag or commit to read the werf.yaml from (default: the origin's default branch).",
    )
    env: str = Field("", description="werf's --env: the value of .Env in werf.yaml templates (as in werf v1.2).")
    stages_storage: str | None = Field(
        None, description="werf v1.1 stages storage: HOST[:PORT]/PATH, oci:DIR or :local (or --repo for werf 1.2 / 2.x)."
    )
    images_repo: str | None = Field(None, description="werf v1.1 images repo: HOST[:PORT]/PATH or oci:DIR.")
    repo: str | None = Field(
        None,
        description="werf 1.2 / 2.x repository (stages, meta records and custom tags in one): HOST[:PORT]/PATH or "
        "oci:DIR; instead of --stages-storage and --images-repo.",
    )
    final_repo: str | None = Field(
        None, description="werf 1.2 / 2.x final repository (werf's --final-repo): HOST[:PORT]/PATH or oci:DIR."
    )
    images_repo_mode: ImagesRepoMode = Field(ImagesRepoMode.MULTIREPO, description="Images repo layout.")
    keep_stages_built_within_last_n_hours: float | None = Field(
        None,
        ge=0,
        description="Grace window for stages in hours (0 disables; default: werf.yaml's "
        "cleanup.keepImagesBuiltWithinLastNHours, else 2); used by cleanup and stages cleanup.",
    )
    repo_implementation: RepoImplementation = Field(
        RepoImplementation.AUTO,
        description="Registry implementation of both storages (how a tag is deleted and which credentials it needs): "
        "auto (detect from the host, then ask the registry), default, dockerhub, github, gitlab, harbor, quay, ecr, acr, gcr.",
    )
    images_repo_implementation: RepoImplementation = Field(
        RepoImplementation.AUTO, description="Registry implementation of the images repo (overrides --repo-implementation)."
    )
    stages_storage_repo_implementation: RepoImplementation = Field(
        RepoImplementation.AUTO, description="Registry implementation of the stages storage (overrides --repo-implementation)."
    )

    def implementation_option(self, storage: str) -> tuple[RepoImplementation, str]:
        """(the option's value, the option that set it) for `storage` (`images_repo`, `stages_storage`,
        or werf 1.2 / 2.x's `repo` and `final_repo`, which take --repo-implementation)."""
        if storage in ("repo", "final_repo"):
            return self.repo_implementation, "--repo-implementation"
        own = "images_repo_implementation" if storage == "images_repo" else "stages_storage_repo_implementation"
        if getattr(self, own) != RepoImplementation.AUTO:
            return getattr(self, own), "--" + own.replace("_", "-")
        return self.repo_implementation, "--repo-implementation"

    @property
    def werf2(self) -> bool:
        """The run reads werf 1.2 / 2.x's one repository (`--repo`), not v1.1's two storages."""
        return bool(self.repo)

    def config_path(self) -> Path:
        path = Path(self.config).expanduser()
        return path if path.is_absolute() else Path(self.dir).expanduser() / path


#: commands that read werf v1.1's images repo and so need --images-repo beside --stages-storage
NEEDS_IMAGES_REPO = frozenset({"cleanup", "images-cleanup", "stages-cleanup", "purge", "images-purge"})
#: v1.1-only commands: with --repo the whole-project command does the job
V11_ONLY = {"images-cleanup": "cleanup", "stages-cleanup": "cleanup", "images-purge": "purge", "stages-purge": "purge"}


def address_problem(settings: CommonSettings, command: str) -> str | None:
    """What is wrong with the storage addresses of `command` (SPEC §9, §13.1), or None."""
    v11 = [
        name for name, value in (("--stages-storage", settings.stages_storage), ("--images-repo", settings.images_repo)) if value
    ]
    if settings.repo:
        if command in V11_ONLY:
            return (
                f"`{command.replace('-', ' ')}` cleans werf v1.1 storages and does not take --repo; "
                f"for a werf 1.2 / 2.x repository run `stagesweep {V11_ONLY[command]} --repo {settings.repo}`"
            )
        if v11:
            return (
                f"--repo cannot be combined with {' or '.join(v11)}: werf 1.2 / 2.x keeps stages and images in one "
                "repository; pass --repo alone (or, for a werf v1.1 project, --stages-storage and --images-repo)"
            )
        return None
    if settings.final_repo:
        return "--final-repo needs --repo (werf 1.2 / 2.x)"
    if command == "apply":  # the storages default to the audited rows'
        return None
    if getattr(settings, "keep_list", None):
        return "--keep-list needs --repo (werf 1.2 / 2.x)"
    if not settings.stages_storage:
        return "missing --stages-storage (werf v1.1) or --repo (werf 1.2 / 2.x)"
    if command in NEEDS_IMAGES_REPO and not settings.images_repo:
        return f"`{command.replace('-', ' ')}` of a werf v1.1 project needs --images-repo beside --stages-storage"
    return None


class GitSettings(_Settings):
    git_history_synchronization: bool = Field(False, description="Fetch origin branches and tags first.")
    allow_git_shallow_clone: bool = Field(False, description="Accept a shallow clone.")


class KubeSettings(_Settings):
    without_kube: bool = Field(False, description="Do not protect images used in Kubernetes.")
    kube_config: str | None = Field(
        None,
        description="kubeconfig path (else KUBECONFIG, else ~/.kube/config, else inside a pod its service account).",
    )
    # a credential: never serialised (Prefect parameters, child runs, cache keys) nor shown
    kube_config_base64: str | None = Field(
        None,
        exclude=True,
        repr=False,
        description="The kubeconfig's content, base64-encoded (a CI variable); a credential: prefer the environment "
        "variable, it is never logged nor kept in Prefect parameters (a deployment run reads it from its environment).",
    )
    kube_config_secret: str | None = Field(
        None,
        description="Name of a Prefect Secret block holding the kubeconfig (its YAML, or base64 of it), instead of "
        "--kube-config / --kube-config-base64; the run reads it from the Prefect API and hands it to the Kubernetes "
        "client only.",
    )
    check_kube_config_secret = field_validator("kube_config_secret")(block_name_field)
    kube_context: list[str] = Field(default_factory=list, description="Only this kubeconfig context (repeatable).")
    scan_context_namespace_only: bool = Field(
        False,
        description="List each context's own namespace only (`default` when it names none), not the whole cluster; "
        "images used only in other namespaces are not protected.",
    )
    kube_scan_namespace: list[str] = Field(
        default_factory=list,
        description="List only this namespace in every scanned context (repeatable); images used only in other "
        "namespaces are not protected.",
    )


_CLEANUP_REPORT_HELP = (
    "Also write werf's JSON cleanup report (kept and deleted items) to FILE, atomically; in a dry run, what would go."
)


class CleanupSettings(CommonSettings, GitSettings, KubeSettings):
    """Settings of `cleanup`, `images cleanup` and `stages cleanup`."""

    save_cleanup_report: str | None = Field(None, description=_CLEANUP_REPORT_HELP)
    keep_list: str | None = Field(
        None,
        description="With --repo: a file of tags to keep, one per line (a stage ID or a custom tag; blank lines and "
        "# comments ignored): each protects its stage.",
    )


class PurgeSettings(CommonSettings):
    """Settings of `purge`, `images purge` and `stages purge`."""

    force: bool = Field(False, description="Also remove containers that use what is purged (:local).")
    save_cleanup_report: str | None = Field(None, description=_CLEANUP_REPORT_HELP)


class ManagedImagesRmSettings(CommonSettings):
    """Settings of `managed-images rm`."""

    names: list[str] = Field(
        ..., min_length=1, description="Image names whose managed-image records are removed (`~` = nameless image)."
    )


class ApplySettings(CommonSettings, KubeSettings):
    """Settings of `apply`: execute a reviewed dry-run audit or retry the failed rows of a run."""

    audit_file: str = Field(..., description="Audit Parquet file of the run to apply.")
    only_failed: bool = Field(False, description="Retry only the failed and started rows of that run.")
    stages_storage: str | None = Field(None, description="Stages storage (default: as audited; needed for :local).")  # type: ignore[assignment]
    images_repo: str | None = Field(None, description="Images repo (default: the audited rows' repositories).")


class HostSettings(RunSettings):
    """Settings of `host cleanup` and `host purge`."""

    dry_run: bool = Field(False, description="List what would be removed; remove nothing.")
    force: bool = Field(False, description="host purge: also remove running werf containers.")
    home_dir: str = Field(DEFAULT_HOME, description="stagesweep's home directory.")
    docker_host: str | None = Field(None, description="Docker daemon address (else DOCKER_HOST).")
    docker_storage_path: str | None = Field(
        None, description="Path whose volume usage is measured (default: the daemon's data root)."
    )
    allowed_docker_storage_volume_usage: float = Field(70, ge=0, le=100, description="Percent.")
    allowed_docker_storage_volume_usage_margin: float = Field(5, ge=0, le=100, description="Percent.")
    allowed_local_cache_volume_usage: float = Field(70, ge=0, le=100, description="Percent.")
    allowed_local_cache_volume_usage_margin: float = Field(5, ge=0, le=100, description="Percent.")
    parallel_tasks_limit: int = Field(4, ge=1, le=64, description="Concurrent removals.")
