"""Keep policies of werf.yaml's ``cleanup.keepPolicies`` (SPEC §2) and their validation errors."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.durations import format_go_duration, parse_go_duration
from schemas.errors import ConfigError
from schemas.vocab import RefKind
from schemas.werf_keys import nearest

# --- keep policies --------------------------------------------------------------------------


class Operator(StrEnum):
    """How ``last`` and ``in`` combine when both are given."""

    AND = "And"
    OR = "Or"


class Limit(BaseModel):
    """``references.limit`` or ``imagesPerReference``: ``last``, ``in`` and ``operator``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    last: StrictInt | None = Field(None, ge=-1, description="Keep the newest N (0: none; -1 or absent: no count limit).")
    in_: timedelta | None = Field(None, alias="in", description="Keep what is dated within this Go duration before now.")
    operator: Operator = Field(Operator.AND, description="And: both conditions; Or: either. Only used when both are given.")

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
        regex = _compile_pattern(self.pattern)
        assert regex is not None  # exactly one of branch/tag is set
        self._regex = regex
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
            file=file,
            document=document,
            path=path,
        )
    result = []
    for index, raw in enumerate(policies):
        try:
            result.append(KeepPolicy.model_validate(raw))
        except ValidationError as exc:
            raise config_error_from(exc, file=file, document=document, prefix=f"{path}[{index}]") from None
    return result


def default_keep_policies() -> list[KeepPolicy]:
    """The keep policies werf applies when ``cleanup.keepPolicies`` is empty (SPEC §2)."""
    return [KeepPolicy.model_validate(raw) for raw in DEFAULT_KEEP_POLICIES]


#: every key of a keep policy, for "did you mean"
_POLICY_KEYS = ("references", "imagesPerReference", "branch", "tag", "limit", "last", "in", "operator")


def config_error_from(exc: ValidationError, *, file: str | None, document: int | None, prefix: str = "") -> ConfigError:
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
        guess = nearest(str(error["loc"][-1]), list(_POLICY_KEYS))
        message = "unknown key" + (f" (did you mean {guess}?)" if guess else "")
        message += "; check its spelling against the werf.yaml cleanup reference"
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
