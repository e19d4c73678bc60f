"""werf's own template functions (werf v1.1 ``pkg/config/parser.go``): env, required, include, tpl,
fromYaml, the ``.Files`` object, werf v1.2's ``.Commit`` and werf 2.x's toYaml and *_debug
functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import yaml

from gotemplate.errors import ExecError
from gotemplate.funcs import Func, FuncTable, table
from gotemplate.gofmt import format_value
from gotemplate.goyaml import NULL_TAG, GoYamlLoader, Unmarshalable, to_yaml
from gotemplate.values import ANY, MISSING, STRING, AnyMap, GoObject, StrMap


class FileSource(Protocol):
    """The project files ``.Files`` reads; paths are relative to the werf.yaml's directory.

    ``read`` gives None for a missing file (werf v1.1 renders ``.Files.Get`` of it as "");
    ``glob`` maps the matching paths (``/``-separated, relative) to their contents.
    A path the source refuses (one leaving the project) raises ValueError or OSError.
    """

    def read(self, path: str) -> str | None: ...

    def glob(self, pattern: str) -> Mapping[str, str]: ...

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...


@dataclass(frozen=True)
class Commit:
    """werf v1.2's ``.Commit``: the commit the werf.yaml is read at."""

    hash: str
    time: datetime  #: the committer time, with the commit's own UTC offset

    def as_data(self) -> dict[str, Any]:
        """``.Commit.Hash``, ``.Commit.Date.Human`` (Go's time.String) and ``.Commit.Date.Unix``."""
        offset = self.time.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds()) // 60
        zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        human = f"{self.time:%Y-%m-%d %H:%M:%S} {zone} {zone}"
        return {"Hash": self.hash, "Date": StrMap({"Human": human, "Unix": str(int(self.time.timestamp()))})}


class Files(GoObject):
    """``.Files``: ``Get`` a file's content ("" when missing, as werf v1.1), ``Glob`` a map of paths
    to contents (werf's doublestar patterns), ``Exists`` and ``IsDir`` (werf 2)."""

    type_name = "config.files"

    def __init__(self, source: FileSource | None, *, werf2: bool = False) -> None:
        self._source = source
        self._werf2 = werf2  #: werf 2.x: .Files.Get of a missing file fails; Glob takes what is below

    def method(self, name: str) -> Func | None:
        found = {"Get": self.get, "Glob": self.glob, "Exists": self.exists, "IsDir": self.is_dir}.get(name)
        return Func(f"Files.{name}", (STRING,), found) if found else None

    def _call(self, what: str, call: Callable[[FileSource], Any]) -> Any:
        if self._source is None:
            raise ExecError(f".Files.{what} is not available here")
        try:
            return call(self._source)
        except (OSError, ValueError) as exc:
            raise ExecError(str(exc)) from None

    def get(self, path: str) -> str:
        if self._source is None:
            return ""
        content = self._call("Get", lambda source: source.read(path))
        if content is None and self._werf2:
            raise ExecError(f'{{{{ .Files.Get "{path}" }}}}: the file {path!r} is not in the project (werf 2.x fails on it)')
        return "" if content is None else str(content)

    def glob(self, pattern: str) -> dict[str, Any]:
        if not self._werf2:
            found: Mapping[str, str] = self._call("Glob", lambda source: source.glob(pattern))
            return dict(sorted(found.items()))
        union: dict[str, Any] = {}
        for each in werf2_glob_patterns(pattern):
            union.update(self._glob_one(each))
        return dict(sorted(union.items()))

    def _glob_one(self, pattern: str) -> Mapping[str, str]:
        found: Mapping[str, str] = self._call("Glob", lambda source: source.glob(pattern))
        return found

    def exists(self, path: str) -> bool:
        return bool(self._call("Exists", lambda source: source.exists(path)))

    def is_dir(self, path: str) -> bool:
        return bool(self._call("IsDir", lambda source: source.is_dir(path)))


_GLOB_CHARS = "*?[{\\"


def werf2_glob_patterns(pattern: str) -> list[str]:
    """werf 2.x's ``.Files.Glob`` as patterns of werf v1.1's matcher, whose matches it unites.

    werf 2.x walks from the pattern's literal leading directories and takes a path below them
    that matches the rest of the pattern, or that rest with its trailing ``*``-only components
    cut, or that cut rest followed by ``/**/*`` — so ``images/*`` also takes ``images/a/b``, and a
    literal directory takes every file below it."""
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    literal = 0
    while literal < len(parts) and not any(char in parts[literal] for char in _GLOB_CHARS):
        literal += 1
    prefix, rest = parts[:literal], parts[literal:]
    trimmed = list(rest)
    while trimmed and not trimmed[-1].strip("*"):
        trimmed.pop()
    found: list[str] = []
    for candidate in (prefix + rest, prefix + trimmed, [*prefix, *trimmed, "**", "*"]):
        text = "/".join(candidate)
        if text and text not in found:
            found.append(text)
    return found


def _env(state: Any, name: Any, *default: str) -> str:
    if len(default) > 1:
        raise ExecError("more than 1 optional argument prohibited")
    key = format_value(None if name is MISSING else name)
    value = state.host.lookup_env(key)
    if default and not value:
        return default[0]
    if value is None and state.host.env_must_be_set:
        raise ExecError(
            f"the environment variable {key!r} must be set or default must be provided (werf 2: set it, give a "
            f'default with env "{key}" "default", or set WERF_LOOSE_GITERMINISM=1 as werf allows)'
        )
    return value if value is not None else ""


def _required(message: str, value: Any) -> Any:
    if value is None or value is MISSING or value == "":
        raise ExecError(message)
    return value


def _include(state: Any, name: str, data: Any) -> str:
    tree = state.templates.get(name)
    if tree is None:
        raise ExecError(f"template {name!r} not defined")
    return str(state.nested(tree, MISSING if data is None else data))


def _tpl(state: Any, text: str, data: Any) -> str:
    return str(state.host.render_tpl(state, text, MISSING if data is None else data))


def _go_yaml(value: Any, top: bool = False) -> Any:
    if isinstance(value, dict):
        items = {k if not isinstance(k, (dict, list)) else str(k): _go_yaml(v) for k, v in value.items()}
        return items if top else AnyMap(items)
    if isinstance(value, list):
        return [_go_yaml(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return value


def _from_yaml(text: str) -> dict[str, Any]:
    """werf's fromYaml: yaml.v2 into map[string]interface{} (top-level keys keep their text)."""
    loader = GoYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise ExecError(
                f"yaml: unmarshal errors: cannot unmarshal {node.tag.rsplit(':', 1)[-1]} into map[string]interface {{}}"
            )
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = "" if key_node.tag == NULL_TAG else key_node.value  # a null key is Go's zero string
            else:
                key = str(loader.construct_object(key_node))
            result[key] = _go_yaml(loader.construct_object(value_node, deep=True))
        return result
    except yaml.YAMLError as exc:
        raise ExecError(f"yaml: {exc}") from None
    finally:
        loader.dispose()


def _to_yaml(value: Any) -> str:
    try:
        return to_yaml(value)
    except (Unmarshalable, yaml.YAMLError):
        return ""  # werf's toYaml prints nothing when yaml.Marshal fails


def _nothing(*_: Any) -> str:
    return ""


WERF: FuncTable = table(
    Func("env", (ANY,), _env, variadic=STRING, needs_state=True),
    Func("required", (STRING, ANY), _required),
    Func("include", (STRING, ANY), _include, needs_state=True),
    Func("tpl", (STRING, ANY), _tpl, needs_state=True),
    Func("fromYaml", (STRING,), _from_yaml),
)

#: what werf 2.x adds: toYaml (yaml.Marshal, the final newline cut) and the debugging functions,
#: which without werf's --debug-templates behave as tpl / include or print nothing
WERF2: FuncTable = table(
    Func("toYaml", (ANY,), _to_yaml),
    Func("tpl_debug", (STRING, ANY), _tpl, needs_state=True),
    Func("include_debug", (STRING, ANY), _include, needs_state=True),
    Func("printf_debug", (STRING,), _nothing, variadic=ANY),
    Func("dump_debug", (ANY,), _nothing),
)
