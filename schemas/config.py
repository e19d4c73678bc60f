"""The werf.yaml model (SPEC §2): project, image names and the cleanup keep policies.

``load_werf_config(path, environ)`` reads werf.yaml the way werf does: renders it as a Go template
(``schemas.gotemplate``), splits the result on ``---`` lines, reads each section strictly and
validates it. Every problem becomes a ``ConfigError`` that names the file, the document, the key
path and the line. Durations are Go-style strings (``168h``, ``1h30m``) and become ``timedelta``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from schemas.errors import ConfigError, InvalidImageName
from schemas.gotemplate import MAIN_TEMPLATE, Rendered, Source
from schemas.gotemplate import render as render_template
from schemas.gotemplate.errors import ExecError
from schemas.keep_policies import (
    DEFAULT_KEEP_POLICIES,
    KeepPolicy,
    Limit,
    Operator,
    References,
    config_error_from,
    default_keep_policies,
    parse_keep_policies,
)
from schemas.werf_documents import (
    IMAGE_MARKERS,
    META_KEYS,
    META_SECTION_KEYS,
    DocumentProblem,
    ParsedDocument,
    parse_document,
    split_documents,
    unknown_keys,
)

__all__ = [
    "DEFAULT_KEEP_POLICIES",
    "NAMELESS",
    "NAMELESS_SHOWN",
    "KeepPolicy",
    "Limit",
    "Operator",
    "References",
    "RenderedConfig",
    "WerfConfig",
    "WerfFiles",
    "default_keep_policies",
    "load_werf_config",
    "parse_keep_policies",
    "parse_werf_config",
    "render_werf_text",
    "validate_image_name",
    "validate_rendered_config",
]

NAMELESS = ""  #: the nameless image (``image: ~``) internally
NAMELESS_SHOWN = "~"  #: how the nameless image is shown to users and in the audit
NO_VALUE = "<no value>"  #: what a Go template prints for a missing map key
NO_VALUE_HINT = "A template printed <no value>: check the key it reads (e.g. .Values.x), or use env / default."

# --- the werf.yaml file ---------------------------------------------------------------------


class WerfConfig(BaseModel):
    """What stagesweep uses from a werf.yaml."""

    model_config = ConfigDict(frozen=True)

    path: str | None = Field(None, description="The file the config was read from.")
    project: str = Field(description="werf project name (the meta section's `project`).")
    images: tuple[str, ...] = Field((), description='Image names declared in the file ("" = nameless).')
    keep_policies: tuple[KeepPolicy, ...] = Field(description="Keep policies, the default set when none given.")
    keep_policies_are_default: bool = Field(False, description="True when the default policy set applies.")
    disable_kubernetes_based_policy: bool = Field(False, description="cleanup.disableKubernetesBasedPolicy")
    allow_fetch_origin_branches_and_tags: bool = Field(
        True, description="gitWorktree.allowFetchOriginBranchesAndTags: sync with origin before reading refs."
    )
    template_env: tuple[str, ...] = Field(
        (), description="Names (never values) of the environment variables the werf.yaml templates read."
    )


class _Cleanup(BaseModel):
    model_config = ConfigDict(extra="ignore")
    keepPolicies: list[Any] | None = None
    disableKubernetesBasedPolicy: StrictBool = False


class _GitWorktree(BaseModel):
    model_config = ConfigDict(extra="ignore")
    allowFetchOriginBranchesAndTags: StrictBool = True


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore")
    project: str = Field(min_length=1)
    cleanup: _Cleanup | None = None
    gitWorktree: _GitWorktree | None = None

    @field_validator("project", mode="before")
    @classmethod
    def _project_is_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"expected the project name as a string, got {value!r}")
        if NO_VALUE in value:
            raise ValueError(f"project {value!r} comes from a template reading a missing key")
        return value


# --- reading werf.yaml: render → split → parse → validate -------------------------------------


class WerfFiles(Protocol):
    """The project files a template may read: ``.werf/**/*.tmpl`` partials and ``.Files`` targets.

    ``adapters.werf_files.ProjectFiles`` reads them from a project directory.
    """

    def read(self, path: str) -> str | None: ...

    def glob(self, pattern: str) -> Mapping[str, str]: ...

    def partials(self) -> Sequence[tuple[str, str, str]]:
        """(template name relative to .werf, text, file name for messages), in name order."""
        ...


@dataclass(frozen=True)
class RenderedConfig:
    """werf.yaml after template rendering, as ``stagesweep config render`` prints it."""

    file: str  #: the werf.yaml it came from
    text: str  #: the rendered text (the file's own bytes when it has no template actions)
    env_names: tuple[str, ...]  #: environment variables the templates read with ``env`` (sorted)
    templated: bool  #: whether the file contained template actions
    rendering: Rendered | None = field(default=None, repr=False, compare=False)

    def where(self, line: int | None) -> str:
        """'line N' in the source template for a rendered line (plus the rendered line when they differ)."""
        if line is None:
            return ""
        origin = self.rendering.origin(line) if self.rendering is not None else None
        if origin is None:
            return f"line {line}" if not self.templated else f"rendered line {line}"
        source_file, source_line = origin
        text = f"line {source_line}" + (f" of {source_file}" if source_file != self.file else "")
        return text if source_line == line and source_file == self.file else f"{text} (rendered line {line})"


class _NoFiles:
    """Stands in when no project directory was given: reading a project file is an error."""

    def read(self, path: str) -> str | None:
        raise ExecError(
            f"cannot read {path!r}: no project directory given; read the config with adapters.werf_files.load_werf_config"
        )

    def glob(self, pattern: str) -> Mapping[str, str]:
        raise ExecError(
            f"cannot glob {pattern!r}: no project directory given; read the config with adapters.werf_files.load_werf_config"
        )

    def partials(self) -> Sequence[tuple[str, str, str]]:
        return ()


def render_werf_text(
    text: str,
    *,
    file: str = "werf.yaml",
    environ: Mapping[str, str] | None = None,
    files: WerfFiles | None = None,
) -> RenderedConfig:
    """Render werf.yaml ``text`` as werf does (Go template, Sprig, werf's functions); pure.

    ``environ`` is the environment ``env`` reads (None: an empty one). Text without ``{{`` is
    returned unchanged. Raises TemplateError (a ConfigError) naming file, line, column, function.
    """
    if "{{" not in text:
        return RenderedConfig(file, text, (), False)
    project = files if files is not None else _NoFiles()
    partials = [Source(name, body, shown) for name, body, shown in project.partials()]
    rendered = render_template(
        Source(MAIN_TEMPLATE, text, file), partials, environ=environ, read_file=project.read, glob_files=project.glob
    )
    return RenderedConfig(file, rendered.text, rendered.env_names, True, rendered)


def load_werf_config(path: str | Path, environ: Mapping[str, str] | None = None, *, files: WerfFiles | None = None) -> WerfConfig:
    """Read, render and validate a werf.yaml (SPEC §2). Raises ConfigError / InvalidImageName.

    ``environ`` is what the template's ``env`` sees (None: an empty environment); ``files`` gives
    ``.werf/`` partials and ``.Files`` (see ``adapters.werf_files.load_werf_config``).
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=file, hint="Pass the werf.yaml with --config PATH.") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a werf.yaml file", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=file) from None
    return parse_werf_config(text, file=file, environ=environ, files=files)


def parse_werf_config(
    text: str, *, file: str = "werf.yaml", environ: Mapping[str, str] | None = None, files: WerfFiles | None = None
) -> WerfConfig:
    """Render and validate werf.yaml ``text``; ``file`` is used in error messages."""
    return validate_rendered_config(render_werf_text(text, file=file, environ=environ, files=files))


def validate_rendered_config(rendered: RenderedConfig) -> WerfConfig:
    """Split a rendered werf.yaml into sections, read each strictly and validate what stagesweep uses."""
    file = rendered.file
    meta: _Meta | None = None
    meta_document: int | None = None
    images: list[str] = []
    for document in split_documents(rendered.text):
        if document.is_empty:
            continue
        number = document.number
        try:
            parsed = parse_document(document)
        except DocumentProblem as problem:
            where = rendered.where(problem.line)
            message = problem.message.replace("invalid YAML: ", f"invalid YAML at {where}: ") if where else problem.message
            if where and not message.startswith("invalid YAML"):
                message = f"{where}: {message}"
            raise ConfigError(message, file=file, document=number) from None
        data = parsed.data
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping (key: value), got {type(data).__name__}", file=file, document=number)
        if "project" in data or "configVersion" in data:
            _check_meta_keys(parsed, rendered)
            if meta is not None:
                raise ConfigError(
                    f"a second meta section (first in document {meta_document}); werf allows one",
                    file=file,
                    document=number,
                )
            if "configVersion" in data and (type(data["configVersion"]) is not int or data["configVersion"] != 1):
                raise ConfigError(
                    f"got {data['configVersion']!r}; expected configVersion: 1", file=file, document=number, path="configVersion"
                )
            try:
                meta = _Meta.model_validate(data)
            except ValidationError as exc:
                raise config_error_from(exc, file=file, document=number) from None
            meta_document = number
        elif any(marker in data for marker in IMAGE_MARKERS):
            if "image" in data:
                for name in _image_names(data["image"], file=file, document=number):
                    if name in images:
                        raise ConfigError(
                            f"image {name or NAMELESS_SHOWN!r} is declared twice; image names must be unique",
                            file=file,
                            document=number,
                            path="image",
                        )
                    images.append(name)
        else:
            first = next(iter(data), "")
            raise ConfigError(
                f"unknown section at {rendered.where(parsed.line_of(str(first)))}: werf reads a meta section "
                "(project:, configVersion:), image (image:) and artifact (artifact:) sections; "
                f"this one has {', '.join(f'`{k}`' for k in data)}",
                file=file,
                document=number,
                path=str(first),
                hint="Keys such as cleanup: belong in the meta section, the one with project:.",
            )
    if meta is None:
        raise ConfigError(
            "no document with `project:`; expected a meta section such as `project: myproject` and `configVersion: 1`",
            file=file,
        )
    cleanup = meta.cleanup or _Cleanup()
    policies = parse_keep_policies(cleanup.keepPolicies, file=file, document=meta_document)
    return WerfConfig(
        path=file,
        project=meta.project,
        images=tuple(images),
        keep_policies=tuple(policies),
        keep_policies_are_default=not cleanup.keepPolicies,
        disable_kubernetes_based_policy=cleanup.disableKubernetesBasedPolicy,
        allow_fetch_origin_branches_and_tags=(meta.gitWorktree or _GitWorktree()).allowFetchOriginBranchesAndTags,
        template_env=rendered.env_names,
    )


def _check_meta_keys(parsed: ParsedDocument, rendered: RenderedConfig) -> None:
    """werf refuses keys it does not know in the meta section and its sub-sections."""
    data = parsed.data
    number = parsed.document.number
    for key in unknown_keys(data, META_KEYS):
        raise ConfigError(
            f"unknown key at {rendered.where(parsed.line_of(key))}; the meta section accepts " + ", ".join(META_KEYS),
            file=rendered.file,
            document=number,
            path=key,
        )
    for section, allowed in META_SECTION_KEYS.items():
        value = data.get(section)
        if isinstance(value, dict):
            for key in unknown_keys(value, allowed):
                raise ConfigError(
                    f"unknown key in the {section} section (at {rendered.where(parsed.line_of(section))}); "
                    f"it accepts {', '.join(allowed)}",
                    file=rendered.file,
                    document=number,
                    path=f"{section}.{key}",
                )


def validate_image_name(
    name: str | None, *, file: str | None = None, document: int | None = None, path: str | None = "image"
) -> str:
    """Return the internal image name ("" for nameless); refuse names werf cannot tag."""
    if name is None or name == NAMELESS_SHOWN:
        return NAMELESS
    if isinstance(name, str) and NO_VALUE in name:
        raise ConfigError(
            f"image name {name!r} comes from a template reading a missing key",
            file=file,
            document=document,
            path=path,
            hint=NO_VALUE_HINT,
        )
    if not isinstance(name, str):
        raise ConfigError(f"expected an image name, ~ or a list of names, got {name!r}", file=file, document=document, path=path)
    if name != name.lower():
        raise InvalidImageName(
            f"invalid image name {name!r}: image names must be lower case (try {name.lower()!r})",
            file=file,
            document=document,
            path=path,
        )
    return name


def _image_names(value: Any, *, file: str, document: int) -> list[str]:
    if isinstance(value, list):
        if not value:
            raise ConfigError("empty image list; expected at least one name", file=file, document=document, path="image")
        return [
            validate_image_name(item, file=file, document=document, path=f"image[{index}]") for index, item in enumerate(value)
        ]
    return [validate_image_name(value, file=file, document=document)]
