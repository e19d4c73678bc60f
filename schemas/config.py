"""The werf.yaml model (SPEC §2): project, image names and the cleanup keep policies.

``load_werf_config(path)`` reads a multi-document werf.yaml; every problem becomes a
``ConfigError`` that names the file, the document, the key path and what was expected.
Durations are Go-style strings (``168h``, ``1h30m``) and become ``datetime.timedelta``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.durations import format_go_duration, parse_go_duration
from schemas.errors import ConfigError, InvalidImageName
from schemas.vocab import RefKind

NAMELESS = ""  #: the nameless image (``image: ~``) internally
NAMELESS_SHOWN = "~"  #: how the nameless image is shown to users and in the audit

# --- keep policies --------------------------------------------------------------------------


class Operator(StrEnum):
    """How ``last`` and ``in`` combine when both are given."""

    AND = "And"
    OR = "Or"


class Limit(BaseModel):
    """``references.limit`` or ``imagesPerReference``: ``last``, ``in`` and ``operator``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    last: StrictInt | None = Field(
        None, ge=-1, description="Keep the newest N (0: none; -1 or absent: no count limit)."
    )
    in_: timedelta | None = Field(
        None, alias="in", description="Keep what is dated within this Go duration before now."
    )
    operator: Operator = Field(
        Operator.AND, description="And: both conditions; Or: either. Only used when both are given."
    )

    @field_validator("in_", mode="before")
    @classmethod
    def _go_duration(cls, value: Any) -> Any:
        if value is None or isinstance(value, timedelta):
            return value
        return parse_go_duration(value)

    @property
    def count(self) -> int | None:
        """The ``last`` count, or None when there is no count limit (absent or -1)."""
        return None if self.last is None or self.last < 0 else self.last

    @property
    def effective_operator(self) -> Operator:
        """The operator that applies: the given one only when both ``last`` and ``in`` are set."""
        if self.count is not None and self.in_ is not None:
            return self.operator
        return Operator.AND

    def describe(self) -> str:
        parts = []
        if self.count is not None:
            parts.append(f"last {self.count}")
        if self.in_ is not None:
            parts.append(f"in {format_go_duration(self.in_)}")
        if len(parts) == 2:
            parts.insert(1, self.operator.value)
        return " ".join(parts) or "unlimited"


def _compile_pattern(value: str | None) -> re.Pattern[str] | None:
    if value is None:
        return None
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        try:
            return re.compile(value[1:-1])
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return re.compile(re.escape(value))


class References(BaseModel):
    """Which git references a policy selects: exactly one of ``branch`` / ``tag``, and a limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    branch: str | None = Field(None, description="Branch name, or /regex/ matched against the whole name.")
    tag: str | None = Field(None, description="Tag name, or /regex/ matched against the whole name.")
    limit: Limit | None = Field(None, description="Which of the matching references to scan (absent: all).")

    _regex: re.Pattern[str] = PrivateAttr()

    @field_validator("branch", "tag")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("empty name; expected a name or a /regex/")
        _compile_pattern(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> References:
        if (self.branch is None) == (self.tag is None):
            given = "both branch and tag" if self.branch is not None else "neither branch nor tag"
            raise ValueError(f"{given} given; expected exactly one of branch or tag")
        self._regex = _compile_pattern(self.pattern)
        return self

    @property
    def kind(self) -> RefKind:
        return RefKind.BRANCH if self.branch is not None else RefKind.TAG

    @property
    def pattern(self) -> str:
        return self.branch if self.branch is not None else self.tag  # type: ignore[return-value]

    def matches(self, kind: str, name: str) -> bool:
        """Does the reference ``kind``/``name`` match (regex patterns match the whole name)?"""
        return kind == self.kind and self._regex.fullmatch(name) is not None


class KeepPolicy(BaseModel):
    """One entry of ``cleanup.keepPolicies``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    references: References = Field(description="The git references this policy selects.")
    images_per_reference: Limit | None = Field(
        None, alias="imagesPerReference", description="How many images to keep per reference (absent: all)."
    )

    def describe(self) -> str:
        text = f"{self.references.kind.value} {self.references.pattern}"
        if self.references.limit is not None:
            text += f" (limit {self.references.limit.describe()})"
        if self.images_per_reference is not None:
            text += f", imagesPerReference {self.images_per_reference.describe()}"
        return text


DEFAULT_KEEP_POLICIES: list[dict[str, Any]] = [
    {"references": {"tag": "/.*/", "limit": {"last": 10}}},
    {
        "references": {"branch": "/.*/", "limit": {"last": 10, "in": "168h", "operator": "And"}},
        "imagesPerReference": {"last": 2, "in": "168h", "operator": "And"},
    },
    {
        "references": {"branch": "/^(main|master|staging|production)$/"},
        "imagesPerReference": {"last": 10},
    },
]


def parse_keep_policies(
    policies: list[dict[str, Any]] | None,
    *,
    file: str | None = None,
    document: int | None = None,
    path: str = "cleanup.keepPolicies",
) -> list[KeepPolicy]:
    """Validate raw keepPolicies entries; an empty or missing list gives the default set."""
    if not policies:
        return default_keep_policies()
    if not isinstance(policies, list):
        raise ConfigError(
            f"expected a list of keep policies, got {type(policies).__name__}",
            file=file, document=document, path=path,
        )
    result = []
    for index, raw in enumerate(policies):
        try:
            result.append(KeepPolicy.model_validate(raw))
        except ValidationError as exc:
            raise _config_error(exc, file=file, document=document, prefix=f"{path}[{index}]") from None
    return result


def default_keep_policies() -> list[KeepPolicy]:
    """The keep policies werf applies when ``cleanup.keepPolicies`` is empty (SPEC §2)."""
    return [KeepPolicy.model_validate(raw) for raw in DEFAULT_KEEP_POLICIES]


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
        return value


def load_werf_config(path: str | Path) -> WerfConfig:
    """Read and validate a werf.yaml (SPEC §2). Raises ConfigError / InvalidImageName."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=file, hint="Pass the werf.yaml with --config PATH.") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a werf.yaml file", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=file) from None
    return parse_werf_config(text, file=file)


def parse_werf_config(text: str, *, file: str = "werf.yaml") -> WerfConfig:
    """Validate werf.yaml ``text``; ``file`` is used in error messages."""
    if "{{" in text:
        line = text[: text.index("{{")].count("\n") + 1
        raise ConfigError(
            f"line {line} contains a Go template marker '{{{{': stagesweep reads plain YAML, render it first",
            file=file,
            hint="Run `werf config render > werf.rendered.yaml` and pass that file with --config.",
        )
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML{where}: {problem}", file=file) from None

    meta: _Meta | None = None
    meta_document = None
    images: list[str] = []
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ConfigError(
                f"expected a mapping (key: value), got {type(document).__name__}", file=file, document=number
            )
        if "project" in document and meta is None:
            try:
                meta = _Meta.model_validate(document)
            except ValidationError as exc:
                raise _config_error(exc, file=file, document=number) from None
            meta_document = number
        if "image" in document:
            for name in _image_names(document["image"], file=file, document=number):
                if name in images:
                    raise ConfigError(
                        f"image {name or NAMELESS_SHOWN!r} is declared twice; image names must be unique",
                        file=file, document=number, path="image",
                    )
                images.append(name)
    if meta is None:
        raise ConfigError(
            "no document with `project:`; expected a meta section such as `project: myproject` "
            "and `configVersion: 1`",
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
    )


def validate_image_name(name: str | None, *, file: str | None = None, document: int | None = None,
                        path: str | None = "image") -> str:
    """Return the internal image name ("" for nameless); refuse names werf cannot tag."""
    if name is None or name == NAMELESS_SHOWN:
        return NAMELESS
    if not isinstance(name, str):
        raise ConfigError(
            f"expected an image name, ~ or a list of names, got {name!r}", file=file, document=document, path=path
        )
    if name != name.lower():
        raise InvalidImageName(
            f"invalid image name {name!r}: image names must be lower case (try {name.lower()!r})",
            file=file, document=document, path=path,
        )
    return name


def _image_names(value: Any, *, file: str, document: int) -> list[str]:
    if isinstance(value, list):
        if not value:
            raise ConfigError(
                "empty image list; expected at least one name", file=file, document=document, path="image"
            )
        return [
            validate_image_name(item, file=file, document=document, path=f"image[{index}]")
            for index, item in enumerate(value)
        ]
    return [validate_image_name(value, file=file, document=document)]


def _config_error(exc: ValidationError, *, file: str | None, document: int | None, prefix: str = "") -> ConfigError:
    """Turn the first pydantic error into a ConfigError naming the key path."""
    errors = exc.errors(include_url=False)
    # A misspelt key also makes its intended key "missing": report the misspelling first.
    error = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    path = prefix
    for part in error["loc"]:
        if part == "in_":
            part = "in"
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key; check its spelling against the werf.yaml cleanup reference"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "enum":
        message = f"got {error['input']!r}; expected one of And, Or"
    elif "input" in error and not isinstance(error["input"], dict) and error["type"] != "value_error":
        message += f" (got {error['input']!r})"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''} in this section)"
    return ConfigError(message, file=file, document=document, path=path or None)
