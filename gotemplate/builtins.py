"""text/template's predefined functions: and or not len index slice print printf println eq ne lt
le gt ge html js urlquery call."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

from gotemplate.errors import ExecError
from gotemplate.funcs import Func, FuncTable, table
from gotemplate.gofmt import sprint, sprintf, sprintln
from gotemplate.values import (
    ANY,
    MISSING,
    STRING,
    VALUE,
    AnyMap,
    go_type,
    is_int,
    truth,
)


def _len(item: Any) -> int:
    if item is None or item is MISSING:
        raise ExecError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogateescape"))
    if isinstance(item, (list, dict, bytes)):
        return len(item)
    raise ExecError(f"len of type {go_type(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if index is None or index is MISSING:
        raise ExecError("cannot index slice/array with nil")
    if not is_int(index):
        raise ExecError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise ExecError(f"index out of range: {index}")
    return int(index)


def _index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise ExecError("index of untyped nil")
    for index in indexes:
        if item is None or item is MISSING:
            raise ExecError("index of nil pointer")
        if isinstance(item, (list, str, bytes)):
            data = item.encode("utf-8", "surrogateescape") if isinstance(item, str) else item
            position = _index_arg(index, len(data))
            if position >= len(data):
                raise ExecError(f"reflect: slice index out of range: {position}")
            item = data[position]
        elif isinstance(item, dict):
            if index is None or index is MISSING:
                key: Any = None if isinstance(item, AnyMap) else ""
            elif isinstance(item, AnyMap) or isinstance(index, str):
                key = index
            else:
                raise ExecError(f"value has type {go_type(index)}; should be string")
            item = item.get(key)
        else:
            raise ExecError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise ExecError("slice of untyped nil")
    if len(indexes) > 3:
        raise ExecError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise ExecError("cannot 3-index slice a string")
        data: Any = item.encode("utf-8", "surrogateescape")
    elif isinstance(item, list):
        data = item
    else:
        raise ExecError(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(data)]
    for i, index in enumerate(indexes):
        value = _index_arg(index, len(data))
        if i < 2:
            bounds[i] = value
    if bounds[0] > bounds[1]:
        raise ExecError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > _index_arg(indexes[2], len(data)):
        raise ExecError(f"invalid slice index: {bounds[1]} > {indexes[2]}")
    part = data[bounds[0] : bounds[1]]
    if isinstance(item, str):
        return part.decode("utf-8", "surrogateescape")
    return type(item)(part)


_BOOL, _INT, _FLOAT, _STRING = "bool", "int", "float", "string"


def _basic_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return _BOOL
    if is_int(value):
        return _INT
    if isinstance(value, float):
        return _FLOAT
    if isinstance(value, str):
        return _STRING
    return None


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise ExecError("missing argument for comparison")
    k1 = _basic_kind(first)
    first_nil = first is None or first is MISSING
    for other in others:
        k2 = _basic_kind(other)
        other_nil = other is None or other is MISSING
        if k1 != k2:
            if not first_nil and not other_nil:
                raise ExecError("incompatible types for comparison")
            continue
        if k1 is not None:
            if first == other:
                return True
            continue
        if first_nil or other_nil:
            if first_nil == other_nil:
                return True
            continue
        if go_type(first) != go_type(other):
            raise ExecError(f"non-comparable types {go_type(first)}, {go_type(other)}")
        if isinstance(first, (list, dict)):
            raise ExecError(f"non-comparable type {go_type(other)}")
        if first == other:
            return True
    return False


def _lt(first: Any, second: Any) -> bool:
    k1, k2 = _basic_kind(first), _basic_kind(second)
    if k1 is None or k2 is None:
        raise ExecError("invalid type for comparison")
    if k1 != k2:
        raise ExecError("incompatible types for comparison")
    if k1 == _BOOL:
        raise ExecError("invalid type for comparison")
    if k1 == _STRING:
        return bool(first.encode("utf-8", "surrogateescape") < second.encode("utf-8", "surrogateescape"))
    return bool(first < second)


def _le(first: Any, second: Any) -> bool:
    return _lt(first, second) or _eq(first, second)


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint([None if a is MISSING else a for a in args])


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}


def _html(*args: Any) -> str:
    return "".join(_HTML.get(c, c) for c in _eval_args(args))


def _js(*args: Any) -> str:
    out = []
    for char in _eval_args(args):
        if char in "\\'\"":
            out.append("\\" + char)
        elif char in "<>&=" or ord(char) < 0x20 or (ord(char) >= 0x80 and not char.isprintable()):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return quote_plus(_eval_args(args).encode("utf-8", "surrogateescape"), safe="")


def _call(fn: Any, *args: Any) -> Any:
    raise ExecError(f"non-function of type {go_type(fn)}" if fn is not None else "call of nil")


def _not(value: Any) -> bool:
    return not truth(value)


BUILTINS: FuncTable = table(
    Func("and", (VALUE,), lambda *a: a[-1], variadic=VALUE),
    Func("or", (VALUE,), lambda *a: a[-1], variadic=VALUE),
    Func("not", (VALUE,), _not),
    Func("len", (VALUE,), _len),
    Func("index", (VALUE,), _index, variadic=VALUE),
    Func("slice", (VALUE,), _slice, variadic=VALUE),
    Func("print", (), lambda *a: sprint(list(a)), variadic=ANY),
    Func("printf", (STRING,), lambda f, *a: sprintf(f, list(a)), variadic=ANY),
    Func("println", (), lambda *a: sprintln(list(a)), variadic=ANY),
    Func("eq", (VALUE,), _eq, variadic=VALUE),
    Func("ne", (VALUE, VALUE), lambda a, b: not _eq(a, b)),
    Func("lt", (VALUE, VALUE), _lt),
    Func("le", (VALUE, VALUE), _le),
    Func("gt", (VALUE, VALUE), lambda a, b: not _le(a, b)),
    Func("ge", (VALUE, VALUE), lambda a, b: not _lt(a, b)),
    Func("html", (), _html, variadic=ANY),
    Func("js", (), _js, variadic=ANY),
    Func("urlquery", (), _urlquery, variadic=ANY),
    Func("call", (VALUE,), _call, variadic=VALUE),
)
