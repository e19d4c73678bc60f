"""The werf.yaml model (SPEC §2): project, image names and the cleanup keep policies.

``load_werf_config(path, environ)`` reads werf.yaml the way werf does: renders it as a Go template
(``gotemplate``; :mod:`schemas.werf_rendering`), splits the result on ``---`` lines, reads each
section strictly and validates it. Every problem becomes a ``ConfigError`` that names the file, the document, the key
path and the line. Durations are Go-style strings (``168h``, ``1h30m``) and become ``timedelta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator

from gotemplate import Commit
from schemas.errors import ConfigError, InvalidImageName
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
    DocumentProblem,
    ParsedDocument,
    parse_document,
    split_documents,
)
from schemas.werf_keys import META, Key, nearest
from schemas.werf_rendering import RenderedConfig, WerfFiles, render_werf_text

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
    ignored_keys: tuple[str, ...] = Field(
        (), description="Keys of the meta section that werf accepts and cleanup does not use (e.g. build, deploy)."
    )
    disable_git_history_based_policy: bool = Field(
        False, description="cleanup.disableGitHistoryBasedPolicy (werf v1.2): no image is kept by the keep policies."
    )
    keep_images_built_within_last_n_hours: int | None = Field(
        None, description="cleanup.keepImagesBuiltWithinLastNHours (werf v1.2), when the werf.yaml gives it."
    )
    disable_built_within_last_n_hours_policy: bool = Field(
        False, description="cleanup.disableBuiltWithinLastNHoursPolicy (werf v1.2): no grace window."
    )
    cleanup_disabled: bool = Field(False, description="cleanup.disable (werf 2): cleanup deletes nothing.")


class _Cleanup(BaseModel):
    model_config = ConfigDict(extra="ignore")
    keepPolicies: list[Any] | None = None
    disableKubernetesBasedPolicy: StrictBool = False
    disableGitHistoryBasedPolicy: StrictBool = False
    disableBuiltWithinLastNHoursPolicy: StrictBool = False
    keepImagesBuiltWithinLastNHours: StrictInt | None = Field(None, ge=0)
    disable: StrictBool = False


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


# --- reading werf.yaml: render (schemas.werf_rendering) → split → parse → validate ------------


def load_werf_config(path: str | Path, environ: Mapping[str, str] | None = None, *, files: WerfFiles | None = None) -> WerfConfig:
    """Read, render and validate a werf.yaml (SPEC §2). Raises ConfigError / InvalidImageName.

    ``environ`` is what the template's ``env`` sees (None: an empty environment); ``files`` gives
    ``.werf/`` partials and ``.Files`` (see ``adapters.werf_files.load_werf_config``).
    """
    file = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=file, hint="Pass the werf.yaml with --config PATH.") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a werf.yaml file", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=file) from None
    return parse_werf_config(text, file=file, environ=environ, files=files)


def parse_werf_config(
    text: str,
    *,
    file: str = "werf.yaml",
    environ: Mapping[str, str] | None = None,
    files: WerfFiles | None = None,
    werf_env: str | None = None,
    commit: Commit | None = None,
    werf2: bool = False,
) -> WerfConfig:
    """Render and validate werf.yaml ``text``; ``file`` is used in error messages. ``werf2``: read
    it as werf 2.x does (a ``--repo`` project; see :func:`validate_rendered_config`)."""
    rendered = render_werf_text(text, file=file, environ=environ, files=files, werf_env=werf_env, commit=commit, werf2=werf2)
    return validate_rendered_config(rendered, werf2=werf2)


def validate_rendered_config(rendered: RenderedConfig, *, werf2: bool = False) -> WerfConfig:
    """Split a rendered werf.yaml into sections, read each strictly and validate what stagesweep uses.

    ``werf2``: the project is read for a werf 2.x repository (``--repo``), which holds image names
    with upper-case letters; werf v1.1's storages cannot, so they are refused otherwise."""
    file = rendered.file
    meta: _Meta | None = None
    meta_document: int | None = None
    images: list[str] = []
    ignored: list[str] = []
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
            ignored = _check_meta_keys(parsed, rendered)
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
                for name in _image_names(data["image"], file=file, document=number, werf2=werf2):
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
        ignored_keys=tuple(ignored),
        disable_git_history_based_policy=cleanup.disableGitHistoryBasedPolicy,
        keep_images_built_within_last_n_hours=cleanup.keepImagesBuiltWithinLastNHours,
        disable_built_within_last_n_hours_policy=cleanup.disableBuiltWithinLastNHoursPolicy,
        cleanup_disabled=cleanup.disable,
    )


def _check_meta_keys(parsed: ParsedDocument, rendered: RenderedConfig) -> list[str]:
    """werf refuses keys it does not know in the meta section and its sub-sections; the keys werf
    knows and cleanup does not use are returned (outermost first)."""
    ignored: list[str] = []
    _check_mapping(parsed.data, META, "", parsed, rendered, ignored)
    return ignored


def _check_mapping(
    mapping: dict[Any, Any],
    allowed: dict[str, Key],
    prefix: str,
    parsed: ParsedDocument,
    rendered: RenderedConfig,
    ignored: list[str],
) -> None:
    section = prefix.split(".")[0]
    where = rendered.where(parsed.line_of(section)) if prefix else ""
    for raw_key, value in mapping.items():
        key = str(raw_key)
        path = f"{prefix}.{key}" if prefix else key
        spec = allowed.get(key)
        if spec is None or spec.refused:
            if spec is not None:
                message = f"not supported: {spec.refused}"
            else:
                what = f"the {prefix} section" if prefix else "the meta section"
                at = f"in the {prefix} section (at {where})" if prefix else f"at {rendered.where(parsed.line_of(key))}"
                guess = nearest(key, [name for name, known in allowed.items() if not known.refused])
                message = f"unknown key {at}" + (f" (did you mean {guess}?)" if guess else "")
                valid = [name for name, known in allowed.items() if not known.refused]
                message += f"; {what} accepts {', '.join(valid)} (werf v1.1, v1.2 and 2.x)"
            raise ConfigError(message, file=rendered.file, document=parsed.document.number, path=path)
        if not spec.cleanup:
            ignored.append(path)
        if spec.children and isinstance(value, dict):
            _check_mapping(value, spec.children, path, parsed, rendered, [] if not spec.cleanup else ignored)


def validate_image_name(
    name: str | None,
    *,
    file: str | None = None,
    document: int | None = None,
    path: str | None = "image",
    werf2: bool = False,
) -> str:
    """Return the internal image name ("" for nameless); refuse names werf cannot tag (upper-case
    letters only for werf v1.1's storages: werf 2.x's repository holds them)."""
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
    if name != name.lower() and not werf2:
        raise InvalidImageName(
            f"invalid image name {name!r}: image names must be lower case for werf v1.1's storages (try {name.lower()!r}; "
            "werf 2.x's --repo holds them)",
            file=file,
            document=document,
            path=path,
        )
    return name


def _image_names(value: Any, *, file: str, document: int, werf2: bool = False) -> list[str]:
    if isinstance(value, list):
        if not value:
            raise ConfigError("empty image list; expected at least one name", file=file, document=document, path="image")
        return [
            validate_image_name(item, file=file, document=document, path=f"image[{index}]", werf2=werf2)
            for index, item in enumerate(value)
        ]
    return [validate_image_name(value, file=file, document=document, werf2=werf2)]
