"""CLI options made from the settings models (SPEC §9): each field of a command's pydantic model
becomes `--field-name` with the field's description as help, its default, its bounds and the
environment variable `STAGESWEEP_FIELD_NAME`, so a fact about an option is written once. werf v2's
name of an option and its `WERF_*` variables (read after `STAGESWEEP_*`) come from
`cli.werf_options`, and each option is shown in its group of `--help` (`PANELS`).

`settings_options(Model, ...)` gives a command written as `def cmd(**kw)` those parameters;
`settings_from` builds the settings from them, with where each option came from.
"""

from __future__ import annotations

import enum
import inspect
import sys
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Optional, TypeVar

import annotated_types
import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from typer._click import core as click_core  # Typer's own copy of click: its contexts
from typer._click.globals import get_current_context

from cli import werf_options
from schemas.settings import CommonSettings, GitSettings, KubeSettings, RegistrySettings, RunSettings

F = TypeVar("F", bound=Callable[..., Any])

#: fields that are never options: they come from werf.yaml or are command arguments
NOT_OPTIONS = frozenset({"project", "names", "audit_file", "registry_limits", "option_sources"})
#: field groups, to leave a whole group out of a command
REGISTRY = frozenset(RegistrySettings.model_fields)
GIT = frozenset(GitSettings.model_fields)
KUBE = frozenset(KubeSettings.model_fields)
REPOS = frozenset({"images_repo", "images_repo_mode"})
PROJECT_ONLY = frozenset(CommonSettings.model_fields) - frozenset(RunSettings.model_fields)


#: the groups of `--help`; an option of no group is in the last
STORAGE, GIT_PANEL, KUBE_PANEL, REGISTRY_PANEL, RUN_PANEL, HOST_PANEL = (
    "Storage",
    "Git and werf.yaml",
    "Kubernetes",
    "Registry",
    "Run",
    "Host",
)
PANELS: dict[str, str] = {
    **{f: STORAGE for f in ("repo", "final_repo", "stages_storage", "images_repo", "images_repo_mode")},
    **{f: GIT_PANEL for f in ("dir", "config", "env", "git_url", "config_ref", *GitSettings.model_fields)},
    **{f: KUBE_PANEL for f in KubeSettings.model_fields},
    **{f: REGISTRY_PANEL for f in RegistrySettings.model_fields},
    **{f: REGISTRY_PANEL for f in ("repo_implementation", "images_repo_implementation", "stages_storage_repo_implementation")},
    **{
        f: HOST_PANEL
        for f in (
            "docker_storage_path",
            "allowed_docker_storage_volume_usage",
            "allowed_docker_storage_volume_usage_margin",
            "allowed_local_cache_volume_usage",
            "allowed_local_cache_volume_usage_margin",
        )
    },
}


def env_name(field: str) -> str:
    return "STAGESWEEP_" + field.upper()


def env_names(field: str) -> list[str]:
    """The variables an option reads, the first set wins: `STAGESWEEP_*`, then werf's."""
    return [env_name(field), *werf_options.WERF_ENV.get(field, ())]


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def opt(field: str, help: str, **kw: Any) -> Any:
    """A Typer option named after a field (and werf's name of it), reading its environment
    variables, in its group of `--help`."""
    names = [option_name(field), *werf_options.ALIASES.get(field, ())]
    envvar: str | list[str] = env_names(field) if field in werf_options.WERF_ENV else env_name(field)
    kw.setdefault("rich_help_panel", PANELS.get(field, RUN_PANEL))
    return typer.Option(*names, envvar=envvar, help=help, show_envvar=True, **kw)


def werf_parameters() -> list[inspect.Parameter]:
    """werf's options that have no settings field (`cli.werf_options`): honoured, ignored with a
    note, or refused; all in the werf compatibility group of `--help`."""
    out = []
    for option in werf_options.ALL:
        kind: Any = Optional[list[str]] if option.multiple else Optional[str]
        info = typer.Option(
            *option.names,
            envvar=list(option.envvars) or None,
            help=option.help,
            show_envvar=bool(option.envvars),
            rich_help_panel=option.panel,
            metavar="BOOL" if option.flag else None,
        )
        out.append(
            inspect.Parameter(option.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, info])
        )
    return out


def _plain(annotation: Any) -> tuple[Any, bool]:
    """The annotation Typer can take, and whether the field may be None."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


#: fields whose werf option takes 0 or less for "no limit" (their maximum here)
NO_LIMIT_BELOW_ONE = frozenset({"parallel_tasks_limit"})


def _bounds(name: str, info: FieldInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in info.metadata:
        if name in NO_LIMIT_BELOW_ONE and isinstance(m, annotated_types.Ge):
            continue
        if isinstance(m, annotated_types.Ge):
            out["min"] = m.ge
        elif isinstance(m, annotated_types.Le):
            out["max"] = m.le
    return out


def field_parameter(name: str, info: FieldInfo, *, required: bool = False) -> inspect.Parameter:
    kind, optional = _plain(info.annotation)
    if typing.get_origin(kind) is list:
        default: Any = None
        kind = list[typing.get_args(kind)[0]]
        kind = typing.Optional[kind]
    elif info.is_required() or required:
        default = inspect.Parameter.empty
    else:
        default = info.get_default(call_default_factory=True)
        if isinstance(default, enum.Enum):
            default = default.value
        if optional:
            kind = typing.Optional[kind]
    annotation = Annotated[kind, opt(name, info.description or "", **_bounds(name, info))]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def option_fields(model: type[BaseModel], exclude: Iterable[str] = ()) -> list[str]:
    skip = NOT_OPTIONS | set(exclude)
    return [name for name in model.model_fields if name not in skip]


def settings_options(
    model: type[BaseModel], *, exclude: Iterable[str] = (), required: Iterable[str] = (), werf: bool = False
) -> Callable[[F], F]:
    """Add an option for every field of `model` (but `exclude`) to a command `def cmd(..., **kw)`.
    `required` makes optional fields required on this command (e.g. the images repo of cleanup);
    `werf` adds werf's options that have no field (`werf_parameters`)."""
    must = set(required)

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        names = {p.name for p in own}
        added = [
            field_parameter(name, model.model_fields[name], required=name in must)
            for name in option_fields(model, exclude)
            if name not in names
        ]
        if werf:
            added += werf_parameters()
        fn.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        fn.__annotations__ = {**fn.__annotations__, **{p.name: p.annotation for p in added}}
        return fn

    return decorate


def settings_from(model: type[BaseModel], kw: dict[str, Any], **extra: Any) -> Any:
    """The settings model of a command from its options (unset ones take the model's default):
    werf's options turned into fields (a refused one is a usage error; an ignored one prints a
    note), and where each option came from kept in the settings' `option_sources`."""
    ctx = get_current_context(silent=True)
    values = dict(kw)
    sources = option_sources(ctx, values) if ctx is not None else {}
    for note in werf_options.translate(values, sources):
        print(note, file=sys.stderr)
    for name in NO_LIMIT_BELOW_ONE:
        value = values.get(name)
        if name in model.model_fields and value is not None and value < 1:
            values[name] = next(m.le for m in model.model_fields[name].metadata if isinstance(m, annotated_types.Le))
    values = {k: v for k, v in values.items() if k in model.model_fields and v is not None}
    if "option_sources" in model.model_fields and sources:
        values["option_sources"] = {k: v for k, v in sources.items() if k in model.model_fields or k.startswith("--")}
    return model(**values, **extra)


#: where a command's option value came from, in the run's metadata
COMMAND_LINE, DEFAULT = "command line", "default"


def option_sources(ctx: click_core.Context, values: dict[str, Any]) -> dict[str, str]:
    """Parameter name → where its value came from: `command line` (with werf's spelling when
    that was used), the environment variable that gave it, or `default`."""
    spelled = ctx.meta.get(SPELLINGS_KEY, {})
    out: dict[str, str] = {}
    for param in ctx.command.params:
        if param.name not in values:
            continue
        source = ctx.get_parameter_source(param.name)
        if source is click_core.ParameterSource.COMMANDLINE:
            used = spelled.get(param.name)
            out[param.name] = f"{COMMAND_LINE} ({used})" if used and used != param.opts[0] else COMMAND_LINE
        elif source is click_core.ParameterSource.ENVIRONMENT:
            out[param.name] = werf_options.environment_source(param.envvar)
        else:
            out[param.name] = DEFAULT
    return out


#: ctx.meta key: parameter name → the option name used on the command line (`cli.sweep_command`)
SPELLINGS_KEY = "stagesweep.spellings"
