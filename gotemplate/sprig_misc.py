"""Sprig's defaults, math, encoding, regular expression, type and path functions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import posixpath
import zlib
from typing import Any

from gotemplate import gojson
from gotemplate.convert import strval, to_float64, to_int, to_int64
from gotemplate.errors import ExecError
from gotemplate.funcs import Func, FuncTable, alias, table
from gotemplate.glob import go_clean
from gotemplate.gofmt import format_value
from gotemplate.values import (
    ANY,
    BOOL,
    INT,
    STRING,
    Int64,
    IntList,
    empty,
    go_kind,
    go_type,
)

# --- defaults -----------------------------------------------------------------------------------


def _default(fallback: Any, *given: Any) -> Any:
    if not given or empty(given[0]):
        return fallback
    return given[0]


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if not empty(v)), None)


def _from_json(text: str) -> Any:
    try:
        return gojson.decode(text)
    except ValueError:
        return None


def _must_from_json(text: str) -> Any:
    try:
        return gojson.decode(text)
    except ValueError as exc:
        raise ExecError(str(exc)) from None


def _to_json(value: Any, indent: str = "", escape_html: bool = True) -> str:
    try:
        return gojson.encode(value, escape_html=escape_html, indent=indent)
    except ExecError:
        return ""


def _must_to_json(value: Any, indent: str = "", escape_html: bool = True) -> str:
    return gojson.encode(value, escape_html=escape_html, indent=indent)


def _fail(message: str) -> str:
    raise ExecError(message)


# --- math -----------------------------------------------------------------------------------------


def _wrap64(value: int) -> Int64:
    value &= (1 << 64) - 1
    return Int64(value - (1 << 64) if value >= 1 << 63 else value)


def _div(a: Any, b: Any) -> Int64:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise ExecError("runtime error: integer divide by zero")
    quotient = abs(x) // abs(y)
    return _wrap64(quotient if (x >= 0) == (y >= 0) else -quotient)


def _mod(a: Any, b: Any) -> Int64:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise ExecError("runtime error: integer divide by zero")
    remainder = abs(x) % abs(y)
    return Int64(remainder if x >= 0 else -remainder)


def _mul(a: Any, *rest: Any) -> Int64:
    product = int(to_int64(a))
    for value in rest:
        product = int(_wrap64(product * to_int64(value)))
    return Int64(product)


def _round(value: Any, places: int, *round_on: float) -> float:
    threshold = round_on[0] if round_on else 0.5
    number = to_float64(value)
    power = math.pow(10, float(places))
    digit = power * number
    fraction = math.modf(digit)[0]
    rounded = math.ceil(digit) if fraction >= threshold else math.floor(digit)
    return rounded / power


def _until_step(start: int, stop: int, step: int) -> IntList:
    if stop < start:
        return IntList(range(start, stop, step)) if step < 0 else IntList()
    return IntList(range(start, stop, step)) if step > 0 else IntList()


def _seq(*params: int) -> str:
    if len(params) == 1:
        start, end = 1, params[0]
        inc = -1 if end < start else 1
        values = _until_step(start, end + inc, inc)
    elif len(params) == 2:
        start, end = params
        step = -1 if end < start else 1
        values = _until_step(start, end + step, step)
    elif len(params) == 3:
        start, step, end = params
        inc = 1
        if end < start:
            inc = -1
            if step > 0:
                return ""
        values = _until_step(start, end + inc, step)
    else:
        return ""
    return " ".join(str(v) for v in values)


def _atoi(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isascii() or not body.isdigit():
        return 0
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else 0


# --- encoding ---------------------------------------------------------------------------------------


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _corrupt_at(data: bytes, alphabet: bytes, quantum: int) -> int:
    """Where Go's decoder reports corrupt input: the first byte outside the alphabet, else the padding."""
    for index, byte in enumerate(data):
        if byte not in alphabet and byte != ord("="):
            return index
    stripped = data.rstrip(b"=")
    return len(stripped) - len(stripped) % quantum if len(stripped) % quantum else len(stripped)


def _b64dec(text: str) -> str:
    data = _bytes(text)
    try:
        return base64.b64decode(data, validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return f"illegal base64 data at input byte {_corrupt_at(data, alphabet, 4)}"


def _b32dec(text: str) -> str:
    data = _bytes(text)
    try:
        return base64.b32decode(data).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return f"illegal base32 data at input byte {_corrupt_at(data, b'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 8)}"


# --- types and paths --------------------------------------------------------------------------------


def _go_ext(path: str) -> str:
    """path.Ext: from the last dot of the last element."""
    last = path.rsplit("/", 1)[-1]
    return last[last.rfind(".") :] if "." in last else ""


def _type_is_like(name: str, value: Any) -> bool:
    t = go_type(value)
    return name == t or "*" + name == t


MISC: FuncTable = table(
    Func("default", (ANY,), _default, variadic=ANY),
    Func("empty", (ANY,), empty),
    Func("coalesce", (), _coalesce, variadic=ANY),
    Func("all", (), lambda *v: all(not empty(x) for x in v), variadic=ANY),
    Func("any", (), lambda *v: any(not empty(x) for x in v), variadic=ANY),
    Func("ternary", (ANY, ANY, BOOL), lambda t, f, c: t if c else f),
    Func("fromJson", (STRING,), _from_json),
    Func("mustFromJson", (STRING,), _must_from_json),
    Func("toJson", (ANY,), _to_json),
    Func("toPrettyJson", (ANY,), lambda v: _to_json(v, indent="  ")),
    Func("toRawJson", (ANY,), lambda v: _to_json(v, escape_html=False)),
    Func("fail", (STRING,), _fail),
    Func("add", (), lambda *v: _wrap64(sum(int(to_int64(x)) for x in v)), variadic=ANY),
    Func("add1", (ANY,), lambda v: _wrap64(to_int64(v) + 1)),
    Func("sub", (ANY, ANY), lambda a, b: _wrap64(to_int64(a) - to_int64(b))),
    Func("div", (ANY, ANY), _div),
    Func("mod", (ANY, ANY), _mod),
    Func("mul", (ANY,), _mul, variadic=ANY),
    Func("max", (ANY,), lambda a, *r: Int64(max([to_int64(a), *(to_int64(x) for x in r)])), variadic=ANY),
    Func("biggest", (ANY,), lambda a, *r: Int64(max([to_int64(a), *(to_int64(x) for x in r)])), variadic=ANY),
    Func("min", (ANY,), lambda a, *r: Int64(min([to_int64(a), *(to_int64(x) for x in r)])), variadic=ANY),
    Func("floor", (ANY,), lambda v: float(math.floor(to_float64(v)))),
    Func("ceil", (ANY,), lambda v: float(math.ceil(to_float64(v)))),
    Func("round", (ANY, INT), _round, variadic="float64"),
    Func("int", (ANY,), to_int),
    Func("int64", (ANY,), to_int64),
    Func("float64", (ANY,), to_float64),
    Func("atoi", (STRING,), _atoi),
    Func("seq", (), _seq, variadic=INT),
    Func("until", (INT,), lambda n: _until_step(0, n, -1 if n < 0 else 1)),
    Func("untilStep", (INT, INT, INT), _until_step),
    Func("b64enc", (STRING,), lambda t: base64.b64encode(_bytes(t)).decode()),
    Func("b64dec", (STRING,), _b64dec),
    Func("b32enc", (STRING,), lambda t: base64.b32encode(_bytes(t)).decode()),
    Func("b32dec", (STRING,), _b32dec),
    Func("sha256sum", (STRING,), lambda t: hashlib.sha256(_bytes(t)).hexdigest()),
    Func("sha1sum", (STRING,), lambda t: hashlib.sha1(_bytes(t)).hexdigest()),
    Func("adler32sum", (STRING,), lambda t: str(zlib.adler32(_bytes(t)))),
    Func("typeOf", (ANY,), go_type),
    Func("kindOf", (ANY,), go_kind),
    Func("typeIs", (STRING, ANY), lambda name, v: name == go_type(v)),
    Func("typeIsLike", (STRING, ANY), _type_is_like),
    Func("kindIs", (STRING, ANY), lambda name, v: name == go_kind(v)),
    Func("base", (STRING,), lambda p: posixpath.basename(p.rstrip("/")) or ("/" if p.startswith("/") else ".")),
    Func("dir", (STRING,), lambda p: go_clean(posixpath.dirname(p))),
    Func("clean", (STRING,), go_clean),
    Func("ext", (STRING,), lambda p: _go_ext(p)),
    Func("isAbs", (STRING,), lambda p: p.startswith("/")),
    Func("hello", (), lambda: "Hello!"),
    Func("toString", (ANY,), strval),
    Func("printValue", (ANY,), format_value),
)

MISC.update(
    {
        "mustToJson": Func("mustToJson", (ANY,), _must_to_json),
        "mustToPrettyJson": Func("mustToPrettyJson", (ANY,), lambda v: _must_to_json(v, indent="  ")),
        "mustToRawJson": Func("mustToRawJson", (ANY,), lambda v: _must_to_json(v, escape_html=False)),
    }
)
# filepath.Base & co. are path.Base & co. on Linux
MISC.update(
    {
        f"os{name[0].upper()}{name[1:]}": alias(MISC[name], f"os{name[0].upper()}{name[1:]}")
        for name in ("base", "clean", "dir", "ext", "isAbs")
    }
)
del MISC["printValue"]
