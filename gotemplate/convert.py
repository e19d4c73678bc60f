"""Conversions Sprig applies to its arguments (strval, strslice, spf13/cast's ToInt64/ToFloat64)."""

from __future__ import annotations

import re
from typing import Any

from gotemplate.errors import ExecError
from gotemplate.gofmt import format_value
from gotemplate.values import MISSING, Int64, StrList, is_int


def strval(value: Any) -> str:
    """Sprig's strval: strings as they are, everything else as ``%v``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if value is MISSING:
        value = None
    return format_value(value, top=False) if value is None else format_value(value)


def strslice(value: Any) -> StrList:
    """Sprig's strslice: a list's non-nil items as strings; a scalar as a one-item list."""
    if isinstance(value, StrList):
        return value
    if isinstance(value, list):
        return StrList(strval(v) for v in value if v is not None)
    if value is None or value is MISSING:
        return StrList()
    return StrList([strval(value)])


def _trim_zero_decimal(text: str) -> str:
    found_zero = False
    for i in range(len(text), 0, -1):
        char = text[i - 1]
        if char == ".":
            if found_zero:
                return text[: i - 1]
        elif char == "0":
            found_zero = True
        else:
            return text
    return text


_GO_INT = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO]?[0-7_]*|[1-9][0-9_]*)")


def parse_go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``; None when it fails."""
    if not _GO_INT.fullmatch(text):
        return None
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if "_" in body and body[:2].lower() not in ("0x", "0b", "0o") and not body.startswith("0"):
        return None
    try:
        if len(body) > 1 and body[0] == "0" and body[1] in "01234567_":
            value = int(body[1:].replace("_", "") or "0", 8)
        else:
            value = int(body, 0)
    except ValueError:
        return None
    value *= sign
    if not -(1 << 63) <= value < (1 << 63):
        return None
    return value


def to_int64(value: Any) -> Int64:
    """spf13/cast ToInt64 (errors give 0)."""
    if isinstance(value, bool):
        return Int64(1 if value else 0)
    if is_int(value):
        return Int64(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return Int64(-(1 << 63))
        return Int64(int(value))
    if isinstance(value, str):
        parsed = parse_go_int(_trim_zero_decimal(value))
        return Int64(parsed if parsed is not None else 0)
    return Int64(0)


def to_int(value: Any) -> int:
    return int(to_int64(value))


def to_float64(value: Any) -> float:
    """spf13/cast ToFloat64 (errors give 0)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if is_int(value) or isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        try:
            text = value.replace("_", "x") if "_" in value else value
            if text.strip() != text or text.lower() in ("infinity", "+infinity", "-infinity", "nan", "inf", "+inf", "-inf"):
                return float(text.lower().replace("infinity", "inf")) if text.strip() == text else 0.0
            return float(text)
        except ValueError:
            return 0.0
    return 0.0


def require_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise ExecError(f"Cannot {what} on type {_type_name(value)}")


def _type_name(value: Any) -> str:
    from gotemplate.values import go_type

    return go_type(value)
