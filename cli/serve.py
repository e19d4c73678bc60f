"""`stagesweep serve`: the deployments of deployments/prefect.yaml served from one process.

The YAML file is the one source of truth for names, entrypoints, schedules, concurrency limits
and parameters; `prefect deploy --all --prefect-file deployments/prefect.yaml` reads the same
file for work-pool deployments. `{{ $NAME }}` placeholders are replaced with environment
variables when serving starts, as `prefect deploy` does when deploying. Flow runs execute in
subprocesses, so everything a run needs travels in its parameters or the environment.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas.errors import ConfigError, StagesweepError

PREFECT_FILE_ENV = "STAGESWEEP_PREFECT_FILE"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"

_PLACEHOLDER = re.compile(r"{{\s*([\w.\-\[\]$]+)\s*}}")


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of the `deployments:` list, placeholders resolved."""

    name: str
    entrypoint: str  # "flows/cleanup.py:cleanup"
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    concurrency_limit: int | dict[str, Any] | None = None
    enforce_parameter_schema: bool = True
    paused: bool | None = None


def prefect_file_path(prefect_file: str | os.PathLike | None = None) -> Path:
    """The deployments file: the argument, else $STAGESWEEP_PREFECT_FILE, else the project's."""
    return Path(prefect_file or os.environ.get(PREFECT_FILE_ENV) or DEFAULT_PREFECT_FILE).expanduser()


def resolve_env_placeholders(value: Any, environ: Mapping[str, str], *, where: str = "") -> Any:
    """Replace every `{{ $NAME }}` in the strings of `value` with `environ[NAME]`.

    Raises ConfigError naming every unset variable and the keys that use it, and for any other
    kind of placeholder (blocks, Prefect variables, step outputs), which serving cannot resolve.
    """
    missing: dict[str, list[str]] = {}
    unsupported: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, str):
            return node

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if not name.startswith("$"):
                unsupported.append(f"{path}: {match.group(0)}")
                return match.group(0)
            var = name[1:]
            if var not in environ:
                missing.setdefault(var, []).append(path)
                return match.group(0)
            return environ[var]

        return _PLACEHOLDER.sub(substitute, node)

    resolved = walk(value, where)
    if missing:
        lines = "; ".join(
            f"{var} (at {paths[0]}{f' and {len(paths) - 1} more' if len(paths) > 1 else ''})"
            for var, paths in sorted(missing.items())
        )
        raise ConfigError(
            f"environment variables not set: {lines}",
            hint="Set them (see deployments/README.md) and start again.",
        )
    if unsupported:
        raise ConfigError(
            f"placeholders other than {{{{ $ENV_VAR }}}} cannot be resolved when serving: {'; '.join(unsupported)}",
            hint="Use environment variables, or deploy to a work pool with `prefect deploy`.",
        )
    return resolved


def load_deployment_specs(
    prefect_file: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None
) -> list[DeploymentSpec]:
    """Parse the deployments file (YAML anchors and merge keys included) into specs."""
    path = prefect_file_path(prefect_file)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            "deployments file not found",
            file=str(path),
            hint=f"Set {PREFECT_FILE_ENV} to the deployments file to serve.",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=str(path)) from None
    entries = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError("expected a non-empty list of deployments", file=str(path), path="deployments")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("entrypoint"):
            raise ConfigError("expected a mapping with `name` and `entrypoint`", file=str(path), path=f"deployments[{index}]")
    try:
        entries = resolve_env_placeholders(entries, os.environ if environ is None else environ, where="deployments")
    except ConfigError as exc:
        raise ConfigError(exc.message, file=str(path), hint=exc.hint) from None
    specs = []
    for entry in entries:
        specs.append(
            DeploymentSpec(
                name=entry["name"],
                entrypoint=entry["entrypoint"],
                description=entry.get("description"),
                tags=list(entry.get("tags") or []),
                schedules=list(entry.get("schedules") or []),
                parameters=dict(entry.get("parameters") or {}),
                concurrency_limit=entry.get("concurrency_limit"),
                enforce_parameter_schema=bool(entry.get("enforce_parameter_schema", True)),
                paused=entry.get("paused"),
            )
        )
    return specs


def load_flow(entrypoint: str):
    """The flow object of `path/to/module.py:function` (imported as a module of this project)."""
    file_part, _, attr = entrypoint.partition(":")
    if not attr or not file_part.endswith(".py"):
        raise ConfigError(f"entrypoint {entrypoint!r} is not of the form path/to/file.py:flow_function")
    module_name = file_part.removesuffix(".py").replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"entrypoint {entrypoint!r}: module {module_name} cannot be imported ({exc})") from None
    flow = getattr(module, attr, None)
    if flow is None or not hasattr(flow, "to_deployment"):
        raise ConfigError(f"entrypoint {entrypoint!r}: {module_name} has no flow named {attr!r}")
    return flow


def _schedule(config: dict[str, Any], where: str):
    from prefect.schedules import Cron, Interval, RRule

    common = {
        "timezone": config.get("timezone"),
        "active": config.get("active", True),
        "parameters": config.get("parameters") or {},
        "slug": config.get("slug"),
    }
    if config.get("cron"):
        return Cron(config["cron"], day_or=config.get("day_or", True), **common)
    if config.get("interval"):
        anchor = config.get("anchor_date")
        return Interval(
            dt.timedelta(seconds=config["interval"]) if isinstance(config["interval"], (int, float)) else config["interval"],
            anchor_date=dt.datetime.fromisoformat(anchor) if isinstance(anchor, str) else anchor,
            **common,
        )
    if config.get("rrule"):
        return RRule(config["rrule"], **common)
    raise ConfigError("a schedule needs one of cron, interval or rrule", path=where)


def build_deployments(specs: list[DeploymentSpec]) -> list:
    """Runner deployments for `prefect.serve`; each spec's parameters are validated against its
    flow's settings model first, so a bad value stops serving now rather than a run at night."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.deployments.runner import EntrypointType
    from prefect.exceptions import ParameterTypeError, SignatureMismatchError

    deployments = []
    for spec in specs:
        flow = load_flow(spec.entrypoint)
        try:
            flow.validate_parameters(spec.parameters)
        except (ParameterTypeError, SignatureMismatchError) as exc:
            raise ConfigError(
                f"deployment {spec.name!r}: parameters do not fit flow {flow.name!r}: {exc}",
                hint="Fix them in the deployments file or in the environment variables it reads.",
            ) from None
        limit = spec.concurrency_limit
        if isinstance(limit, dict):
            limit = ConcurrencyLimitConfig(**limit)
        deployments.append(
            flow.to_deployment(
                name=spec.name,
                description=spec.description,
                tags=spec.tags,
                parameters=spec.parameters,
                schedules=[_schedule(s, f"{spec.name}.schedules[{i}]") for i, s in enumerate(spec.schedules)],
                concurrency_limit=limit,
                enforce_parameter_schema=spec.enforce_parameter_schema,
                paused=spec.paused,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return deployments


def serve_deployments(prefect_file: str | os.PathLike | None = None) -> int:
    """Serve every deployment of the deployments file until interrupted; the exit code."""
    from cli import prefect_env

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # runs' logs reach the UI
    api = prefect_env.configure(autostart=False)
    if api == "ephemeral":
        raise StagesweepError(
            "stagesweep serve needs a running Prefect server: none answers at "
            f"{os.environ.get('STAGESWEEP_PREFECT_SERVER', prefect_env.DEFAULT_LOCAL_SERVER)}",
            hint="Start one with `prefect server start --background`, or set PREFECT_API_URL.",
        )
    deployments = build_deployments(load_deployment_specs(prefect_file))
    from prefect import serve

    from coordination.automations import apply_automations

    try:
        for line in apply_automations():
            print(f"automation {line}", file=sys.stderr)
    except Exception as exc:
        print(f"could not create stagesweep's Prefect automations: {exc}", file=sys.stderr)

    print(f"serving {len(deployments)} deployments on {api}; Ctrl-C stops", file=sys.stderr)
    try:
        serve(*deployments)
    except KeyboardInterrupt:
        pass
    return 0
