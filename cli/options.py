"""CLI options made from the settings models (SPEC §9): each field of a command's pydantic model
becomes `--field-name` with the field's description as help, its default, its bounds and the
environment variable `STAGESWEEP_FIELD_NAME`, so a fact about an option is written once.

`settings_options(Model, ...)` gives a command written as `def cmd(**kw)` those parameters.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

import annotated_types
import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from schemas.settings import CommonSettings, GitSettings, KubeSettings, RegistrySettings, RunSettings

F = TypeVar("F", bound=Callable[..., Any])

#: fields that are never options: they come from werf.yaml or are command arguments
NOT_OPTIONS = frozenset({"project", "names", "audit_file", "registry_limits"})
#: field groups, to leave a whole group out of a command
REGISTRY = frozenset(RegistrySettings.model_fields)
GIT = frozenset(GitSettings.model_fields)
KUBE = frozenset(KubeSettings.model_fields)
REPOS = frozenset({"images_repo", "images_repo_mode"})
PROJECT_ONLY = frozenset(CommonSettings.model_fields) - frozenset(RunSettings.model_fields)


def env_name(field: str) -> str:
    return "STAGESWEEP_" + field.upper()


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def opt(field: str, help: str, **kw: Any) -> Any:
    """A Typer option named after a field, reading its environment variable."""
    return typer.Option(option_name(field), envvar=env_name(field), help=help, show_envvar=True, **kw)


def _plain(annotation: Any) -> tuple[Any, bool]:
    """The annotation Typer can take, and whether the field may be None."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def _bounds(info: FieldInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in info.metadata:
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
    annotation = Annotated[kind, opt(name, info.description or "", **_bounds(info))]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def option_fields(model: type[BaseModel], exclude: Iterable[str] = ()) -> list[str]:
    skip = NOT_OPTIONS | set(exclude)
    return [name for name in model.model_fields if name not in skip]


def settings_options(model: type[BaseModel], *, exclude: Iterable[str] = (), required: Iterable[str] = ()) -> Callable[[F], F]:
    """Add an option for every field of `model` (but `exclude`) to a command `def cmd(..., **kw)`.
    `required` makes optional fields required on this command (e.g. the images repo of cleanup)."""
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
        fn.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        fn.__annotations__ = {**fn.__annotations__, **{p.name: p.annotation for p in added}}
        return fn

    return decorate


def settings_from(model: type[BaseModel], kw: dict[str, Any], **extra: Any) -> Any:
    """The settings model of a command from its options (unset ones take the model's default)."""
    values = {k: v for k, v in kw.items() if k in model.model_fields and v is not None}
    return model(**values, **extra)
