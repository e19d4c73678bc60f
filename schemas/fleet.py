"""The fleet file: many projects cleaned by one run (`stagesweep fleet cleanup FILE`).

```yaml
defaults:                      # any cleanup settings field, for every project
  keep_stages_built_within_last_n_hours: 4
  without_kube: true
projects:
  - name: acme                 # unique; the audit's project= partition and the child run's name
    git: https://git.example.com/acme.git
    images_repo: registry.example.com/acme
    stages_storage: registry.example.com/acme/stages
    config_ref: release
  - name: beta                 # a werf 1.2 / 2.x project: one repository
    git: https://git.example.com/beta.git
    repo: registry.example.com/beta/app        # any cleanup settings field overrides the defaults
    kube_config_secret: acme-kubeconfig        # credentials by reference: Prefect Secret blocks,
    registry_secret: [registry.example.com=acme-registry]  # read by the project's run
registries:                    # per registry host, shared by every worker of the fleet
  registry.example.com:
    max_concurrent_requests: 8
    requests_per_second: 50    # optional
```

Errors name the file, the project and the key. A credential's value (a kubeconfig, a token, a
password, a Docker config's auths) is refused wherever it stands: the file names the Prefect
Secret blocks that hold them, or the machines that run the projects have them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.credentials import credentials_in
from schemas.errors import ConfigError, StagesweepError
from schemas.settings import DEFAULT_AUDIT_DIR, CleanupSettings, RegistryLimit

#: keys a project may have, and the settings field each one fills: `git`, and its storages —
#: werf v1.1's `images_repo` and `stages_storage`, or werf 1.2 / 2.x's `repo` (and `final_repo`)
PROJECT_KEYS = {
    "git": "git_url",
    "images_repo": "images_repo",
    "stages_storage": "stages_storage",
    "repo": "repo",
    "final_repo": "final_repo",
}
#: the storages a project of each format must name
V11_STORAGES = ("images_repo", "stages_storage")
WERF2_STORAGES = ("repo",)
#: settings no fleet file may set: each project has its own, or the fleet run sets them
NOT_IN_FLEET = frozenset({"git_url", "dir", "save_cleanup_report"})
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


def _refuse_credentials(file: str, data: dict[str, Any]) -> None:
    """A fleet file is kept in git and its values become Prefect parameters: a credential in it —
    under a key that names one (`kube_config_base64`, `password`, `token`, `auths`, …), or as a
    value (a kubeconfig, a Docker config, a private key, a token, a URL with a password) — stops
    the run before anything runs, saying where the credential goes instead. The value is never
    quoted."""
    for path, hint in credentials_in(data):
        raise ConfigError(
            "a credential's value, which a fleet file never holds (it is kept in git and passed on as Prefect parameters)",
            file=file,
            path=path,
            hint=f"{hint}; nothing was run.",
        )


RegistryLimits = RegistryLimit


class FleetProject(BaseModel):
    """One project of the fleet: its name and its cleanup settings (defaults merged in)."""

    model_config = ConfigDict(frozen=True)

    name: str
    settings: CleanupSettings

    @property
    def registry_hosts(self) -> list[str]:
        addresses = (self.settings.stages_storage, self.settings.images_repo, self.settings.repo, self.settings.final_repo)
        hosts = {registry_host(address) for address in addresses}
        return sorted(h for h in hosts if h)


class Fleet(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    projects: list[FleetProject]
    registries: dict[str, RegistryLimits] = Field(default_factory=dict)

    def project(self, name: str) -> FleetProject:
        for p in self.projects:
            if p.name == name:
                return p
        raise KeyError(name)

    def select(self, names: list[str] | None) -> list[FleetProject]:
        """The projects named (all when none), in the file's order; an unknown name is an error."""
        if not names:
            return list(self.projects)
        known = {p.name for p in self.projects}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"no project {', '.join(map(repr, unknown))} in the fleet file",
                file=self.file,
                hint=f"Its projects: {', '.join(sorted(known))}.",
            )
        wanted = set(names)
        return [p for p in self.projects if p.name in wanted]


def registry_host(address: str | None) -> str | None:
    """The registry host of a storage address (``HOST[:PORT]/PATH``); None for ``oci:`` and ``:local``."""
    if not address or address.startswith(("oci:", ":local")):
        return None
    return address.split("/", 1)[0].lower()


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top)"


def _settings(file: str, where: str, values: dict[str, Any]) -> CleanupSettings:
    try:
        return CleanupSettings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(first["msg"], file=file, path=f"{where}.{_key(first['loc'])}") from None
    except StagesweepError as exc:  # a field's own check (e.g. a Secret block's name), which quotes no value
        raise ConfigError(exc.message, file=file, path=where, hint=exc.hint) from None


def _check_storages(file: str, where: str, entry: dict[str, Any]) -> None:
    """A project names git and either werf 1.2 / 2.x's `repo` or werf v1.1's two storages."""
    given = {key for key in PROJECT_KEYS if entry.get(key) not in (None, "")}
    if "git" not in given:
        raise ConfigError("missing (every project has git)", file=file, path=f"{where}.git")
    if "repo" in given:
        both = sorted(given & set(V11_STORAGES))
        if both:
            raise ConfigError(
                "a project has either repo (werf 1.2 / 2.x) or images_repo and stages_storage (werf v1.1), not both",
                file=file,
                path=f"{where}.{both[0]}",
            )
        return
    if "final_repo" in given:
        raise ConfigError("final_repo needs repo (werf 1.2 / 2.x)", file=file, path=f"{where}.final_repo")
    for key in V11_STORAGES:
        if key not in given:
            raise ConfigError(
                "missing (a project has repo for werf 1.2 / 2.x, or images_repo and stages_storage for werf v1.1)",
                file=file,
                path=f"{where}.{key}",
            )


def parse_fleet(text: str, *, file: str) -> Fleet:
    """The fleet file's text as a `Fleet`: every project's settings validated with the defaults."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with defaults:, projects: and registries:", file=file)
    _refuse_credentials(file, data)
    unknown = set(data) - {"defaults", "projects", "registries"}
    if unknown:
        raise ConfigError("unknown key (expected defaults, projects, registries)", file=file, path=sorted(unknown)[0])
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError("expected a mapping of cleanup settings", file=file, path="defaults")
    for key in defaults:
        if key not in CleanupSettings.model_fields or key in NOT_IN_FLEET or key in PROJECT_KEYS.values():
            raise ConfigError("not a settings field a fleet's defaults can set", file=file, path=f"defaults.{key}")
    projects_data = data.get("projects")
    if not isinstance(projects_data, list) or not projects_data:
        raise ConfigError("expected a list of projects", file=file, path="projects")
    projects: list[FleetProject] = []
    for index, entry in enumerate(projects_data):
        if not isinstance(entry, dict):
            raise ConfigError("expected a mapping", file=file, path=f"projects[{index}]")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                "each project needs a name of lower-case letters, digits, '.', '_' or '-'",
                file=file,
                path=f"projects[{index}].name",
            )
        where = f"projects[{name}]"
        if any(p.name == name for p in projects):
            raise ConfigError("a second project of this name; names are unique", file=file, path=f"{where}.name")
        values: dict[str, Any] = dict(defaults)
        for key, value in entry.items():
            if key == "name":
                continue
            if key in PROJECT_KEYS:
                values[PROJECT_KEYS[key]] = value
            elif key in CleanupSettings.model_fields and key not in NOT_IN_FLEET:
                values[key] = value
            else:
                raise ConfigError("not a project key or a cleanup settings field", file=file, path=f"{where}.{key}")
        _check_storages(file, where, entry)
        projects.append(FleetProject(name=name, settings=_settings(file, where, values)))
    registries_data = data.get("registries") or {}
    if not isinstance(registries_data, dict):
        raise ConfigError("expected a mapping of registry host to limits", file=file, path="registries")
    registries: dict[str, RegistryLimits] = {}
    for host, limits in registries_data.items():
        try:
            registries[str(host).lower()] = RegistryLimits(**(limits or {}))
        except (TypeError, ValidationError) as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                raise ConfigError(first["msg"], file=file, path=f"registries[{host}].{_key(first['loc'])}") from None
            raise ConfigError("expected a mapping of limits", file=file, path=f"registries[{host}]") from None
    return Fleet(file=file, projects=projects, registries=registries)


class FleetRunSettings(BaseModel):
    """Settings of `fleet cleanup` (the `fleet_cleanup` flow)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fleet_file: str = Field(..., description="The fleet file (YAML): defaults, projects, registries.")
    dry_run: bool = Field(False, description="Plan and audit every project; delete nothing.")
    projects: list[str] = Field(default_factory=list, description="Only these projects of the fleet file (all when empty).")
    work_pool: str | None = Field(
        None,
        description="Run each project as a run of the per-project cleanup deployment on this work pool "
        "(every worker of the pool takes projects); without it, projects run as subflows of this process.",
    )
    audit_dir: str = Field(
        DEFAULT_AUDIT_DIR,
        description="Audit store of every project (a directory or a pyarrow URI: s3://bucket/prefix, file://...), "
        "partitioned project=/date=/.",
    )

    def project_settings(self, project: FleetProject, registry_limits: dict[str, RegistryLimit] | None = None) -> CleanupSettings:
        """A project's settings for this run: its own audit partition, the registry hosts whose
        requests hold the fleet's limits; dry run when the fleet run is."""
        updates: dict[str, Any] = {
            "audit_dir": f"{self.audit_dir.rstrip('/')}/project={project.name}",
            "registry_limits": dict(registry_limits or {}),
        }
        if self.dry_run:
            updates["dry_run"] = True
        return project.settings.model_copy(update=updates)


@dataclass
class ProjectOutcome:
    """One project of a fleet run, as the fleet's summary shows it."""

    project: str
    outcome: str  # "completed", "failed", or "crashed" (its run's process died; rerun once)
    kept: int | None = None
    deleted: int | None = None
    failed: int | None = None
    duration_s: float = 0.0
    flow_run_id: str | None = None
    error: str | None = None
    reclaimable_bytes: int | None = None  # freed once the registry's garbage collection runs
    note: str | None = None  # e.g. "not run last time: fleet run … stopped before starting it"


def fleet_markdown(
    outcomes: list[ProjectOutcome], ui_url: str | None, dry_run: bool, not_run_last_time: dict[str, str] | None = None
) -> str:
    """The fleet run's summary: a row per project with a link to its child run; the projects
    the previous fleet run never started, when it stopped first."""
    done = sum(o.outcome == "completed" for o in outcomes)
    lines = [
        f"# stagesweep fleet cleanup{' (dry run)' if dry_run else ''}",
        "",
        f"{done} of {len(outcomes)} projects completed.",
        "",
    ]
    if not_run_last_time:
        lines += [
            f"Not run last time: {', '.join(sorted(not_run_last_time))} — "
            f"{next(iter(not_run_last_time.values())).removeprefix('not run last time: ')}.",
            "",
        ]
    lines += [
        "| project | outcome | kept | deleted | failed | reclaimable bytes | duration | run |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def n(value: int | None) -> str:
        return "?" if value is None else str(value)

    for o in outcomes:
        if o.flow_run_id and ui_url:
            link = f"[{o.flow_run_id[:8]}]({ui_url.rstrip('/')}/runs/flow-run/{o.flow_run_id})"
        else:
            link = o.flow_run_id or ""
        outcome = o.outcome if not o.error else f"{o.outcome}: {o.error.splitlines()[0][:160]}"
        if o.note:
            outcome += f" ({o.note})"
        lines.append(
            f"| {o.project} | {outcome.replace('|', '/')} | {n(o.kept)} | {n(o.deleted)} | {n(o.failed)} | {n(o.reclaimable_bytes)} | {o.duration_s:.1f} s | {link} |"
        )
    return "\n".join(lines)
