"""Sprig's list and dict functions."""

from __future__ import annotations

import copy
from typing import Any

from gotemplate.convert import strval, to_int
from gotemplate.errors import ExecError
from gotemplate.funcs import Func, FuncTable, alias, table
from gotemplate.values import ANY, DICT, INT, LIST, MISSING, STRING, StrList, empty, go_type, truth


def _seq(value: Any, what: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise ExecError(f"Cannot {what} on type {go_type(value)}")


def _first(value: Any) -> Any:
    items = _seq(value, "find first")
    return items[0] if items else None


def _last(value: Any) -> Any:
    items = _seq(value, "find last")
    return items[-1] if items else None


def _rest(value: Any) -> Any:
    return list(_seq(value, "find rest")[1:])


def _initial(value: Any) -> Any:
    return list(_seq(value, "find initial")[:-1])


def _append(value: Any, item: Any) -> list[Any]:
    return [*_seq(value, "push"), item]


def _prepend(value: Any, item: Any) -> list[Any]:
    return [item, *_seq(value, "prepend")]


def _concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for value in lists:
        if not isinstance(value, list):
            raise ExecError(f"Cannot concat type {go_type(value)} as list")
        out.extend(value)
    return out


def _reverse(value: Any) -> list[Any]:
    return list(reversed(_seq(value, "find reverse")))


def _uniq(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in _seq(value, "find uniq"):
        if not any(_deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _without(value: Any, *omit: Any) -> list[Any]:
    return [item for item in _seq(value, "find without") if not any(_deep_equal(item, o) for o in omit)]


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return any(_deep_equal(item, needle) for item in _seq(haystack, "find has"))


def _compact(value: Any) -> list[Any]:
    return [item for item in _seq(value, "compact") if not empty(item)]


def _slice(value: Any, *indices: Any) -> Any:
    items = _seq(value, "slice")
    start = to_int(indices[0]) if indices else 0
    end = to_int(indices[1]) if len(indices) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise ExecError(f"runtime error: slice bounds out of range [{start}:{end}]")
    return type(items)(items[start:end])


def _chunk(size: int, value: Any) -> list[Any]:
    items = _seq(value, "chunk")
    if size <= 0:
        raise ExecError(f"runtime error: makeslice: len out of range (chunk size {size})")
    return [list(items[index : index + size]) for index in range(0, len(items), size)]


def _deep_equal(a: Any, b: Any) -> bool:
    if go_type(a) != go_type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index in range(0, len(pairs), 2):
        key = strval(pairs[index])
        out[key] = pairs[index + 1] if index + 1 < len(pairs) else ""
    return out


def _get(d: dict[str, Any] | None, key: str) -> Any:
    return d.get(key, "") if d else ""


def _set(d: dict[str, Any] | None, key: str, value: Any) -> dict[str, Any]:
    if d is None:
        raise ExecError("assignment to entry in nil map")
    d[key] = value
    return d


def _unset(d: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if d is not None:
        d.pop(key, None)
    return d if d is not None else {}


def _keys(*dicts: dict[str, Any] | None) -> StrList:
    out = StrList()
    for d in dicts:
        out.extend((d or {}).keys())
    return out


def _pick(d: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    d = d or {}
    return {k: d[k] for k in keys if k in d}


def _omit(d: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in (d or {}).items() if k not in keys}


def _pluck(name: str, *dicts: dict[str, Any] | None) -> list[Any]:
    return [d[name] for d in dicts if d and name in d]


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise ExecError(f"wrong number of args for dig: want at least 3 got {len(args)}")
    source = args[-1]
    if not isinstance(source, dict) or type(source) is not dict:
        raise ExecError(f"interface conversion: interface {{}} is {go_type(source)}, not map[string]interface {{}}")
    keys = []
    for key in args[:-2]:
        if not isinstance(key, str):
            raise ExecError(f"interface conversion: interface {{}} is {go_type(key)}, not string")
        keys.append(key)
    default = args[-2]
    current: Any = source
    for index, key in enumerate(keys):
        if key not in current:
            return default
        current = current[key]
        if index < len(keys) - 1:
            if type(current) is not dict:
                raise ExecError(f"interface conversion: interface {{}} is {go_type(current)}, not map[string]interface {{}}")
    return current


def _merge_into(dst: dict[str, Any], src: dict[str, Any], overwrite: bool) -> None:
    for key, value in src.items():
        present = key in dst
        current = dst.get(key)
        if value is None:
            if overwrite:
                dst[key] = None
            continue
        if isinstance(value, dict) and type(value) is dict and present and type(current) is dict:
            _merge_into(current, value, overwrite)
            continue
        if present and truth(current) and isinstance(value, dict):
            continue
        if overwrite or not present or not truth(current):
            dst[key] = value


def _merge(dst: dict[str, Any] | None, *srcs: dict[str, Any] | None) -> dict[str, Any]:
    if dst is None:
        dst = {}
    for src in srcs:
        if src:
            _merge_into(dst, src, overwrite=False)
    return dst


def _merge_overwrite(dst: dict[str, Any] | None, *srcs: dict[str, Any] | None) -> dict[str, Any]:
    if dst is None:
        dst = {}
    for src in srcs:
        if src:
            _merge_into(dst, src, overwrite=True)
    return dst


def _deep_copy(value: Any) -> Any:
    if value is MISSING or value is None:
        raise ExecError("reflect: call of reflect.Value.Type on zero Value")
    return copy.deepcopy(value)


_FIRST = Func("first", (ANY,), _first)
_PUSH = Func("push", (ANY, ANY), _append)

_COLLECTIONS: FuncTable = table(
    Func("list", (), lambda *v: list(v), variadic=ANY),
    Func("tuple", (), lambda *v: list(v), variadic=ANY),
    _FIRST,
    alias(_FIRST, "mustFirst"),
    Func("last", (ANY,), _last),
    Func("rest", (ANY,), _rest),
    Func("initial", (ANY,), _initial),
    _PUSH,
    alias(_PUSH, "append"),
    alias(_PUSH, "mustPush"),
    alias(_PUSH, "mustAppend"),
    Func("prepend", (ANY, ANY), _prepend),
    Func("concat", (), _concat, variadic=ANY),
    Func("reverse", (ANY,), _reverse),
    Func("uniq", (ANY,), _uniq),
    Func("without", (ANY,), _without, variadic=ANY),
    Func("has", (ANY, ANY), _has),
    Func("compact", (ANY,), _compact),
    Func("slice", (ANY,), _slice, variadic=ANY),
    Func("dict", (), _dict, variadic=ANY),
    Func("get", (DICT, STRING), _get),
    Func("set", (DICT, STRING, ANY), _set),
    Func("unset", (DICT, STRING), _unset),
    Func("hasKey", (DICT, STRING), lambda d, k: k in (d or {})),
    Func("keys", (), _keys, variadic=DICT),
    Func("values", (DICT,), lambda d: list((d or {}).values())),
    Func("pick", (DICT,), _pick, variadic=STRING),
    Func("omit", (DICT,), _omit, variadic=STRING),
    Func("pluck", (STRING,), _pluck, variadic=DICT),
    Func("dig", (), _dig, variadic=ANY),
    Func("merge", (DICT,), _merge, variadic=DICT),
    Func("mergeOverwrite", (DICT,), _merge_overwrite, variadic=DICT),
    Func("deepCopy", (ANY,), _deep_copy),
    Func("deepEqual", (ANY, ANY), _deep_equal),
    Func("chunk", (INT, ANY), _chunk),
)

#: Sprig's must… variants: the same function, returning its error where the plain one panics or
#: swallows it; a template fails either way, so they share the implementation.
_MUST_OF = [
    "chunk",
    "compact",
    "deepCopy",
    "has",
    "initial",
    "last",
    "merge",
    "mergeOverwrite",
    "prepend",
    "rest",
    "reverse",
    "slice",
    "uniq",
    "without",
]

COLLECTIONS: FuncTable = {
    **_COLLECTIONS,
    **{f"must{name[0].upper()}{name[1:]}": alias(_COLLECTIONS[name], f"must{name[0].upper()}{name[1:]}") for name in _MUST_OF},
}

_ = LIST
