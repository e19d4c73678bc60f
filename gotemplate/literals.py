"""Go literals in templates: quoted strings, character constants and numbers."""

from __future__ import annotations

import re

from gotemplate.nodes import NumberNode

_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


def unquote(quoted: str) -> str:
    """``strconv.Unquote`` of a "..." or `...` literal; raises ValueError."""
    if quoted.startswith("`"):
        return quoted[1:-1].replace("\r", "")
    return _unescape(quoted[1:-1], '"')


def _unescape(body: str, quote: str) -> str:
    out: list[str] = []
    pending: bytearray = bytearray()

    def flush() -> None:
        if pending:
            out.append(pending.decode("utf-8", "surrogateescape"))
            pending.clear()

    i = 0
    while i < len(body):
        char = body[i]
        if char == quote:
            raise ValueError("invalid syntax")
        if char != "\\":
            flush()
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("invalid syntax")
        esc = body[i + 1]
        if esc in _SIMPLE:
            if esc in "'\"" and esc != quote:
                raise ValueError("invalid syntax")
            flush()
            out.append(_SIMPLE[esc])
            i += 2
        elif esc == "x":
            pending.append(int(_hex(body, i + 2, 2), 16))
            i += 4
        elif esc in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) < 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            pending.append(int(digits, 8))
            i += 4
        elif esc in "uU":
            size = 4 if esc == "u" else 8
            code = int(_hex(body, i + 2, size), 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError("invalid syntax")
            flush()
            out.append(chr(code))
            i += 2 + size
        else:
            raise ValueError("invalid syntax")
    flush()
    return "".join(out)


def _hex(body: str, start: int, size: int) -> str:
    digits = body[start : start + size]
    if len(digits) != size or any(d not in "0123456789abcdefABCDEF" for d in digits):
        raise ValueError("invalid syntax")
    return digits


_OCTAL_LEGACY = re.compile(r"[+-]?0[0-7_]+")


def number(pos: int, text: str, is_char: bool) -> NumberNode:
    """A number node as Go's parser builds it; raises ValueError for what Go rejects."""
    node = NumberNode(pos, text)
    if is_char:
        body = _unescape(text[1:-1], "'")
        if len(body) != 1:
            raise ValueError(f"malformed character constant: {text}")
        code = ord(body)
        if 0xDC80 <= code <= 0xDCFF:
            code -= 0xDC00
        node.is_int = node.is_float = True
        node.int_value, node.float_value, node.ideal = code, float(code), code
        return node
    if text.endswith("i"):
        raise ValueError(f"complex numbers are not supported: {text}")
    value = _parse_int(text)
    if value is not None:
        if value >= 1 << 63 or value < -(1 << 63):
            if value < 1 << 64:
                node.is_float = True
                node.float_value = float(value)
                raise ValueError(f"{text} overflows int")
            raise ValueError(f"illegal number syntax: {text!r}")
        node.is_int = node.is_float = True
        node.int_value, node.float_value = value, float(value)
        node.ideal = value
        return node
    try:
        cleaned = text.replace("_", "")
        if cleaned.lstrip("+-").lower().startswith("0x"):
            sign = -1.0 if cleaned.startswith("-") else 1.0
            fvalue = sign * float.fromhex(cleaned.lstrip("+-"))
        else:
            fvalue = float(cleaned)
    except ValueError:
        raise ValueError(f"illegal number syntax: {text!r}") from None
    if not any(c in text for c in ".eEpP"):
        raise ValueError(f"integer overflow: {text!r}")
    node.is_float = True
    node.float_value = fvalue
    node.ideal = fvalue
    if fvalue == fvalue and abs(fvalue) < 2**63 and float(int(fvalue)) == fvalue:
        node.is_int = True
        node.int_value = int(fvalue)
    return node


def _parse_int(text: str) -> int | None:
    cleaned = text
    if "_" in cleaned:
        if "__" in cleaned or cleaned.endswith("_"):
            return None
    try:
        if _OCTAL_LEGACY.fullmatch(cleaned) and cleaned.lstrip("+-") != "0":
            sign = -1 if cleaned.startswith("-") else 1
            return sign * int(cleaned.lstrip("+-").replace("_", ""), 8)
        return int(cleaned, 0)
    except ValueError:
        return None
