"""encoding/json as Sprig's toJson/fromJson see it: sorted keys, Go float and string escaping."""

from __future__ import annotations

import json
import math
from typing import Any

from gotemplate.errors import ExecError
from gotemplate.gofmt import format_float
from gotemplate.values import MISSING, AnyMap, GoObject, is_int


def _float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise ExecError(f"json: unsupported value: {format_float(value)}")
    absolute = abs(value)
    if absolute != 0 and (absolute < 1e-6 or absolute >= 1e21):
        text = format_float(value, "e", -1)
        if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return format_float(value, "f", -1)


def _string(text: str, escape_html: bool) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or (escape_html and char in "<>&") or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append("\\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def encode(value: Any, escape_html: bool = True, indent: str = "", level: int = 0) -> str:
    """json.Marshal (or MarshalIndent with ``indent``)."""
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_int(value):
        return str(int(value))
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value, escape_html)
    if isinstance(value, bytes):
        import base64

        return '"' + base64.b64encode(value).decode() + '"'
    newline = "\n" + indent * (level + 1) if indent else ""
    close = "\n" + indent * level if indent else ""
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [encode(v, escape_html, indent, level + 1) for v in value]
        return "[" + newline + ("," + newline).join(items) + close + "]"
    if isinstance(value, AnyMap):
        raise ExecError("json: unsupported type: map[interface {}]interface {}")
    if isinstance(value, dict):
        if not value:
            return "{}"
        colon = ": " if indent else ":"
        items = [
            _string(k, escape_html) + colon + encode(value[k], escape_html, indent, level + 1)
            for k in sorted(value, key=lambda k: k.encode("utf-8", "surrogateescape"))
        ]
        return "{" + newline + ("," + newline).join(items) + close + "}"
    if isinstance(value, GoObject):
        return "{}"
    raise ExecError(f"json: unsupported type {type(value).__name__}")


def decode(text: str) -> Any:
    """json.Unmarshal into interface{}: numbers become float64."""
    return json.loads(text, parse_int=float, parse_constant=_reject)


def _reject(name: str) -> Any:
    raise ValueError(f"invalid character {name!r}")
